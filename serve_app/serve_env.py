"""Ray Serve's process-level knobs, exported by the launchers before Ray starts.

Ray Serve reads them from the environment of the processes it starts (DESIGN.md rule 6), so
they cannot travel as deployment arguments like the gateway's own settings."""

from __future__ import annotations

import os
from pathlib import Path

# An operator's value wins over these.
SERVE_ENV_DEFAULTS: dict[str, str] = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1",
    "RAY_SERVE_PROXY_MIN_DRAINING_PERIOD_S": "1",
}
# Unless the operator names a binary, Serve's HAProxy runs with splice() off (serve_app/haproxy.py).
HAPROXY_BINARY = "RAY_SERVE_HAPROXY_BINARY_PATH"


def export_serve_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Put Ray Serve's process-level knobs into this process's environment before `ray.init`.

    Values already present are kept; `overrides` always win. Returns the effective values.
    """
    wanted = {**SERVE_ENV_DEFAULTS, **(overrides or {})}
    haproxy_on = os.environ.get("RAY_SERVE_ENABLE_HA_PROXY", wanted["RAY_SERVE_ENABLE_HA_PROXY"])
    if haproxy_on == "1" and HAPROXY_BINARY not in os.environ and HAPROXY_BINARY not in wanted:
        from serve_app.haproxy import nosplice_wrapper

        wrapper = nosplice_wrapper(Path.home() / ".cache" / "aigw-serve" / "bin")
        if wrapper is not None:
            wanted[HAPROXY_BINARY] = wrapper
    for key, value in wanted.items():
        if overrides and key in overrides:
            os.environ[key] = value
        else:
            os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in wanted}


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus `extra`, for a helper process the tools start."""
    return {**os.environ, **(extra or {})}
