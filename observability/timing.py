"""Per-stage timing: the `X-Gateway-Timing` header and the arrival stamp (bench/stage_timing.py
summarises many headers for `make bench`).

`X-Gateway-Timing: queue=0.412, auth=0.101, route=0.020, assemble=1.203, backend_ttfb=35.010,
post=0.090, total=38.100` — milliseconds. The stages are disjoint intervals of the request, so
they add up to at most `total` (time from arrival to the response head); what `total` has on
top of the stages is framework work between them (routing, body parsing, serialisation).
`backend_ttfb` is time spent waiting on the model (the whole call when not streaming, the first
chunk when streaming); everything else is what the gateway adds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from observability.record import STAGES, RequestRecord

HEADER = "X-Gateway-Timing"
EDGE_HEADER = b"x-request-start"
# An edge stamp further away than this is a clock problem, not a queue.
MAX_EDGE_QUEUE_S = 60.0
_STANDARD = frozenset(STAGES)
_floor = math.floor


def edge_queue_seconds(value: str, now_wall: float) -> float:
    """Seconds since an edge proxy stamped `X-Request-Start` (`t=<s|ms|µs>` or a bare number,
    as nginx, HAProxy and Heroku write it); 0 when absent, unparsable or implausible."""
    raw = value.strip()
    if raw.startswith("t="):
        raw = raw[2:]
    try:
        stamp = float(raw)
    except ValueError:
        return 0.0
    if stamp > 1e14:  # microseconds
        stamp /= 1e6
    elif stamp > 1e11:  # milliseconds
        stamp /= 1e3
    waited = now_wall - stamp
    return waited if 0.0 <= waited <= MAX_EDGE_QUEUE_S else 0.0


def finish_stages(record: RequestRecord, auth_s: float | None, now: float) -> float:
    """Fill `queue` and `auth` and return `total` (seconds), as of the response head at `now`."""
    if auth_s is not None:
        record.stages["auth"] = auth_s
    queue = record.edge_queue_s
    if record.handler_at is not None:
        queue += max(0.0, record.handler_at - record.started - (auth_s or 0.0))
    record.stages["queue"] = queue
    return record.edge_queue_s + (now - record.started)


def header_value(stages: Mapping[str, float], total_s: float) -> str:
    """Stages rounded down and the total rounded up to the microsecond, so that the parts a
    reader adds up never exceed the total because of rounding."""
    names = [n for n in STAGES if n in stages]
    if len(names) != len(stages):  # stages of their own (Stopwatch), after the standard ones
        names += sorted(stages.keys() - _STANDARD)
    parts = [f"{name}={_floor(stages[name] * 1e6) / 1e3:.3f}" for name in names]
    parts.append(f"total={math.ceil(total_s * 1e6) / 1e3:.3f}")
    return ", ".join(parts)


class Stopwatch:
    """`with Stopwatch(record, "assemble"):` adds the block's duration to a stage; a new stage
    name shows up in the header after the standard ones (keep stages disjoint)."""

    __slots__ = ("record", "stage", "t0")

    def __init__(self, record: RequestRecord | None, stage: str) -> None:
        self.record = record
        self.stage = stage
        self.t0 = 0.0

    def __enter__(self) -> Stopwatch:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.record is not None:
            self.record.add_stage(self.stage, time.perf_counter() - self.t0)
