"""Instructions per access line in the log writer thread, which `bench.inproc`'s callgrind
count (the loop thread only) never sees: 300 lines like the gateway writes for a `/v2`
completion, ids, times and ports varying line to line, rendered and masked as the writer does.

    PYTHONPATH=$PWD valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect=starmap_next .venv/bin/python -m bench.log_writer
    # "Collected : N" / 300 = instructions per line

`--dump` prints the rendered lines (to compare two commits' output byte for byte).
"""

from __future__ import annotations

import io
import itertools
import logging
import queue
import sys
from typing import Any

from observability.logs import ACCESS_LOGGER, Line, LogPipeline

LINES = 300
FIELDS: dict[str, Any] = {
    "url": "http://127.0.0.1:5052/v2/code/completions",
    "path": "/v2/code/completions",
    "status_code": 200,
    "method": "POST",
    "correlation_id": "d7d2fb89ef394f5b9dd079023c96f7cd",
    "http_version": "1.1",
    "client_ip": "127.0.0.1",
    "client_port": 40000,
    "duration_s": 0.000959,
    "duration_request": -1,
    "request_arrived_at": "2026-12-04T21:19:39.313313+00:00",
    "response_start_duration_s": 0.000901,
    "first_chunk_duration_s": None,
    "cpu_s": 0.00102,
    "content_type": "application/json",
    "user_agent": "bench",
    "meta.feature_category": "code_suggestions",
    "meta.unit_primitive": "complete_code",
    "gateway_timing_ms": {"route": 0.013, "assemble": 0.146, "backend_ttfb": 0.025},
    "tracked_internal_events": [],
    "auth_duration_s": 1.9e-05,
    "token_issuer": None,
    "model_engine": "llm-provider-mocked",
    "model_name": "llm-mocked",
    "input_tokens": 0,
    "output_tokens": 14,
    "total_tokens": 14,
    "finish_reason": "length",
    "is_streaming": False,
    "post_processing_duration_s": 0.000153,
    "code_suggestion_type": "code_completions",
    "lang": "python",
    "gateway_route": "served=llm-mocked",
}


def lines(count: int) -> list[Line]:
    out = []
    for i in range(count):
        fields = dict(FIELDS, gateway_timing_ms=dict(FIELDS["gateway_timing_ms"]))
        fields["correlation_id"] = f"{i:032x}"
        fields["duration_s"] = 0.000959 + i * 1e-6
        fields["request_arrived_at"] = f"2026-12-04T21:19:39.{313313 + i:06d}+00:00"
        message = f'127.0.0.1:{40000 + i} - "POST /v2/code/completions HTTP/1.1" 200'
        out.append(Line(ACCESS_LOGGER, logging.INFO, 1764883179.313313 + i / 1000, message, fields))
    return out


def main() -> None:
    pipeline = LogPipeline(queue.SimpleQueue(), logging.StreamHandler(io.StringIO()))
    pipeline.stop()  # rendered here, in this thread, as the writer would
    warm, measured = lines(LINES + 50)[:50], lines(LINES + 50)[50:]
    rendered = [pipeline._text(line) for line in warm]
    # Inside itertools.starmap: callgrind's --toggle-collect=starmap_next counts these alone.
    [more] = itertools.starmap(lambda: [pipeline._text(line) for line in measured], [()])
    if "--dump" in sys.argv:
        sys.stdout.write("\n".join(rendered + more) + "\n")


if __name__ == "__main__":
    main()
