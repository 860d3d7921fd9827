"""Serve a built static site locally, with the headers its README declares (cross-origin isolation).

    python -m srspace.serve OUT [--port 8000] [--host 127.0.0.1] [--no-isolation]

A plain static file server, as any host is; ``--no-isolation`` leaves the headers out, to see
the page as a host that does not send them shows it (one WebAssembly thread).
"""
from __future__ import annotations

import argparse
import functools
import http.server
import threading
from pathlib import Path

from .site import front_matter


class _Handler(http.server.SimpleHTTPRequestHandler):
    headers_to_send: dict[str, str] = {}
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
                      ".json": "application/json", ".onnx": "application/octet-stream"}

    def end_headers(self) -> None:
        for name, value in self.headers_to_send.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format, *args) -> None:  # quiet: one line per file is noise here
        pass


def site_headers(folder: Path) -> dict[str, str]:
    """The headers the site's README front matter declares for its Space (``custom_headers``)."""
    return dict(front_matter(Path(folder) / "README.md").get("custom_headers") or {})


def make_server(folder: Path, host: str = "127.0.0.1", port: int = 0, headers: dict[str, str] | None = None):
    """A threading HTTP server for ``folder`` sending ``headers`` (default: the site's own) with every file."""
    handler = type("Handler", (_Handler,), {"headers_to_send": site_headers(folder) if headers is None else headers})
    return http.server.ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(folder)))


def serve_in_thread(folder: Path, headers: dict[str, str] | None = None):
    """Start a server on a free loopback port in a daemon thread; (server, its URL)."""
    server = make_server(folder, headers=headers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m srspace.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-isolation", action="store_true", help="send no cross-origin isolation headers")
    args = parser.parse_args(argv)
    server = make_server(args.folder, args.host, args.port, {} if args.no_isolation else None)
    print(f"Serving {args.folder} on http://{args.host}:{server.server_address[1]}/ (Ctrl+C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
