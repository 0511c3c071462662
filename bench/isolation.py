"""Ray Serve process knobs that let several Serve instances share one machine (tests, bench).

HAProxy mode opens fixed ports (stats 8404, metrics 9101, fallback proxy 8500/9500) and
writes under /tmp/haproxy-serve; a second instance needs its own of each.
"""

from __future__ import annotations

import random
import socket
import tempfile
from pathlib import Path
from typing import Any

# Above Ray's worker ports (10002-19999 by default), below the kernel's ephemeral range.
_FIRST_PORT = 20000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _binds(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A free port outside the kernel's ephemeral range. A port the kernel hands out is also
    the local end of the next outgoing connection: Ray's processes open many, and one took the
    port between this check and HAProxy's bind ("cannot bind socket (Address already in use)")."""
    end = _ephemeral_start()
    if end - _FIRST_PORT >= 1000:
        for candidate in random.sample(range(_FIRST_PORT, end), 100):
            if _binds(candidate):
                return candidate
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def isolated_serve_env() -> dict[str, str]:
    # HAProxy caps unix socket paths at 97 bytes and Serve adds a 56-char node id: stay short.
    d = tempfile.mkdtemp(prefix="aigw-", dir="/tmp")
    return {
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{d}/haproxy.cfg",
        "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{d}/admin.sock",
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": d,
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{d}/server-state",
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": f"{d}/metrics.sock",
    }


def init_ray(attempts: int = 3, **kwargs: Any) -> None:
    """A fresh local Ray. Ray gives its raylet a fixed 30 s to register, which a loaded 2-core
    machine can miss; a second try then succeeds. `kwargs` go to `ray.init` (and may replace
    its namespace)."""
    import ray

    options = {"address": "local", "include_dashboard": False, "namespace": "serve", **kwargs}
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**options)
            return
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == attempts:
                raise
            ray.shutdown()


def init_ray_as_aigw_run(**kwargs: Any) -> None:
    """`init_ray` under `AIGW_EDGE__CPU_POLICY`, as `aigw run` starts Ray, for the benches (the
    load client they start later keeps the default policy; the test suite's Ray does not use
    this)."""
    from core.settings import Config
    from serve_app.cpu_policy import started_under

    with started_under(Config().edge.cpu_policy):
        init_ray(**kwargs)
