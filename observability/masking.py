"""Secrets out of log lines: fields whose names say they hold one, and strings that look like
a credential (API.md §8.2: tokens and API keys never reach a log)."""

from __future__ import annotations

import re
from typing import Any

MASK = "**********"

_SECRET_NAMES = frozenset(
    {
        "api_key",
        "authorization",
        "proxy-authorization",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "password",
        "secret",
        "private_key",
        "signing_key",
        "validation_key",
        "cookie",
        "x-api-key",
        "x-goog-api-key",
    }
)
# Values that are credentials whatever their key: bearer headers, JWTs, provider keys.
_SECRET_VALUE = re.compile(
    r"(?i)\bbearer\s+\S+|\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]+|\b(?:sk|glpat|gl[a-z]{2,4})-[\w-]{8,}"
)


# The userinfo of a URL (`scheme://user:password@host`), up to the authority's last `@`.
_URL_USERINFO = re.compile(r"(?<=://)[^\s/?#\"'<>\\]*@")


# The same few dozen field names, line after line: a dict lookup, not an lru_cache call (whose
# bookkeeping cost more than the test it saves, ~40 times per access line).
_SECRET_KEYS: dict[str, bool] = {}
_SECRET_KEYS_MAX = 4096


def _secret_key(key: str) -> bool:
    known = _SECRET_KEYS.get(key)
    if known is None:
        k = key.lower()
        known = k in _SECRET_NAMES or k.endswith(("_api_key", "-api-key", "_secret", "_password"))
        if len(_SECRET_KEYS) < _SECRET_KEYS_MAX:
            _SECRET_KEYS[key] = known
    return known


_MIN_SECRET_LEN = 16  # shorter strings cannot hold the credentials matched above


def _mask_str(value: str) -> str:
    if "@" in value and "://" in value:  # a URL's credentials, wherever the URL is logged
        value = _URL_USERINFO.sub(MASK + "@", value)
    if len(value) < _MIN_SECRET_LEN:
        return value
    if value.isascii() and not _may_hold_secret(value.lower()):
        return value  # the cheap test spares the regex for almost every field
    return _SECRET_VALUE.sub(MASK, value)


def _may_hold_secret(lowered: str) -> bool:
    """Whether `_SECRET_VALUE` can match an ASCII text (given lower-cased): each of its
    branches needs `bearer`, `eyj`, `sk-` or `gl` and a `-` (the regex ignores case, and for
    ASCII that is what lower-casing does). Every access line has a timestamp, its arrival time
    and its message with a `-` in them: the regex tried at each of their characters was ~2 % of
    a completion's CPU, and none of them can match."""
    return (
        "bearer" in lowered
        or "eyj" in lowered
        or "sk-" in lowered
        or ("gl" in lowered and "-" in lowered)
    )


def mask(value: Any, depth: int = 0) -> Any:
    """A copy of `value` with every secret-named field and credential-looking string masked."""
    if isinstance(value, str):
        return _mask_str(value)
    if depth > 8:
        return value
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        mask_into(out, value, depth)
        return out
    if isinstance(value, list | tuple):
        return [mask(v, depth + 1) for v in value]
    return value


# Longer strings `_mask_str` left as they were: most of an access line's text (its path, url,
# content type, model, feature) is the same line after line, and a set lookup is a fraction of
# the test. Cleared when full, as ids and times that never come back fill it.
_CLEAN: set[str] = set()
_CLEAN_MAX = 4096
_CLEAN_LEN_MAX = 512

# Values that cannot hold a credential, told apart by exact type before any other test (a str
# subclass, a dict subclass... still go through the general tests below).
_PLAIN = frozenset({int, float, bool, type(None)})


def mask_into(out: dict[Any, Any], fields: dict[Any, Any], depth: int) -> None:
    """`mask` of each of `fields`' items, written into `out` (in order): inlined for the
    scalars that make up most of an access line's ~40 fields."""
    for k, v in fields.items():
        secret = _SECRET_KEYS.get(k)
        if secret is None:
            secret = isinstance(k, str) and _secret_key(k)
        if secret and v:
            out[k] = MASK
        elif type(v) in _PLAIN:
            out[k] = v
        elif isinstance(v, str):
            # `_mask_str` leaves a short string without an `@` as it is: not called for one.
            if (len(v) < _MIN_SECRET_LEN and "@" not in v) or v in _CLEAN:
                out[k] = v
            else:
                out[k] = masked = _mask_str(v)
                if masked is v and len(v) <= _CLEAN_LEN_MAX:
                    if len(_CLEAN) >= _CLEAN_MAX:
                        _CLEAN.clear()
                    _CLEAN.add(v)
        elif isinstance(v, dict | list | tuple):
            out[k] = mask(v, depth + 1)
        else:
            out[k] = v
