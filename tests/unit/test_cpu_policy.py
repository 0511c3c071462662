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
