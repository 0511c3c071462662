"""CPU seconds spent by the processes serving a Serve application: a steadier measure than RPS
on a shared machine (what one request costs, whatever else competes for the cores)."""

from __future__ import annotations

import psutil


def app_cpu_seconds(app_name: str) -> float:
    """User + system CPU of every replica of `app_name` and of Serve's HAProxy ingress."""
    marker = f"ServeReplica:{app_name}:"
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or ())
            if marker in cmdline or proc.info["name"] == "haproxy":
                times = proc.cpu_times()
                total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total
