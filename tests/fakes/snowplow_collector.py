"""A Snowplow collector on localhost: accepts tracker-protocol POSTs to
`/com.snowplowanalytics.snowplow/tp2` and keeps the decoded events for assertions."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TP2 = "/com.snowplowanalytics.snowplow/tp2"


class SnowplowCollector:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.payloads: list[dict[str, Any]] = []
        self.release = threading.Event()  # clear it to make the collector hang
        self.release.set()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                collector.release.wait(30)
                if self.path != TP2:
                    self.send_response(404)
                    self.end_headers()
                    return
                if collector.status < 300:
                    collector.payloads.append(
                        {"content_type": self.headers.get("content-type"), **json.loads(body)}
                    )
                self.send_response(collector.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> SnowplowCollector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        """Every event received, with its contexts decoded from `cx`."""
        out = []
        for payload in self.payloads:
            for event in payload["data"]:
                decoded = dict(event)
                if "cx" in event:
                    raw = event["cx"] + "=" * (-len(event["cx"]) % 4)
                    decoded["contexts"] = json.loads(base64.urlsafe_b64decode(raw))
                out.append(decoded)
        return out
