"""CPU seconds spent by the processes serving a Serve application: a steadier measure than RPS
on a shared machine (what one request costs, whatever else competes for the cores)."""

from __future__ import annotations

import psutil

# Serve's proxy actor: it runs HAProxy, and with Serve's per-request HAProxy metrics on it
# parses a log line for every request (RAY_SERVE_HAPROXY_METRICS_ENABLED, serve_app/serve_env.py).
PROXY_ACTOR_MARKERS = ("ray::ProxyActor", "ray::HAProxyManager")


def app_cpu_seconds(app_name: str) -> float:
    """User + system CPU of every replica of `app_name`, of Serve's HAProxy ingress and of the
    proxy actor that runs it (the last two are shared by every app of the Serve instance)."""
    marker = f"ServeReplica:{app_name}:"
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or ())
            if (
                marker in cmdline
                or proc.info["name"] == "haproxy"
                or cmdline.startswith(PROXY_ACTOR_MARKERS)
            ):
                times = proc.cpu_times()
                total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total
