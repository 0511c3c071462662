"""Per-stage timing: the `X-Gateway-Timing` header, the arrival stamp, and a summary of many
headers for `make bench`.

`X-Gateway-Timing: queue=0.412, auth=0.101, route=0.020, assemble=1.203, backend_ttfb=35.010,
post=0.090, total=38.100` — milliseconds. The stages are disjoint intervals of the request, so
they add up to at most `total` (time from arrival to the response head); what `total` has on
top of the stages is framework work between them (routing, body parsing, serialisation).
`backend_ttfb` is time spent waiting on the model (the whole call when not streaming, the first
chunk when streaming); everything else is what the gateway adds.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable, Mapping

from serve_app.observability.record import STAGES, RequestRecord

HEADER = "X-Gateway-Timing"
EDGE_HEADER = b"x-request-start"
# An edge stamp further away than this is a clock problem, not a queue.
MAX_EDGE_QUEUE_S = 60.0


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
    names = [n for n in STAGES if n in stages] + sorted(set(stages) - set(STAGES))
    parts = [f"{name}={math.floor(stages[name] * 1e6) / 1e3:.3f}" for name in names]
    parts.append(f"total={math.ceil(total_s * 1e6) / 1e3:.3f}")
    return ", ".join(parts)


def parse(value: str) -> dict[str, float]:
    """`X-Gateway-Timing` back into {stage: milliseconds}; unknown pieces are skipped."""
    out: dict[str, float] = {}
    for piece in value.split(","):
        name, sep, number = piece.strip().partition("=")
        if not sep:
            continue
        try:
            out[name.strip()] = float(number)
        except ValueError:
            continue
    return out


def _percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def summarise(headers: Iterable[str | None]) -> dict[str, dict[str, float]]:
    """For `make bench`: {stage: {n, mean, p50, p90, p99}} in ms over the responses' headers,
    plus `gateway` = total - backend_ttfb, the time the gateway itself added."""
    samples: dict[str, list[float]] = {}
    for value in headers:
        if not value:
            continue
        stages = parse(value)
        for name, ms in stages.items():
            samples.setdefault(name, []).append(ms)
        if "total" in stages:
            gateway = stages["total"] - stages.get("backend_ttfb", 0.0)
            samples.setdefault("gateway", []).append(gateway)
    summary: dict[str, dict[str, float]] = {}
    for name, values in samples.items():
        values.sort()
        summary[name] = {
            "n": float(len(values)),
            "mean": statistics.fmean(values),
            "p50": _percentile(values, 0.50),
            "p90": _percentile(values, 0.90),
            "p99": _percentile(values, 0.99),
        }
    return summary


def format_summary(summary: Mapping[str, Mapping[str, float]]) -> str:
    """A small table of `summarise`'s result, stages in request order."""
    order = [*STAGES, "total", "gateway"]
    names = [n for n in order if n in summary] + sorted(set(summary) - set(order))
    lines = [f"{'stage':<14}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'mean ms':>10}"]
    for name in names:
        s = summary[name]
        lines.append(
            f"{name:<14}{s['p50']:>10.3f}{s['p90']:>10.3f}{s['p99']:>10.3f}{s['mean']:>10.3f}"
        )
    return "\n".join(lines)


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
