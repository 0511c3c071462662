"""Ports of the embedded Ray that `ray.init` has no parameter for (Ray 2.60)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dashboard_agent_port(port: int) -> Iterator[None]:
    """While it is open, a Ray started by `ray.init` gives its dashboard agent's HTTP server
    `port` instead of the fixed 52365, which a second gateway on the host could not bind (the
    agent then logs an error and serves no HTTP). `ray start` has
    `--dashboard-agent-listen-port`; `ray.init` builds the same `RayParams` without it."""
    from ray._private import parameter

    original = parameter.RayParams

    class WithAgentPort(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("dashboard_agent_listen_port", port)
            super().__init__(*args, **kwargs)

    parameter.RayParams = WithAgentPort  # type: ignore[misc]
    try:
        yield
    finally:
        parameter.RayParams = original  # type: ignore[misc]
