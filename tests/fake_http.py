"""A JSON-over-HTTP fake on 127.0.0.1, for the API servers that cannot run here (Kubernetes, KFP).

The fakes (tests/infrastructure/fake_kube.py, tests/pipelines/fake_kfp.py) answer each call with
``(status, JSON body)``; this module is the HTTP part they share: read the request body, call the
fake, write the answer, on a free port in a daemon thread for the length of a ``with`` block.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (method, path with query, headers, parsed JSON body or None) -> (status, JSON-ready answer)
Answer = Callable[[str, str, Mapping[str, str], Any], tuple[int, Any]]


@contextmanager
def serve_json(answer: Answer) -> Iterator[str]:
    """Serve ``answer`` until the block ends; yields the base URL (``http://127.0.0.1:<port>``)."""

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, payload = answer(self.command, self.path, self.headers, json.loads(raw) if raw else None)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        # http.server dispatches on these names.
        do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
