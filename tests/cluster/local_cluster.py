"""A multi-node Ray cluster on one machine: each node is its own `ray start --block` process
(a head, then workers with their own resources), so one node can be stopped without touching
the others or any other Ray on the machine (`ray stop` would end every Ray of this user)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.isolation import free_port

RAY = str(Path(sys.executable).with_name("ray"))
# A raylet waits `agent_register_timeout_ms` (Ray 2.60: 30 s) for its dashboard and runtime-env
# agents, then exits (the runtime-env agent client gives up with it); on a loaded 2-core
# machine the agents' Python start-up can take longer. Giving them two minutes makes a node
# start slowly instead of dying and being started again from scratch.
AGENT_START_MS = "120000"


@dataclass
class Node:
    name: str
    proc: subprocess.Popen[bytes]
    temp_dir: Path
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class LocalCluster:
    """Nodes started by this object, stopped by it (process group by process group)."""

    env: dict[str, str]
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="aigwc-", dir="/tmp")))
    gcs_port: int = field(default_factory=free_port)
    nodes: list[Node] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    def _start(
        self, name: str, args: list[str], num_cpus: float, resources: dict[str, float]
    ) -> Node:
        temp_dir = self.root / name
        temp_dir.mkdir(parents=True, exist_ok=True)
        log = self.root / f"{name}.log"
        cmd = [
            RAY,
            "start",
            "--block",
            *args,
            f"--num-cpus={num_cpus:g}",
            f"--resources={json.dumps(resources)}",
            f"--temp-dir={temp_dir}",
            # Fixed defaults that two nodes of one machine (or another Ray beside them) share.
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            "--disable-usage-stats",
        ]
        env = {"RAY_agent_register_timeout_ms": AGENT_START_MS, **self.env}
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        node = Node(name, proc, temp_dir, log)
        self.nodes.append(node)
        return node

    def start_head(self, num_cpus: float, resources: dict[str, float], attempts: int = 3) -> Node:
        """The head node, with this process connected to it as the driver (on the head's
        raylet: Ray prefers the head when several nodes share the host). A raylet gives its
        agents a fixed 15 s to start and dies otherwise, which a loaded 2-core machine can
        miss without AGENT_START_MS: then try again, on a fresh port."""
        import ray

        for attempt in range(1, attempts + 1):
            args = [
                "--head",
                f"--port={self.gcs_port}",
                "--include-dashboard=false",
                f"--ray-client-server-port={free_port()}",
            ]
            node = self._start(f"head-{attempt}", args, num_cpus, resources)
            deadline = time.monotonic() + 120
            while node.alive() and time.monotonic() < deadline:
                try:
                    ray.init(address=self.address, namespace="serve", log_to_driver=False)
                    return node
                except ConnectionError:
                    time.sleep(0.25)
            self.stop(node, graceful=False)
            self.gcs_port = free_port()
        raise RuntimeError(f"the head did not start:\n{self.logs()}")

    def join_worker(
        self, name: str, num_cpus: float, resources: dict[str, float], attempts: int = 4
    ) -> Node:
        """A worker node, once the cluster counts it alive. A raylet gives its agents a fixed
        15 s to start and dies otherwise, which a loaded 2-core machine can miss: try again."""
        import ray

        def joined(node: Node) -> bool:
            return any(
                n["Alive"]
                and n["NodeManagerPort"]
                and n["Resources"].keys() >= resources.keys()
                and str(node.temp_dir) in n.get("ObjectStoreSocketName", "")
                for n in ray.nodes()
            )

        for attempt in range(1, attempts + 1):
            node = self._start(
                f"{name}-{attempt}", [f"--address={self.address}"], num_cpus, resources
            )
            deadline = time.monotonic() + 120
            while node.alive() and time.monotonic() < deadline:
                if joined(node):
                    return node
                time.sleep(0.5)
            self.stop(node, graceful=False)
        raise RuntimeError(f"worker {name} did not join:\n{self.logs()}")

    def stop(self, node: Node, graceful: bool = True, timeout_s: float = 40.0) -> None:
        """What `ray stop` does, for this node only: SIGTERM to its `ray start`, which drains
        the node and stops its raylet and workers; then SIGKILL to the process group of
        whatever is left (everything at once when not `graceful`: a crashed node)."""
        if graceful and node.alive():
            node.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()

    def shutdown(self) -> None:
        for node in reversed(self.nodes):
            self.stop(node, graceful=False)
        self.nodes.clear()

    def logs(self, lines: int = 40) -> str:
        out = []
        for log in sorted(self.root.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(out)


def wait_for(
    what: str, check: Callable[[], bool], timeout_s: float, interval_s: float = 0.25
) -> float:
    """Poll `check()` until truthy; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(interval_s)
    raise TimeoutError(f"{what}: not after {timeout_s}s")
