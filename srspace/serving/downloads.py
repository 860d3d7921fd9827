"""Images given as a URL (an MCP tool call's ``image``, an API call's ``{"url": ...}``): fetched
within bounds, to disk, or refused with a message.

Gradio's own download reads the whole body into memory with no size limit and no deadline, so
one call naming a 600 MB file took the server's memory with it. Here a download

- goes to ``http://`` or ``https://`` hosts that resolve to a public address, pinned to the
  address checked (no DNS rebinding), as Gradio's SSRF guard does; hosts an operator names in
  $SRSPACE_URL_PRIVATE_HOSTS (an internal image server, a test's loopback server) are let through;
- is refused by its Content-Length before a byte of its body is read, and stopped as soon as
  more than ``limit`` bytes have arrived when it declares none (or lies);
- is counted, chunk by chunk, against the temp folder's cap (``srspace.serving.tempfolder``);
- must end within ``deadline_s`` in all, redirects included (a body trickling a byte every few
  seconds would otherwise hold a call for minutes);
- follows at most ``URL_MAX_REDIRECTS`` redirects, each checked as the first URL.

Every refusal is an ``ImageInputError`` whose text names the limit; nothing half-written stays.
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import httpx
from safehttpx import AsyncSecureTransport

from ..contract import MAX_FILE_MB, URL_DEADLINE_S, URL_MAX_REDIRECTS
from ..errors import ImageInputError, shorten
from .tempfolder import FOLDER_FULL

URL_SCHEMES = ("http", "https")
CONNECT_TIMEOUT_S = 10.0
CHUNK = 1 << 16
PRIVATE_HOSTS_ENV = "SRSPACE_URL_PRIVATE_HOSTS"
DEADLINE_ENV = "SRSPACE_URL_DEADLINE_S"


def is_url(value) -> bool:
    return isinstance(value, str) and value.lower().startswith(tuple(f"{s}://" for s in URL_SCHEMES))


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified)


@dataclass
class UrlFetcher:
    """Downloads image URLs into ``folder`` within ``limit`` bytes and ``deadline_s`` seconds;
    ``bounds``: the temp folder's ``TempFolder``, whose cap the bytes count against."""

    limit: int = MAX_FILE_MB << 20
    deadline_s: float = URL_DEADLINE_S
    private_hosts: frozenset[str] = field(default_factory=frozenset)
    bounds: object | None = None

    @classmethod
    def from_env(cls, bounds=None, environ=os.environ) -> "UrlFetcher":
        """$SRSPACE_URL_PRIVATE_HOSTS (comma-separated host names or addresses allowed although
        they resolve to private addresses) and $SRSPACE_URL_DEADLINE_S (seconds for a whole download)."""
        hosts = frozenset(h.strip().lower() for h in environ.get(PRIVATE_HOSTS_ENV, "").split(",") if h.strip())
        try:
            deadline = float(environ.get(DEADLINE_ENV) or URL_DEADLINE_S)
        except ValueError as exc:
            raise SystemExit(f"{DEADLINE_ENV}={environ[DEADLINE_ENV]!r}: give a number of seconds") from exc
        return cls(deadline_s=deadline, private_hosts=hosts, bounds=bounds)

    async def fetch(self, url: str, folder: Path) -> Path:
        """The image at ``url``, as a file in a new folder under ``folder``; ImageInputError when it is
        refused (what the limit is, or what went wrong)."""
        target_dir = Path(folder) / uuid.uuid4().hex
        target_dir.mkdir(parents=True)
        name = Path(unquote(urlparse(url).path)).name or "image"
        name = "".join(c for c in name if c.isalnum() or c in "._-")[:100].lstrip(".") or "image"
        target = target_dir / name
        partial = target_dir / ".partial"
        try:
            async with asyncio.timeout(self.deadline_s):
                await self._download(url, partial)
        except BaseException as exc:
            partial.unlink(missing_ok=True)
            target_dir.rmdir()
            if isinstance(exc, TimeoutError):
                raise ImageInputError(f"The image at {shorten(url, 80)} did not arrive within {self.deadline_s:g} s, "
                                      "the limit for a whole download here: use a faster host, or upload the file."
                                      ) from None
            raise
        os.replace(partial, target)
        return target

    async def _download(self, url: str, partial: Path) -> None:
        for _ in range(URL_MAX_REDIRECTS + 1):
            host, address = await self._check(url)
            transport = AsyncSecureTransport(address)
            timeout = httpx.Timeout(self.deadline_s, connect=CONNECT_TIMEOUT_S)
            async with httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False) as client:
                try:
                    async with client.stream("GET", url, headers={"Accept": "image/*"}) as response:
                        if response.is_redirect and "location" in response.headers:
                            url = urljoin(str(response.url.copy_with(host=host)), response.headers["location"])
                            continue
                        self._check_response(url, response)
                        await self._write(url, response, partial)
                        return
                except httpx.HTTPError as exc:
                    raise ImageInputError(f"The image at {shorten(url, 80)} could not be downloaded "
                                          f"({type(exc).__name__}: {shorten(str(exc), 80)}).") from exc
        raise ImageInputError(f"The image URL {shorten(url, 80)} redirected more than {URL_MAX_REDIRECTS} times.")

    async def _check(self, url: str) -> tuple[str, str]:
        """(host, the address to connect to): a public one, or any for a host the operator allowed."""
        parsed = urlparse(url)
        if parsed.scheme.lower() not in URL_SCHEMES or not parsed.hostname:
            raise ImageInputError(f"Images are fetched from http:// and https:// URLs only, not {shorten(url, 60)}.")
        host = parsed.hostname.lower()
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parsed.port or None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ImageInputError(f"The host of the image URL, {shorten(host, 60)}, cannot be found ({exc.strerror}).") from exc
        addresses = [info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
        allowed = host in self.private_hosts or any(a in self.private_hosts for a in addresses)
        for address in addresses:
            if allowed or _is_public(address):
                return host, address
        raise ImageInputError(f"The image URL's host {shorten(host, 60)} is a private or local address, which this "
                              "server does not fetch from: give a public URL, or upload the file.")

    def _check_response(self, url: str, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise ImageInputError(f"The image URL {shorten(url, 80)} answered HTTP {response.status_code}, not an image.")
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.limit:
            raise ImageInputError(self._too_large(url, f"is {int(declared) / 2**20:.0f} MB"))

    async def _write(self, url: str, response: httpx.Response, partial: Path) -> None:
        received = 0
        with open(partial, "wb") as out:
            async for chunk in response.aiter_bytes(CHUNK):  # decoded: the limit bounds what is written
                received += len(chunk)
                if received > self.limit:
                    raise ImageInputError(self._too_large(url, "is larger than that"))
                if self.bounds is not None and self.bounds.admit(len(chunk)) is not None:
                    raise ImageInputError(FOLDER_FULL)
                out.write(chunk)

    def _too_large(self, url: str, what: str) -> str:
        return (f"Images from a URL may be up to {self.limit / 2**20:.0f} MB, and the one at {shorten(url, 80)} {what}: "
                "give a smaller file.")
