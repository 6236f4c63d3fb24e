"""A local HTTP receiver for webhook tests: it verifies every request's signature
with the Standard Webhooks reference library and answers as told."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    verified_with: list[str]
    status: int


@dataclass
class Receiver:
    """``Receiver(secrets=[...], fail_times=5)``: the first ``fail_times`` requests
    get a 500, the rest a 200."""

    secrets: list[str] = field(default_factory=list)
    fail_times: int = 0
    requests: list[Received] = field(default_factory=list)

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = []
                for secret in receiver.secrets:
                    try:
                        Webhook(secret).verify(raw, headers)
                        verified.append(secret)
                    except WebhookVerificationError:
                        pass
                status = 500 if len(receiver.requests) < receiver.fail_times else 200
                receiver.requests.append(Received(headers, json.loads(raw), verified, status))
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(b"not now" if status == 500 else b"thanks")

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/kehu"

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
