"""`aigw run`: serve the gateway graph of serve_config.yaml on an embedded Ray, in the foreground.

Ctrl-C or SIGTERM shuts down Serve and the Ray it started, leaving no processes behind.
`aigw docs-index PATH`: build the local docs search index from a folder of Markdown docs.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import yaml

from core.settings import Config
from serve_app import docs_index
from serve_app.cpu_policy import started_under
from serve_app.ports import port_problem
from serve_app.ray_ports import dashboard_agent_port, free_port
from serve_app.replicas import fit_ingress_replicas, machine_cpus
from serve_app.serve_env import edge_flags, export_serve_env, port_env

STARTUP_TIMEOUT_S = 300.0


def load_serve_config(path: Path, settings: Config, full: bool = True) -> dict[str, Any]:
    """serve_config.yaml with `AIGW_FASTAPI__API_HOST` / `__API_PORT` applied when set; only
    its `http_options` made final unless `full` (the rest imports Ray Serve)."""
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    http = config.setdefault("http_options", {})
    if settings.explicitly_set("fastapi", "api_host"):
        http["host"] = settings.fastapi.api_host
    if settings.explicitly_set("fastapi", "api_port"):
        http["port"] = settings.fastapi.api_port
    http.setdefault("host", "127.0.0.1")
    http.setdefault("port", 5052)
    for app in config.get("applications", []) if full else []:
        if app.get("import_path") == "serve_app.app:build_app" and app.get("deployments"):
            from serve_app.app import built_deployments

            built = built_deployments(app.get("args"))
            app["deployments"] = [d for d in app["deployments"] if d.get("name") in built]
    return config


def metrics_url(settings: Config, port: int | None = None) -> str:
    """Where Prometheus scrapes: Ray's metrics export port, which binds every interface."""
    host = settings.fastapi.metrics_host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{host}:{port or settings.fastapi.metrics_port}/metrics"


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def wait_until_serving(base_url: str, timeout_s: float = STARTUP_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/monitoring/healthz", timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def run(config_path: Path, num_cpus: int | None) -> int:
    settings = Config()
    http = load_serve_config(config_path, settings, full=False)["http_options"]
    host, port = http["host"], http["port"]
    listeners = settings.listeners(host, port)
    problem = port_problem(listeners)
    if problem is not None:
        print(f"aigw: {problem}", file=sys.stderr)
        return 1
    metrics_port = next(x.port for x in listeners if x.setting == "AIGW_FASTAPI__METRICS_PORT")
    agent_port = next(
        (x.port for x in listeners if x.setting == "AIGW_EDGE__DASHBOARD_AGENT_PORT"), None
    )
    # The derived ports replace any RAY_SERVE_* value: they are the ones just checked.
    export_serve_env(port_env(listeners), edge_flags(settings.edge))
    config = load_serve_config(config_path, settings)
    fitted = fit_ingress_replicas(config, num_cpus or machine_cpus())
    if fitted:
        print(f"aigw-serve: {fitted}", flush=True)

    import ray
    from ray import serve
    from ray.serve._private import api as serve_api
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(config)
    base_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    try:
        with (
            dashboard_agent_port(agent_port or free_port()),
            started_under(settings.edge.cpu_policy),
        ):
            ray.init(
                address="local",
                namespace="serve",
                include_dashboard=False,
                num_cpus=num_cpus,
                # Ray's metrics agent serves every replica's metrics on this node (issue 8).
                _metrics_export_port=metrics_port,
            )
        # After ray.init, which installs its own SIGTERM handler.
        signal.signal(signal.SIGTERM, _raise_stop)
        signal.signal(signal.SIGINT, _raise_stop)
        client = serve_api.serve_start(
            http_options=schema.http_options.model_dump(),
            proxy_location=schema.proxy_location,
        )
        client.deploy_apps(schema, _blocking=False)
        print(f"aigw-serve: deploying {config_path} ...", flush=True)
        if not wait_until_serving(base_url):
            print("aigw-serve: the gateway did not come up; see the log above", file=sys.stderr)
            return 1
        print(f"aigw-serve: serving on {base_url}", flush=True)
        metrics = metrics_url(settings, metrics_port)
        print(f"aigw-serve: metrics at {metrics} (names prefixed ray_)", flush=True)
        if settings.fastapi.docs_url:
            print(f"aigw-serve: API docs at {base_url}{settings.fastapi.docs_url}", flush=True)
        if settings.mock_model_responses:
            print("aigw-serve: mock mode: every model answers with an echo", flush=True)
        while True:
            time.sleep(3600)
    except (_Stop, KeyboardInterrupt):
        print("aigw-serve: shutting down ...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if ray.is_initialized():
            try:
                serve.shutdown()
            finally:
                ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aigw", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="serve the gateway in the foreground")
    run_parser.add_argument("--config", type=Path, default=Path("serve_config.yaml"))
    run_parser.add_argument("--num-cpus", type=int, default=None)
    docs_index.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.config, args.num_cpus)
    if args.command == "docs-index":
        return docs_index.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
