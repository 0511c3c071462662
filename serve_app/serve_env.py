"""Ray Serve's process-level knobs, exported by the launchers before Ray starts.

Ray Serve reads them from the environment of the processes it starts (DESIGN.md rule 6), so
they cannot travel as deployment arguments like the gateway's own settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.edge_settings import EdgeSettings, Listener
    from serve_app.haproxy import EdgeFlags

# An operator's value wins over these.
SERVE_ENV_DEFAULTS: dict[str, str] = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1",
    "RAY_SERVE_PROXY_MIN_DRAINING_PERIOD_S": "1",
    # Serve's per-request HAProxy metrics: HAProxy writes a line per request to a socket that
    # Serve's proxy actor parses in Python, 0.09-0.11 ms of CPU per request (a third of the
    # Serve floor), for counts the gateway's own `http_requests_total` / `..._duration_...`
    # already record. HAProxy's native exporter (`AIGW_EDGE__METRICS_PORT`) stays on and
    # counts what HAProxy answers itself (502/503/504).
    "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
}
# Unless the operator names a binary (other than one of our wrappers), Serve's HAProxy runs through
# our wrapper: splice() off, AIGW_EDGE__* applied (serve_app/haproxy.py).
HAPROXY_BINARY = "RAY_SERVE_HAPROXY_BINARY_PATH"


# The knob of each port `aigw run` derives (core/settings.py `Config.listeners`).
PORT_KNOBS = {
    "AIGW_EDGE__STATS_PORT": "RAY_SERVE_HAPROXY_STATS_PORT",
    "AIGW_EDGE__METRICS_PORT": "RAY_SERVE_HAPROXY_METRICS_PORT",
    "AIGW_EDGE__FALLBACK_PORT": "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT",
}


def edge_flags(edge: EdgeSettings | None = None) -> EdgeFlags:
    """What Serve's HAProxy wrapper applies: `edge`, else this environment's AIGW_EDGE__*."""
    from core.settings import Config
    from serve_app.haproxy import EdgeFlags

    edge = edge or Config().edge
    return EdgeFlags(edge.aux_host, edge.request_header_timeout_s, edge.request_body_timeout_s)


def port_env(listeners: list[Listener]) -> dict[str, str]:
    """Serve's port knobs for these listeners: overrides for `export_serve_env`."""
    return {PORT_KNOBS[x.setting]: str(x.port) for x in listeners if x.setting in PORT_KNOBS}


def export_serve_env(
    overrides: dict[str, str] | None = None, flags: EdgeFlags | None = None
) -> dict[str, str]:
    """Put Ray Serve's process-level knobs into this process's environment before `ray.init`.

    Values already present are kept; `overrides` always win. The HAProxy wrapper applies
    `flags` (default: `edge_flags()`). Returns the effective values.
    """
    from core.edge_settings import RayServeEnv
    from serve_app.haproxy import is_wrapper, nosplice_wrapper

    overrides = overrides or {}
    wanted = {**SERVE_ENV_DEFAULTS, **overrides}
    present = RayServeEnv().present()  # type: ignore[call-arg]  # read from the environment
    haproxy_on = present.get("RAY_SERVE_ENABLE_HA_PROXY", wanted["RAY_SERVE_ENABLE_HA_PROXY"])
    named = present.get(HAPROXY_BINARY)
    # The image's wrapper holds the settings of its build; this process may have others.
    ours = named is not None and is_wrapper(named)
    wrapper = None
    if haproxy_on == "1" and (named is None or ours) and HAPROXY_BINARY not in wanted:
        cache = Path.home() / ".cache" / "aigw-serve" / "bin"
        wrapper = nosplice_wrapper(cache, flags or edge_flags())
    effective = {
        key: value if key in overrides else present.get(key, value) for key, value in wanted.items()
    }
    if wrapper is not None:
        effective[HAPROXY_BINARY] = wrapper
    RayServeEnv.export(effective)
    return effective
