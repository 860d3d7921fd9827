"""What every request to the app goes through besides its handler: one log line when it ends,
``X-Content-Type-Options: nosniff`` on every response, the upload gate (no new upload while the
temp folder is at its cap) and the MCP size gate (a too-large image is a tool error with a
message, not an HTTP 413 that ends the client's session)."""
from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager

from mcp.server.streamable_http_manager import DEFAULT_MAX_REQUEST_BODY_SIZE

from ..errors import ImageInputError

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
    """ASGI middleware: an upload that would take the app's temp folder over its cap is refused
    with 503 and a message before its bytes are read; the sweeps make room again."""

    def __init__(self, app, folder):
        self.app, self.folder = app, folder  # folder: a srspace.tempfolder.TempFolder

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/upload"):
            if not self.folder.admit(_content_length(scope)):
                body = (b'{"detail": "The server\'s upload space is full for the moment: try again in a minute. '
                        b'Files are kept for a short while only, so room comes back by itself."}')
                await _respond(send, 503, "application/json", body)
                return
        return await self.app(scope, receive, send)


MCP_MAX_BODY = DEFAULT_MAX_REQUEST_BODY_SIZE  # the MCP library's limit on a request body (4 MiB): a data: URL of ~3 MB
MCP_READ_LIMIT = 160 << 20  # bodies read to answer with a message; larger ones get a plain 413


class McpSizeGate:
    """ASGI middleware: an MCP request larger than the MCP library takes (an image sent as a
    data: URL of more than about 3 MB) is answered as a failed tool call whose text says what to
    do, in JSON-RPC, so the client's session goes on; the library would answer HTTP 413."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if not (scope["type"] == "http" and scope["method"] == "POST" and "/gradio_api/mcp" in scope["path"]):
            return await self.app(scope, receive, send)
        size = _content_length(scope)
        if size <= MCP_MAX_BODY:
            return await self.app(scope, receive, send)
        text = (f"This request is {size / 2**20:.1f} MB; MCP calls here take up to {MCP_MAX_BODY / 2**20:.0f} MB, "
                "that is an image of about 3 MB as a data: URL. Send a smaller image, or pass the image as an "
                "https:// URL, which has no such limit (up to 100 MB).")
        request_id = None
        if size <= MCP_READ_LIMIT:
            body = bytearray()
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            try:
                request_id = json.loads(body).get("id")
            except (ValueError, AttributeError):
                request_id = None
        if request_id is None:
            await _respond(send, 413, "text/plain", text.encode())
            return
        reply = {"jsonrpc": "2.0", "id": request_id,
                 "result": {"content": [{"type": "text", "text": text}], "isError": True}}
        await _respond(send, 200, "application/json", json.dumps(reply).encode())


def _content_length(scope) -> int:
    """A request's declared body size (0 when it declares none, or nonsense)."""
    try:
        return int(dict(scope.get("headers") or []).get(b"content-length", b"0"))
    except ValueError:
        return 0


async def _respond(send, status: int, content_type: str, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
