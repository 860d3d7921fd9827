"""Images given as URLs: the real app fetches them from a real HTTP server on loopback, within its
size limit, its deadline and its temp folder, and refuses everything else with a message."""
from __future__ import annotations

import asyncio
import http.server
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import APP_URL_DEADLINE_S
from srspace.contract import EXAMPLES_DIR, MAX_FILE_MB
from srspace.serving.http import jsonrpc_id

FACE = EXAMPLES_DIR / "astronaut_face.png"
MB = 1 << 20


class ImageHost(http.server.ThreadingHTTPServer):
    """A loopback web host with an honest image, a declared 600 MB body, an endless body without a
    length, one that trickles, and a redirect to a private address; ``sent`` counts body bytes by path."""

    daemon_threads = True

    def __init__(self):
        self.sent: dict[str, int] = {}
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, chunk: bytes) -> None:
        self.wfile.write(chunk)
        self.server.sent[self.path] = self.server.sent.get(self.path, 0) + len(chunk)

    def do_GET(self):
        try:
            if self.path == "/face.png":
                body = FACE.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self._send(body)
            elif self.path == "/declared.png":
                self.send_response(200)
                self.send_header("Content-Length", str(600 * MB))
                self.end_headers()
                for _ in range(600):
                    self._send(b"\0" * MB)
            elif self.path == "/endless.png":
                self.send_response(200)
                self.send_header("Connection", "close")  # no length: the body ends when the connection does
                self.end_headers()
                for _ in range(600):
                    self._send(b"\0" * MB)
            elif self.path == "/trickle.png":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(1000):
                    self._send(b"\0")
                    self.wfile.flush()
                    time.sleep(1)
            elif self.path == "/redirect.png":
                self.send_response(302)
                self.send_header("Location", "http://10.0.0.1/face.png")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the app stopped reading: what we want


def _tls_host(cert: Path, key: Path):
    import ssl

    host = ImageHost()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    host.socket = context.wrap_socket(host.socket, server_side=True)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    return host


@pytest.fixture(scope="module")
def tls_image_host(loopback_tls):
    """The same host over HTTPS, with the certificate the app under test trusts."""
    host = _tls_host(*loopback_tls)
    yield host
    host.shutdown()


@pytest.fixture(scope="module")
def untrusted_tls_host(tmp_path_factory):
    """An HTTPS host whose self-signed certificate nobody trusts."""
    folder = tmp_path_factory.mktemp("untrusted")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    host = _tls_host(cert, key)
    yield host
    host.shutdown()


@pytest.fixture(scope="module")
def image_host():
    host = ImageHost()
    thread = threading.Thread(target=host.serve_forever, daemon=True)
    thread.start()
    yield host
    host.shutdown()


def _mcp_calls(app_url: str, images: list[str]):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def calls():
        async with streamable_http_client(app_url + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                results = []
                for image in images:
                    start = time.monotonic()
                    result = await session.call_tool("upscale", {"image": image, "model": "bicubic", "factor": 2.0})
                    text = " ".join(getattr(c, "text", "") for c in result.content)
                    results.append((result.isError, text, time.monotonic() - start))
                return results

    return asyncio.run(calls())


def test_mcp_image_urls_are_fetched_within_bounds_or_refused_with_the_limit(app_server, image_host):
    host = image_host.url
    names = ["face", "declared", "endless", "trickle", "private", "redirect", "ftp", "megabyte", "bad base64",
             "face again"]
    urls = [f"{host}/face.png", f"{host}/declared.png", f"{host}/endless.png", f"{host}/trickle.png",
            f"http://127.0.0.2:{image_host.server_address[1]}/face.png", f"{host}/redirect.png",
            "ftp://127.0.0.1/face.png", "x" * MB, "data:image/png;base64,not*base64!", f"{host}/face.png"]
    results = dict(zip(names, _mcp_calls(app_server, urls)))
    failed = {name: text for name, (error, text, _) in results.items() if error}
    assert set(failed) == {"declared", "endless", "trickle", "private", "redirect", "ftp", "megabyte", "bad base64"}, failed
    assert f"up to {MAX_FILE_MB} MB" in failed["declared"] and "is 600 MB" in failed["declared"]
    assert image_host.sent.get("/declared.png", 0) < 20 * MB  # refused by its header, its body left unread
    assert f"up to {MAX_FILE_MB} MB" in failed["endless"] and "larger than that" in failed["endless"]
    assert MAX_FILE_MB * MB <= image_host.sent["/endless.png"] < (MAX_FILE_MB + 30) * MB  # stopped at the limit
    assert f"within {APP_URL_DEADLINE_S:g} s" in failed["trickle"]
    assert results["trickle"][2] < APP_URL_DEADLINE_S + 10  # the deadline is for the whole download
    for name in ("private", "redirect"):
        assert "private or local address" in failed[name], failed[name]
    assert "'ftp://127.0.0.1/face.png' is neither a URL nor a data: URL" in failed["ftp"]
    assert "neither a URL" in failed["megabyte"] and len(failed["megabyte"]) < 500  # not echoed whole
    assert "not valid base64" in failed["bad base64"]
    assert "face_bicubic_x2.png" in results["face"][1] and "face_bicubic_x2.png" in results["face again"][1]
    refused = {".partial", "declared.png", "endless.png", "trickle.png"}
    left = [p for p in app_server.temp.rglob("*") if p.is_file() and p.name in refused]
    assert not left, left  # nothing half-written, nothing refused kept


def test_the_mcp_size_gate_finds_the_request_id_at_either_end_of_a_body_it_does_not_keep():
    image = "data:image/png;base64," + "A" * (200 << 10)
    first = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                        "params": {"name": "upscale", "arguments": {"image": image, "id": 3}}}).encode()
    last = json.dumps({"jsonrpc": "2.0", "method": "tools/call",
                       "params": {"arguments": {"id": 3, "image": image}}, "id": "call-9"}).encode()
    nested_only = json.dumps({"method": "tools/call", "params": {"id": 5, "arguments": {"image": image}}}).encode()
    keep = 64 << 10
    assert jsonrpc_id(first[:keep], first[-keep:]) == 7
    assert jsonrpc_id(last[:keep], last[-keep:]) == "call-9"
    assert jsonrpc_id(nested_only[:keep], nested_only[-keep:]) is None  # a params' "id" is not the request's


def test_https_image_urls_are_fetched_with_the_certificate_checked_and_the_same_bounds(app_server, tls_image_host,
                                                                                     untrusted_tls_host):
    url = f"https://127.0.0.1:{tls_image_host.server_address[1]}"
    untrusted = f"https://127.0.0.1:{untrusted_tls_host.server_address[1]}/face.png"
    (face_failed, face_text, _), (large_failed, large_text, _), (bad_failed, bad_text, _) = _mcp_calls(
        app_server, [f"{url}/face.png", f"{url}/declared.png", untrusted])
    assert bad_failed and "could not be downloaded" in bad_text and "CERTIFICATE_VERIFY_FAILED" in bad_text, bad_text
    assert not face_failed and "face_bicubic_x2.png" in face_text, face_text
    assert large_failed and f"up to {MAX_FILE_MB} MB" in large_text and "is 600 MB" in large_text
    assert tls_image_host.sent.get("/declared.png", 0) < 20 * MB

