"""How the access log writes its numbers and times: exactly as the builtins the log used wrote
them, in fewer instructions (each helper's unit test compares it with the builtin).

`round6` / `round3` are `round(x, 6)` / `round(x, 3)`. The builtin rounds through a correctly
rounded decimal string and parses it back (~3,400 instructions; an access line rounds a dozen
values). For a positive `x` below `_LIMIT`, the product `x * 10**n` is within 2**-15 of the
exact one, so when it is not within 1e-4 of a tie its nearest integer `k` is the exact
product's, which is what the builtin rounds to; `k / 10**n` (two exact doubles) is then the
double nearest to k·10**-n, as the builtin's parse is. Anything else (ties, zero, negatives,
large values, NaN, an int) goes to the builtin.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

_LIMIT = 1e5  # x·10**6 < 1e11 < 2**37: the product's error is at most 2**-15
_floor = math.floor


def _rounding(digits: int) -> Callable[[float], float]:
    scale = 10.0**digits  # exact for these powers of ten

    def rounded(x: float) -> float:
        if type(x) is float and 0.0 < x < _LIMIT:
            scaled = x * scale
            k = _floor(scaled + 0.5)
            if -0.4999 < scaled - k < 0.4999:
                return k / scale
        return round(x, digits)

    return rounded


round6 = _rounding(6)
round3 = _rounding(3)


# (second, its "YYYY-MM-DDTHH:MM:SS" in UTC) of the last stamp: one tuple, read and replaced
# whole, so the loop thread and the log writer can share it.
_second: tuple[int, str] = (-1, "")


def iso_utc(ts: float, microseconds: bool = False) -> str:
    """`datetime.fromtimestamp(ts, UTC).isoformat()` (`timespec="microseconds"` when
    `microseconds`): only the microseconds are formatted per call, the date and time once per
    second. The microseconds are rounded as datetime rounds them (half to even, of the
    fraction times 1e6)."""
    global _second
    if not 0.0 <= ts < 1e11:  # negative, NaN, inf, past year 5000: as datetime does it
        return _stamp(ts, microseconds)
    second = _floor(ts)
    micro = round((ts - second) * 1e6)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    cached = _second
    if cached[0] != second:
        cached = _second = (second, _stamp(second, False)[:19])
    if micro or microseconds:
        return f"{cached[1]}.{micro:06d}+00:00"
    return cached[1] + "+00:00"


def _stamp(ts: float, microseconds: bool) -> str:
    when = datetime.fromtimestamp(ts, UTC)
    return when.isoformat(timespec="microseconds") if microseconds else when.isoformat()
