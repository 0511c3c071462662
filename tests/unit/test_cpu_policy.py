"""`started_under`: what `aigw run` wraps around `ray.init` so that Ray's processes, the
replicas and HAProxy run under SCHED_BATCH, while nothing started after (a benchmark's load
client) does, and an operator's own policy is left alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.settings import Config

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling")

# Runs in a child, so that the test process's own thread keeps its policy whatever happens.
PROBE = """
import os, subprocess, sys
from serve_app.cpu_policy import started_under

child = [sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"]
if sys.argv[2] == "idle":
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
with started_under(sys.argv[1]) as applied:
    inside = subprocess.run(child, capture_output=True, text=True).stdout.strip()
after = subprocess.run(child, capture_output=True, text=True).stdout.strip()
print(applied, inside, after, os.sched_getscheduler(0))
"""


def _probe(policy: str, start: str = "default") -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, policy, start],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    return out.stdout.split()


def test_batch_reaches_processes_started_inside_only():
    applied, inside, after, own = _probe("batch")
    assert applied == "True"
    assert int(inside) == os.SCHED_BATCH
    assert int(after) == os.SCHED_OTHER  # e.g. the benchmark's curl
    assert int(own) == os.SCHED_OTHER


def test_normal_changes_nothing():
    applied, inside, after, own = _probe("normal")
    assert applied == "False"
    assert int(inside) == int(after) == int(own) == os.SCHED_OTHER


def test_an_operators_own_policy_wins():
    applied, inside, after, own = _probe("batch", start="idle")
    assert applied == "False"
    assert int(inside) == int(after) == int(own) == os.SCHED_IDLE


def test_the_setting_defaults_to_batch_and_takes_normal(monkeypatch):
    assert Config().edge.cpu_policy == "batch"
    monkeypatch.setenv("AIGW_EDGE__CPU_POLICY", "normal")
    assert Config().edge.cpu_policy == "normal"
    monkeypatch.setenv("AIGW_EDGE__CPU_POLICY", "fifo")
    with pytest.raises(ValueError):
        Config()


THREADS = """
import os, threading
from serve_app.cpu_policy import apply_to_this_process

stop = threading.Event()
early = threading.Thread(target=stop.wait)
early.start()
changed = apply_to_this_process(os.environ["POLICY"])
late = threading.Thread(target=stop.wait)
late.start()
policies = {os.sched_getscheduler(int(t)) for t in os.listdir("/proc/self/task")}
stop.set()
print(changed, *sorted(policies))
"""


@pytest.mark.parametrize(("policy", "changed", "policies"), [("batch", 2, {3}), ("normal", 0, {0})])
def test_a_replica_puts_its_threads_and_later_ones_under_the_policy(policy, changed, policies):
    # Under a launcher that is not `aigw run` (KubeRay) the Ingress replica does it itself.
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", THREADS],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={**os.environ, "POLICY": policy},
    ).stdout.split()
    assert int(out[0]) == changed  # the main thread and the one started before
    assert {int(p) for p in out[1:]} == policies
