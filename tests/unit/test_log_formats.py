"""The access log's durations and times are written as the builtins wrote them: the faster
helpers must give the same value (the same JSON text) for every input."""

from __future__ import annotations

import math
import random

from observability.formats import round3, round6


def _same(fast: object, builtin: object) -> bool:
    return type(fast) is type(builtin) and repr(fast) == repr(builtin)


def test_rounding_helpers_equal_the_builtin_everywhere():
    rng = random.Random(6)
    values: list[float] = [0.0, -0.0, 1e-7, 5e-7, 4.999999e-7, 1.5e-6, 2.5e-6, 0.0000125,
                           0.0005, 0.0015, 1e5, math.nextafter(1e5, 0), 1e5 + 1, 1e300,
                           -0.25, -1e-6, math.inf, -math.inf, math.nan, 0.1, 0.7, 1.0]  # fmt: skip
    for _ in range(60_000):  # durations as logged: µs to minutes, every magnitude
        values.append(10 ** rng.uniform(-9, 6))
    for _ in range(30_000):  # exact decimal ties and their neighbours (the hard cases)
        for scale in (1e6, 1e3):
            tie = (rng.randrange(0, 10**8) + 0.5) / scale
            values += [tie, math.nextafter(tie, 0), math.nextafter(tie, math.inf)]
    for x in values:
        assert _same(round6(x), round(x, 6)), x
        assert _same(round3(x), round(x, 3)), x
    for n in (0, 1, 7, -3):  # an int stays an int, as the builtin leaves it
        assert _same(round6(n), round(n, 6)) and _same(round3(n), round(n, 3))  # type: ignore[arg-type]


def test_timestamps_are_written_as_datetime_isoformat_writes_them():
    from datetime import UTC, datetime

    from observability.formats import iso_utc

    rng = random.Random(3)
    stamps = [0.0, 1.0, 0.5e-6, 1.5e-6, 2.5e-6, 1764883179.0, 1764883179.9999995,
              1764883179.0000004, 1764883179.0000005, 1764883179.9999999, 253402300799.0,
              9.99e10, 1e11, -1.5, -0.0000004]  # fmt: skip
    for _ in range(30_000):  # seconds apart, milliseconds apart, and shared seconds
        base = rng.choice([rng.uniform(0, 4e9), 1764883179 + rng.uniform(0, 3)])
        stamps += [base, math.nextafter(base, 0), round(base, 6), int(base) + rng.random()]
    for ts in stamps:
        when = datetime.fromtimestamp(ts, UTC)
        assert iso_utc(ts) == when.isoformat(), ts
        assert iso_utc(ts, microseconds=True) == when.isoformat(timespec="microseconds"), ts
