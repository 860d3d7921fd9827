"""What every request to the app goes through besides its handler: one log line when it ends,
``X-Content-Type-Options: nosniff`` on every response, the upload gate (no new upload while the
temp folder is at its cap, or its client has uploaded its share), the MCP gate (a
too-large image, or an image argument that cannot be one, is a tool error with a message, not
an HTTP 413 that ends the client's session or an echo of the whole value) and a deadline for a
request's head on every connection."""
from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import math
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn.config
from mcp.server.streamable_http_manager import DEFAULT_MAX_REQUEST_BODY_SIZE
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ..contract import HEADER_TIMEOUT_S, MAX_FILE_MB
from .downloads import is_url
from ..errors import ImageInputError, shorten
from .tempfolder import FOLDER_FULL

log = logging.getLogger("srspace")


@contextmanager
def request_log(what: str, **fields):
    """One log line for the request when it ends: what was asked, how long it took, how it ended.

    The body may add fields (``record["out"] = "4000x3000"``). A refusal (ImageInputError, whose
    text was written for the user) is one line with no traceback, and so is a cancelled request;
    anything else, ValueErrors included, is logged with its traceback, as a bug.
    """
    record = dict(fields)
    start = time.perf_counter()

    def line(outcome: str) -> str:
        details = " ".join(f"{k}={v}" for k, v in record.items() if v not in (None, ""))
        return f"{what} {details} {time.perf_counter() - start:.2f}s {outcome}"

    try:
        yield record
    except GeneratorExit:
        log.info(line("cancelled"))
        raise
    except ImageInputError as exc:
        log.info(line(f"refused: {str(exc)[:160]}"))
        raise
    except Exception:
        log.exception(line("failed"))
        raise
    else:
        log.info(line("ok"))


class NoSniff:
    """ASGI middleware: every response says ``X-Content-Type-Options: nosniff``, so a browser
    never runs an uploaded file as something other than the type it was served as."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-content-type-options"]
                message = {**message, "headers": [*headers, (b"x-content-type-options", b"nosniff")]}
            await send(message)

        return await self.app(scope, receive, sending)


class UploadGate:
    """ASGI middleware: an upload that would take the app's temp folder over its cap, or its client
    over its share of it, is refused before its bytes are read (by its Content-Length; a chunked
    upload, which declares none, as its bytes arrive): 503 or 429, with a message and Retry-After;
    the sweeps make room again."""

    def __init__(self, app, folder):
        self.app, self.folder = app, folder  # folder: a srspace.serving.tempfolder.TempFolder

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/upload"):
            headers = dict(scope.get("headers") or [])
            peer = (scope.get("client") or (None,))[0]
            client = client_address(headers.get(b"x-forwarded-for", b"").decode("latin-1"), peer)
            declared = b"content-length" in headers
            refusal = self.folder.admit(_content_length(headers), client)
            answering = self._noting_owners(_clear_header_errors(send), client)
            if refusal is None and declared:
                return await self.app(scope, receive, answering)
            if refusal is None:  # chunked: counted as its bytes arrive, against both bounds
                try:
                    return await self.app(scope, self._counting(receive, client), answering)
                except _Refused as exc:
                    refusal = exc.refusal
            if refusal is not None:
                if refusal.full:
                    status, text = 503, FOLDER_FULL
                else:
                    lifetime = self.folder.lifetime
                    per = f"{lifetime / 60:.0f} minutes" if lifetime >= 120 else f"{lifetime:.0f} s"
                    status, text = 429, (f"Each visitor may upload up to {self.folder.client_cap / 2**20:.0f} MB per "
                                         f"{per}, so that the server has room for everyone, and this upload would "
                                         f"pass that: try again in about {max(1, math.ceil(refusal.retry_s / 60))} min.")
                await _respond(send, status, "application/json", json.dumps({"detail": text}).encode(),
                               [(b"retry-after", str(refusal.retry_s).encode())])
                return
        return await self.app(scope, receive, send)


    def _noting_owners(self, send, client):
        """``send``, noting whose files a successful upload wrote (Gradio answers with their paths):
        when the folder fills up, the files of the client holding the most go first."""
        body, ok = bytearray(), False

        async def sending(message):
            nonlocal ok
            if message["type"] == "http.response.start":
                ok = message["status"] == 200
            elif ok and message["type"] == "http.response.body" and len(body) < 1 << 20:
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    try:
                        paths = json.loads(body)
                    except ValueError:
                        paths = []
                    if isinstance(paths, list):
                        self.folder.own([p for p in paths if isinstance(p, str)], client)
            await send(message)

        return sending

    def _counting(self, receive, client):
        """``receive``, each chunk of the body admitted as it arrives; past a bound, _Refused."""
        async def counted():
            message = await receive()
            if message["type"] == "http.request" and message.get("body"):
                refusal = self.folder.admit(len(message["body"]), client)
                if refusal is not None:
                    raise _Refused(refusal)
            return message
        return counted


GRADIO_HEADER_ERROR = b"Headers exceeded maximum allowed size"
UNREADABLE_PARTS = ("The upload's form headers could not be read: a file name with a line break in it, or headers "
                    "over 8 kB. Rename the file (letters, digits, spaces, dots) and upload it again.")


def _clear_header_errors(send):
    """``send``, with Gradio's 413 "Headers exceeded maximum allowed size" (which it also says for a
    raw CR or LF in a multipart file name, whatever the size) answered as a 400 that names both causes."""
    held = None

    async def sending(message):
        nonlocal held
        if message["type"] == "http.response.start" and message["status"] == 413:
            held = message  # decided by the body
            return
        if held is not None and message["type"] == "http.response.body":
            start, held = held, None
            if message.get("body", b"").startswith(GRADIO_HEADER_ERROR):
                return await _respond(send, 400, "application/json", json.dumps({"detail": UNREADABLE_PARTS}).encode())
            await send(start)
        await send(message)

    return sending


class _Refused(Exception):
    """A chunked upload passed the temp folder's cap or its client's share while it arrived."""

    def __init__(self, refusal):
        super().__init__("upload refused")
        self.refusal = refusal


TRUSTED_PROXIES_ENV = "SRSPACE_TRUSTED_PROXIES"


@dataclass(frozen=True)
class Proxies:
    """The proxies whose X-Forwarded-For this server believes. ``networks``: their addresses;
    ``any_peer``: every connection comes through one trusted proxy whatever its address (a
    Hugging Face Space, where the proxy's address is not published)."""

    networks: tuple = ()
    any_peer: bool = False

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)


def trusted_proxies(environ=os.environ) -> Proxies:
    """$SRSPACE_TRUSTED_PROXIES: comma-separated addresses or networks (``10.0.0.0/8``) of the
    proxies in front of this server, or ``none``. Unset: none, except on a Hugging Face Space
    (``SPACE_ID`` is set), where every connection is the Space's proxy."""
    value = environ.get(TRUSTED_PROXIES_ENV)
    if value is None:
        return Proxies(any_peer=bool(environ.get("SPACE_ID")))
    items = [v.strip() for v in value.split(",") if v.strip() and v.strip().lower() != "none"]
    try:
        return Proxies(tuple(ipaddress.ip_network(v, strict=False) for v in items))
    except ValueError as exc:
        raise SystemExit(f"{TRUSTED_PROXIES_ENV}={value!r}: {exc}; give addresses or networks such as "
                         "10.0.0.0/8, separated by commas, or none") from exc


def client_address(forwarded: str | None, peer: str | None, proxies: Proxies | None = None) -> str | None:
    """Who is asking. The connection's own address, unless it is a trusted proxy (``proxies``,
    default ``trusted_proxies()``): then the X-Forwarded-For entry just before the trusted proxies,
    read from the right, since each proxy appends the address it saw and only the first entries
    are written by the client. None when nothing is known."""
    proxies = trusted_proxies() if proxies is None else proxies
    if not peer or not forwarded or not (proxies.any_peer or proxies.trusts(peer)):
        return peer
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not proxies.trusts(hop):
            return hop
    return hops[0] if hops else peer




class HeaderDeadline(AutoHTTPProtocol):
    """uvicorn's HTTP protocol (h11 or httptools, whichever it picked) with a deadline: a
    connection that has not sent a whole request head within ``deadline_s`` seconds of opening,
    or of its last request, is closed. uvicorn alone keeps a half-open connection for ever (its
    keep-alive timeout starts only after a response), so a thousand of them would hold a
    thousand sockets; Gradio's ``launch()`` offers no uvicorn settings, hence
    ``install_header_deadline``."""

    deadline_s = HEADER_TIMEOUT_S

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._seen = self.cycle  # the request in progress when armed (uvicorn makes one cycle per request)
        self._deadline = self.loop.call_later(self.deadline_s, self._check)

    def _check(self) -> None:
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # closed, or upgraded to a WebSocket, which has timeouts of its own
        if self.cycle is not self._seen or (self.cycle is not None and not self.cycle.response_complete):
            self._arm()  # a request came, or one is still being answered: the deadline starts again
        else:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)


def install_header_deadline(deadline_s: float | None = None) -> None:
    """Serve every uvicorn server of this process with ``HeaderDeadline`` (``deadline_s``, else
    $SRSPACE_HEADER_TIMEOUT_S, else HEADER_TIMEOUT_S): uvicorn's protocol table is the one place
    to choose the protocol class when Gradio builds the server's config."""
    HeaderDeadline.deadline_s = float(deadline_s or os.environ.get("SRSPACE_HEADER_TIMEOUT_S") or HEADER_TIMEOUT_S)
    uvicorn.config.HTTP_PROTOCOLS["auto"] = f"{__name__}:HeaderDeadline"


MCP_MAX_BODY = DEFAULT_MAX_REQUEST_BODY_SIZE  # the MCP library's limit on a request body (4 MiB): a data: URL of ~3 MB
MCP_READ_LIMIT = 160 << 20  # bodies read (and dropped as they arrive) to answer with a message; larger ones get a plain 413
MCP_KEEP = 64 << 10  # of a body read so: its first and last bytes, where a JSON-RPC request's "id" is


class McpGate:
    """ASGI middleware in front of the MCP endpoint.

    - **Size.** A request larger than the MCP library takes (an image sent as a data: URL of more
      than about 3 MB) is answered as a failed tool call whose text says what to do, in JSON-RPC,
      so the client's session goes on; the library would answer HTTP 413. It is judged by its
      Content-Length before a byte is read. To answer in JSON-RPC the gate needs the request's
      ``id``: it reads the body as it arrives, keeping only its first and last ``MCP_KEEP``
      bytes, and stops at ``MCP_READ_LIMIT``; a larger body gets a plain 413 unread.
    - **The image argument.** A tool call whose ``image`` is neither an http(s) URL nor a
      base64 ``data:`` URL that decodes is answered with a short message that says which; Gradio
      would echo the whole value (a megabyte of it) or call bad base64 "an empty file".
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if not (scope["type"] == "http" and scope["method"] == "POST" and "/gradio_api/mcp" in scope["path"]):
            return await self.app(scope, receive, send)
        size = _content_length(dict(scope.get("headers") or []))
        if size > MCP_MAX_BODY:
            return await self._too_large(size, receive, send)
        body, more = bytearray(), True
        while more and len(body) <= MCP_MAX_BODY:  # a chunked body past the limit goes on to the library's 413
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if not more and (answer := _tool_call_problem(bytes(body))) is not None:
            request_id, text = answer
            log.info(f"mcp tools/call refused: {text}")
            return await _tool_error(send, request_id, text)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": more}
            return await receive()

        return await self.app(scope, replay, send)

    async def _too_large(self, size: int, receive, send) -> None:
        text = (f"This request is {size / 2**20:.1f} MB; MCP calls here take up to {MCP_MAX_BODY / 2**20:.0f} MB, "
                "that is an image of about 3 MB as a data: URL. Send a smaller image, or pass the image as an "
                f"https:// URL (http:// works too), up to {MAX_FILE_MB} MB.")
        request_id = None
        if size <= MCP_READ_LIMIT:
            head, tail, read = bytearray(), bytearray(), 0
            while read <= size:
                message = await receive()
                chunk = message.get("body", b"")
                read += len(chunk)
                if len(head) < MCP_KEEP:
                    head += chunk[: MCP_KEEP - len(head)]
                tail = (tail + chunk)[-MCP_KEEP:]
                if not message.get("more_body"):
                    break
            request_id = jsonrpc_id(bytes(head), bytes(tail))
        if request_id is None:
            await _respond(send, 413, "text/plain", text.encode())
            return
        await _tool_error(send, request_id, text)


async def _tool_error(send, request_id, text: str) -> None:
    """A failed tool call, as the MCP library would answer one: JSON-RPC, HTTP 200."""
    reply = {"jsonrpc": "2.0", "id": request_id, "result": {"content": [{"type": "text", "text": text}], "isError": True}}
    await _respond(send, 200, "application/json", json.dumps(reply).encode())


IMAGE_ARGUMENT = "image"  # the tools' image input (upscale, compare, check_quality)
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?((?:;[\w-]+=[^;,]*)*);base64,", re.ASCII)


def _tool_call_problem(body: bytes):
    """(id, message) when ``body`` is a tools/call whose image argument cannot be an image; else None
    (anything else is the MCP library's and Gradio's to judge)."""
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if not isinstance(request, dict) or request.get("method") != "tools/call" or "id" not in request:
        return None
    arguments = (request.get("params") or {}).get("arguments") if isinstance(request.get("params"), dict) else None
    if not isinstance(arguments, dict) or IMAGE_ARGUMENT not in arguments:
        return None
    problem = image_argument_problem(arguments[IMAGE_ARGUMENT])
    return None if problem is None else (request["id"], problem)


def image_argument_problem(value) -> str | None:
    """What is wrong with an MCP tool's image argument, in words; None when it may be an image."""
    how = ("Give the image as an https:// (or http://) URL, or as a data: URL such as "
           "data:image/png;base64,iVBORw0… (the file's bytes in base64).")
    if not isinstance(value, str):
        return f"The image must be a string, not {type(value).__name__}: {shorten(value)}. {how}"
    if is_url(value):
        return None
    if not value.lower().startswith("data:"):
        return f"The image {shorten(value)} is neither a URL nor a data: URL. {how}"
    header = _DATA_URL.match(value)
    if header is None:
        return f"The image's data: URL must say ;base64, before its data: {shorten(value[:60])} does not. {how}"
    payload = value[header.end():]
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return (f"The image's data: URL is not valid base64 (only A-Z, a-z, 0-9, + and / with = padding, "
                f"{len(payload)} characters given): {shorten(payload[:40])}. {how}")
    if not data:
        return f"The image's data: URL holds no data. {how}"
    return None


_ID_VALUE = re.compile(rb'\s*:\s*(-?\d+|"(?:[^"\\]|\\.){0,200}")')
_LAST_ID = re.compile(rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.){0,200}")\s*}\s*$')


def jsonrpc_id(head: bytes, tail: bytes):
    """The top-level ``"id"`` of a JSON-RPC request seen only by its first bytes (``head``) and its
    last (``tail``): the key as the object's first members (as the MCP clients write it), or as its
    last member. None when neither shows it."""
    depth, in_string, escaped, start = 0, False, False, 0
    for i, byte in enumerate(head):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # the string ends: a top-level key when a colon follows
                in_string = False
                if depth == 1 and head[start:i] == b"id" and (value := _ID_VALUE.match(head, i + 1)):
                    return json.loads(value.group(1))
        elif byte == 0x22:
            in_string, start = True, i + 1
        elif byte in b"{[":
            depth += 1
        elif byte in b"}]":
            depth -= 1
    if (value := _LAST_ID.search(tail)) is not None:
        return json.loads(value.group(1))
    return None


def _content_length(headers: dict[bytes, bytes]) -> int:
    """A request's declared body size, from its headers (0 when it declares none, or nonsense)."""
    try:
        return int(headers.get(b"content-length", b"0"))
    except ValueError:
        return 0


async def _respond(send, status: int, content_type: str, body: bytes, headers=()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})
