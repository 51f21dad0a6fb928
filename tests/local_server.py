"""A file server on 127.0.0.1 for download tests: no test reaches the internet.

It serves a folder, honours `Range: bytes=N-` (206, 416), records every
request's headers, and can ignore Range, serve inverted bytes for a path, or
close the connection after half the body once.
"""

import http.server
import re
import threading
import urllib.parse
from pathlib import Path

import pytest


class ServerState:
    def __init__(self, root):
        self.root = Path(root)
        self.requests = []  # (path, headers, status)
        self.ignore_range = False
        self.corrupt = set()
        self.cut_short = set()  # paths answered with half the body once, then the connection closed
        self.lock = threading.Lock()

    def requests_for(self, path):
        with self.lock:
            return [(h, s) for p, h, s in self.requests if p.endswith(path)]


def make_handler(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
            file = (state.root / path).resolve()
            status, body, headers = 404, b"not found", {}
            if file.is_file() and state.root.resolve() in file.parents:
                data = file.read_bytes()
                if path in state.corrupt:
                    data = bytes(b ^ 0xFF for b in data)
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if match and not state.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        status, body = 416, b""
                        headers["Content-Range"] = f"bytes */{len(data)}"
                    else:
                        status, body = 206, data[start:]
                        headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                else:
                    status, body = 200, data
            with state.lock:
                state.requests.append((path, dict(self.headers), status))
                cut = status == 200 and path in state.cut_short
                state.cut_short.discard(path)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2] if cut else body)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def serve(request):
    """serve(folder) -> (base URL, state); every server is shut down at the end."""
    servers = []

    def start(folder):
        state = ServerState(folder)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}", state

    def stop():
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    request.addfinalizer(stop)
    return start
