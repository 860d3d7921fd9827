"""What every request to the app goes through besides its handler: one log line when it ends,
and ``X-Content-Type-Options: nosniff`` on every response."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager

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
