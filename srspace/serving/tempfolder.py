"""The app's upload and result folder, kept within bounds: files live ``lifetime`` seconds at most,
and the folder never stays over ``cap`` bytes for longer than one sweep (oldest files go first).

Gradio writes every upload there (first as a ``tmp…`` file, then moved into a folder of its
hash) and the app writes three files per upscale; an upload that is aborted half-way leaves its
``tmp…`` file behind. Nothing younger than ``grace`` seconds is removed, so a request never
loses the file it is working on; past that, the folder is the app's own (one per port) and
everything in it may go. While the folder is at its cap, new uploads are refused before their
bytes are read (``admit``, called by the app's upload gate): a flood cannot outrun the sweeps.
One client (an address) may upload a quarter of the cap per lifetime, so that one visitor
cannot take the whole folder and leave the others a "try again in a minute".
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ..contract import TEMP_CAP_BYTES, TEMP_LIFETIME_S, TEMP_SWEEP_S, TEMP_GRACE_S, TEMP_CLIENT_SHARE


log = logging.getLogger("srspace")
FOLDER_FULL = ("The server's upload space is full for the moment: try again in a minute. "
               "Files are kept for a short while only, so room comes back by itself.")


@dataclass(frozen=True)
class Refusal:
    """Why an upload may not be written now: the folder is ``full``, or its client has uploaded its
    share; and in how many seconds to try again."""

    full: bool
    retry_s: int


@dataclass(frozen=True)
class Sweep:
    removed: int  # files
    freed: int  # bytes
    left: int  # bytes in the folder after the sweep


@dataclass
class TempFolder:
    folder: Path
    cap: int = TEMP_CAP_BYTES
    lifetime: float = TEMP_LIFETIME_S
    grace: float = TEMP_GRACE_S

    def __post_init__(self):
        self.used = 0  # bytes: the last sweep's count plus the uploads admitted since
        self.client_cap = int(self.cap * TEMP_CLIENT_SHARE)
        self._uploads: dict[str, deque[tuple[float, int]]] = {}  # client -> (when, bytes) within the lifetime
        self._owners: dict[str, str] = {}  # an uploaded file's path -> the client that uploaded it
        self._lock = threading.Lock()

    def own(self, paths, client: str | None) -> None:
        """Note that ``client`` uploaded the files at ``paths``: when the folder fills up, the files of
        the client holding the most go first (``sweep``)."""
        if client is None:
            return
        with self._lock:
            for path in paths:
                self._owners[str(path)] = client

    def admit(self, size: int, client: str | None = None, now: float | None = None) -> Refusal | None:
        """Whether an upload of ``size`` bytes (its Content-Length) from ``client`` (an address;
        None: unknown) may be written: None when it may, and it is counted; else why not."""
        now = time.time() if now is None else now
        with self._lock:
            if self.used + size > self.cap:
                return Refusal(full=True, retry_s=TEMP_SWEEP_S * 6)
            if client is not None:
                recent = self._recent(client, now)
                if sum(b for _, b in recent) + size > self.client_cap:  # a first upload too: the share is the share
                    oldest = recent[0][0] if recent else now
                    return Refusal(full=False, retry_s=max(1, math.ceil(oldest + self.lifetime - now)))
                if size:
                    self._uploads.setdefault(client, deque()).append((now, size))
            self.used += size
            return None

    def _recent(self, client: str, now: float) -> deque[tuple[float, int]]:
        """``client``'s uploads still within the lifetime (older ones are gone from the folder)."""
        recent = self._uploads.get(client, deque())
        while recent and recent[0][0] <= now - self.lifetime:
            recent.popleft()
        if not recent:
            self._uploads.pop(client, None)
        return recent

    @classmethod
    def from_env(cls, folder: Path) -> "TempFolder":
        """The bounds an operator set (SRSPACE_TEMP_CAP_MB, SRSPACE_TEMP_LIFETIME_S), else the defaults."""
        lifetime = float(os.environ.get("SRSPACE_TEMP_LIFETIME_S") or TEMP_LIFETIME_S)
        cap = int(float(os.environ.get("SRSPACE_TEMP_CAP_MB") or TEMP_CAP_BYTES / 2**20) * 2**20)
        return cls(Path(folder), cap, lifetime, min(TEMP_GRACE_S, lifetime))

    def sweep(self, now: float | None = None) -> Sweep:
        """Remove what has outlived ``lifetime``, then, past ``cap``, the oldest files until the folder
        is under it; never a file younger than ``grace``. Uploads are held to a lower mark, a client's
        share below the cap, so that a full folder makes room again within ``grace`` instead of a
        ``lifetime``: past it, the uploads of the client holding the most go first, oldest first.
        Empty folders go too, once as old as ``grace`` (a request makes its folder, then writes into it)."""
        now = time.time() if now is None else now
        files = []
        for root, _, names in os.walk(self.folder):
            for name in names:
                path = Path(root) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:  # gone meanwhile (Gradio's own clean-up, a moved upload)
                    continue
                files.append((stat.st_mtime, stat.st_size, path))
        files.sort()
        with self._lock:
            owners = {str(path): self._owners.get(str(path)) for _, _, path in files}
        total = sum(size for _, size, _ in files)
        removed = freed = 0
        kept = []
        for mtime, size, path in files:  # expired, or past the cap: oldest first
            age = now - mtime
            if age < self.grace or (age < self.lifetime and total - freed <= self.cap):
                kept.append((mtime, size, path))
            elif self._remove(path):
                removed, freed = removed + 1, freed + size
        held: dict[str, int] = {}
        for _, size, path in kept:
            if owners[str(path)] is not None:
                held[owners[str(path)]] = held.get(owners[str(path)], 0) + size
        mark = self.cap - self.client_cap
        while total - freed > mark and held:  # uploads past the lower mark: the heaviest client's first
            heaviest = max(held, key=held.get)
            mine = [f for f in kept if owners[str(f[2])] == heaviest and now - f[0] >= self.grace]
            if not mine:
                del held[heaviest]
                continue
            mtime, size, path = mine[0]
            kept.remove(mine[0])
            held[heaviest] -= size
            if self._remove(path):
                removed, freed = removed + 1, freed + size
        for root, dirs, _ in os.walk(self.folder, topdown=False):
            for name in dirs:
                folder = Path(root) / name
                try:
                    if now - folder.stat().st_mtime >= self.grace:  # a request's new folder, still empty, stays
                        folder.rmdir()  # only when empty
                except OSError:
                    pass
        with self._lock:
            self.used = total - freed
            present = {str(path) for _, _, path in kept}
            self._owners = {p: c for p, c in self._owners.items()  # those still there, or registered since the listing
                            if p in present or (p not in owners and os.path.exists(p))}
            for client in list(self._uploads):  # forget clients whose uploads have all expired
                self._recent(client, now)
        return Sweep(removed, freed, total - freed)

    @staticmethod
    def _remove(path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def start(self, every: float = TEMP_SWEEP_S) -> threading.Thread:
        """Sweep every ``every`` seconds, in a daemon thread, for the life of the process."""
        def run() -> None:
            while True:
                time.sleep(every)
                result = self.sweep()
                if result.removed:
                    log.info(f"temp folder: {result.removed} file(s), {result.freed / 2**20:.1f} MB removed; "
                             f"{result.left / 2**20:.1f} MB left (cap {self.cap / 2**20:.0f} MB)")

        thread = threading.Thread(target=run, name="srspace-temp-sweeper", daemon=True)
        thread.start()
        return thread
