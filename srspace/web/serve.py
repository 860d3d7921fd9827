"""Serve a built static site locally, with the headers its README declares (cross-origin isolation).

    python -m srspace.web.serve OUT [--port 8000] [--host 127.0.0.1] [--no-isolation]

A plain static file server, as any host is; ``--no-isolation`` leaves the headers out, to see
the page as a host that does not send them shows it (one WebAssembly thread).
"""
from __future__ import annotations

import argparse
import functools
import http.server
import threading
from pathlib import Path

from .ort import register_types
from .site import front_matter


class _Handler(http.server.SimpleHTTPRequestHandler):
    """The site's files and nothing else: no directory listings, nothing a link points to outside
    the folder, ``nosniff`` on every answer, a 400 for a path that cannot name a file, and a
    connection that sends nothing for ``timeout`` seconds is closed."""

    headers_to_send: dict[str, str] = {}
    timeout = 20
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
                      ".json": "application/json", ".onnx": "application/octet-stream"}

    def end_headers(self) -> None:
        for name, value in self.headers_to_send.items():
            self.send_header(name, value)
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def send_head(self):
        path = self.translate_path(self.path)
        if "\x00" in path:
            self.send_error(400, "A path with a NUL byte names no file")
            return None
        root = Path(self.directory).resolve()
        try:
            inside = Path(path).resolve().is_relative_to(root)
        except (OSError, ValueError):
            inside = False
        if not inside:  # a symlink out of the folder
            self.send_error(404, "File not found")
            return None
        return super().send_head()

    def list_directory(self, path):
        self.send_error(404, "File not found")  # index.html is served; a folder is never listed
        return None

    def log_message(self, format, *args) -> None:  # quiet: one line per file is noise here
        pass


def site_headers(folder: Path) -> dict[str, str]:
    """The headers the site's README front matter declares for its Space (``custom_headers``)."""
    return dict(front_matter(Path(folder) / "README.md").get("custom_headers") or {})


def make_server(folder: Path, host: str = "127.0.0.1", port: int = 0, headers: dict[str, str] | None = None):
    """A threading HTTP server for ``folder`` sending ``headers`` (default: the site's own) with every file."""
    register_types()  # .js, .mjs and .wasm with the types a module script and WebAssembly need
    handler = type("Handler", (_Handler,), {"headers_to_send": site_headers(folder) if headers is None else headers})
    server_class = type("Server", (http.server.ThreadingHTTPServer,), {"request_queue_size": 128})  # not 5
    return server_class((host, port), functools.partial(handler, directory=str(folder)))


def serve_in_thread(folder: Path, headers: dict[str, str] | None = None):
    """Start a server on a free loopback port in a daemon thread; (server, its URL)."""
    server = make_server(folder, headers=headers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m srspace.web.serve", description=__doc__,
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
