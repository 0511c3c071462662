"""The session's Ray is started without `aigw run`'s policy, as KubeRay's `ray start` starts
one: the Ingress replicas put their own threads under SCHED_BATCH and Serve's HAProxy is put
under it by our wrapper (AIGW_EDGE__CPU_POLICY's default)."""

from __future__ import annotations

import contextlib
import os
from urllib.parse import urlsplit

import psutil
import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling")


def test_ingress_replicas_and_haproxy_run_under_sched_batch(gateway_url, http):
    assert http.get("/monitoring/ready").status_code == 200
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # what started Ray: the default
    ingress = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if "ServeReplica:aigw:Ingress" in " ".join(p.info["cmdline"] or ())
    ]
    port = urlsplit(gateway_url).port
    haproxy = {
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid
    }
    assert ingress and haproxy
    policies = {}
    for pid in [*(int(t) for p in ingress for t in os.listdir(f"/proc/{p}/task")), *haproxy]:
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            policies[pid] = os.sched_getscheduler(pid)
    assert set(policies.values()) == {os.SCHED_BATCH}, policies
