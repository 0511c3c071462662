"""`aigw run` checks every port it will open before it starts Ray.

A taken port otherwise surfaces minutes later as a wall of Ray tracebacks from the HAProxy or
proxy actor, with Ray's processes left to clean up. Here it is one line naming the port and the
setting that chose it, and nothing has started yet.
"""

from __future__ import annotations

import errno
import socket

from core.edge_settings import Listener


def bind_error(host: str, port: int) -> OSError | None:
    """Why a server could not listen on `host:port` now, or None when it could."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As servers do: a port whose last connections linger in TIME_WAIT is free to listen on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(1)
        except OSError as exc:
            return exc
    return None


def port_problem(listeners: list[Listener]) -> str | None:
    """The first reason these listeners cannot all open, as one line; None when they can."""
    named: dict[int, str] = {}
    for listener in listeners:
        port, setting = listener.port, listener.setting
        if not 1 <= port <= 65535:
            return f"port {port} ({setting}) is out of range: set it"
        if port in named:
            return f"port {port} ({setting}) is also {named[port]}: set one of them"
        named[port] = setting
        error = bind_error(listener.host, port)
        if error is None:
            continue
        if error.errno == errno.EADDRINUSE:
            return f"port {port} ({setting}) is in use"
        return f"cannot listen on {listener.host}:{port} ({setting}): {error.strerror}"
    return None
