"""Upscale many files with the app's own pipeline: files, folders and list files in, one result
per input out, resumable (finished results are skipped, nothing half-written is ever left: a
killed run's ``.part`` files are removed by the next), and safe to run twice into one folder at
once (a lock per result: each image is done once).

The work per file is ``Upscaler.upscale`` (what the app's /upscale runs) followed by
``results.encode``, which the app's /upscale also uses for its download, so a result here and the
app's download of the same input are the same bytes.
"""
from __future__ import annotations

import glob
import os
import platform
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm

from ..contract import IMAGE_SUFFIXES
from ..errors import ImageInputError
from ..runtime.job import check_factor, check_key
from ..imaging.results import FORMATS, encode, result_name, write_atomically


class BatchError(ValueError):
    """The batch cannot start: a missing input, an unknown format; the message says which."""


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


@dataclass
class Outcome:
    job: Job
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    megapixels: float = 0.0  # of the result
    error: str = ""
    node: str = ""  # where it ran (the Ray node, or this machine)


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def text(self) -> str:
        mp = sum(o.megapixels for o in self.outcomes if o.status == "done")
        rate = f", {mp / self.seconds:.2f} MP/s" if self.seconds > 0 and mp else ""
        return (f"{self.count('done')} done, {self.count('skipped')} skipped (already there), "
                f"{self.count('failed')} failed in {self.seconds:.1f} s ({mp:.1f} MP of results{rate})")


def _list_file(path: Path) -> list[Path]:
    """Paths in a list file, one per line (blank lines and # comments skipped), relative to the list."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [path.parent / line for line in lines if line and not line.startswith("#")]


def plan(inputs: Iterable[str], out: Path, key: str, factor: float, fmt: str = "png",
         pattern: str | None = None, recursive: bool = True) -> list[Job]:
    """One job per input image. A folder contributes its images (matching ``pattern``, in its
    subfolders too when ``recursive``), mirrored under ``out``; ``@LIST`` reads a list file."""
    if fmt not in FORMATS:
        raise BatchError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    check_out(Path(out))
    jobs: list[Job] = []
    for item in inputs:
        if item.startswith("@"):
            if not Path(item[1:]).is_file():
                raise BatchError(f"{item[1:]}: no such list file")
            entries = [(p, Path()) for p in _list_file(Path(item[1:]))]
        elif Path(item).is_dir():
            folder = Path(item)
            try:
                found = sorted(folder.rglob(pattern or "*") if recursive else folder.glob(pattern or "*"))
            except ValueError as exc:  # a pattern glob cannot read, e.g. "**x"
                raise BatchError(f"--glob {pattern!r} is not a pattern that can be used: {exc}") from exc
            results = Path(out).resolve()
            entries = [(p, p.parent.relative_to(folder)) for p in found
                       if p.is_file() and (pattern or p.suffix.lower() in IMAGE_SUFFIXES)
                       and not p.resolve().is_relative_to(results)]  # results are never read back as inputs
            if pattern and not entries:
                raise BatchError(f"no file in {folder} matches --glob {pattern!r}")
        else:
            entries = [(Path(item), Path())]
        for source, sub in entries:
            if source.exists() and not source.is_file():
                raise BatchError(f"{source} is not a regular file (a FIFO, device or socket); name image files or folders")
            if not source.is_file():
                raise BatchError(f"{source}: no such file or folder")
            jobs.append(Job(source, Path(out) / sub / result_name(source, key, factor, fmt)))
    seen: dict[Path, Path] = {}
    for job in jobs:  # two inputs must not write one result: the second would be "skipped"
        if seen.setdefault(job.target, job.source) != job.source:
            raise BatchError(f"{seen[job.target]} and {job.source} would both write {job.target}; "
                             "rename one or run them separately")
    return jobs


def check_out(out: Path) -> None:
    """--out is a folder this process can write in (made if missing), or a BatchError that says why."""
    if out.exists() and not out.is_dir():
        raise BatchError(f"--out {out} is a file, not a folder: name a folder for the results")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"--out {out} cannot be made ({exc.strerror or exc}): choose a folder you may write to") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise BatchError(f"--out {out} is not writable: choose a folder you may write to")


@contextmanager
def result_lock(target: Path):
    """Whether this process may write ``target``: True while it holds the result's lock file
    (``.NAME.lock`` beside it), False when another run holds it. Where locks are not available
    (not POSIX), always True."""
    try:
        import fcntl
    except ImportError:  # Windows: one run at a time into a folder
        yield True
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.parent / f".{target.name}.lock"
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            lock.unlink(missing_ok=True)  # whoever opens it later checks the result after locking


def remove_stale_parts(target: Path) -> int:
    """The half-written ``.NAME.*.part`` files a killed run left for ``target``; call it holding
    the result's lock (no live run is writing one then). How many were removed."""
    stale = list(target.parent.glob(f".{glob.escape(target.name)}.*.part"))
    for part in stale:
        part.unlink(missing_ok=True)
    return len(stale)


def process(upscaler, job: Job, key: str, factor: float, weights: str, fmt: str,
            progress: Callable[[int, int], None] | None = None, node: str = "") -> Outcome:
    """One job: skipped when its result exists or another run is writing it; a bad input or a
    failed write is an outcome, not a crash."""
    if job.target.exists():
        return Outcome(job, "skipped", node=node)
    try:
        with result_lock(job.target) as mine:
            if not mine or job.target.exists():  # another run writes it, or has just written it
                return Outcome(job, "skipped", node=node)
            remove_stale_parts(job.target)
            return _upscale_job(upscaler, job, key, factor, weights, fmt, progress, node)
    except OSError as exc:  # the result's folder cannot be made or locked: read-only, full, a name too long
        return Outcome(job, "failed", error=f"cannot write {job.target}: {exc.strerror or exc}", node=node)


def _upscale_job(upscaler, job: Job, key: str, factor: float, weights: str, fmt: str, progress, node: str) -> Outcome:
    if not job.source.is_file():  # gone since the run was planned
        return Outcome(job, "failed", error=f"{job.source} no longer exists (moved or deleted during the run)", node=node)
    start = time.perf_counter()
    try:
        result = upscaler.upscale(job.source, key, factor, weights, progress=progress)
        if fmt == "webp" and result.image.mode == "I;16":  # WebP holds 8-bit RGB(A) only: refuse, never a wrong picture
            raise ImageInputError("a 16-bit gray result cannot be written as WebP without losing its depth; "
                                  "use --format png or --format tiff")
        write_atomically(encode(result.image, fmt), job.target)
    except ImageInputError as exc:
        return Outcome(job, "failed", time.perf_counter() - start, error=str(exc), node=node)
    except OSError as exc:  # disk full, no permission
        return Outcome(job, "failed", time.perf_counter() - start, error=f"cannot write {job.target}: {exc}", node=node)
    w, h = result.image.size
    return Outcome(job, "done", time.perf_counter() - start, w * h / 1e6, node=node)


def check_settings(key: str, factor) -> float:
    """The model key and factor, checked once before any file is touched; returns the factor."""
    check_key(key)
    return check_factor(factor)[0]


def run_local(upscaler, jobs: list[Job], key: str, factor: float, weights: str, fmt: str) -> Summary:
    """Every job in this process, with a progress bar over images (and the current image's tiles)."""
    summary, start = Summary(), time.perf_counter()
    with tqdm(total=len(jobs), unit="img", dynamic_ncols=True) as bar:

        def tiles(done: int, total: int) -> None:
            bar.set_postfix_str(f"tiles {done}/{total}")

        try:
            for job in jobs:
                bar.set_description(job.source.name[:30])
                outcome = process(upscaler, job, key, factor, weights, fmt, tiles, node=platform.node())
                summary.outcomes.append(outcome)
                if outcome.status == "failed":
                    bar.write(f"failed: {job.source}: {outcome.error}", file=sys.stderr)
                bar.update(1)
        finally:  # Ctrl-C too: what was finished is counted
            summary.seconds = time.perf_counter() - start
    return summary
