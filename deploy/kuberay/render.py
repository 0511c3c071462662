"""Write deploy/kuberay/rayservice.yaml with serve_config.yaml embedded as `serveConfigV2`.

    python deploy/kuberay/render.py          # rewrite the manifest
    python deploy/kuberay/render.py --check  # exit 1 if the manifest is stale

The serve config is embedded as it is, except `http_options.host`: inside a pod Serve must
listen on all interfaces (the Service in front of it is the boundary), where `make run`
listens on loopback.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVE_CONFIG = ROOT / "serve_config.yaml"
MANIFEST = ROOT / "deploy" / "kuberay" / "rayservice.yaml"
TEMPLATE = ROOT / "deploy" / "kuberay" / "rayservice.template.yaml"
POD_HOST = "0.0.0.0"
_HOST_LINE = re.compile(r"^(\s+host:\s*)(\S+)", re.MULTILINE)


def embedded_serve_config(text: str) -> str:
    replaced, count = _HOST_LINE.subn(lambda m: f"{m.group(1)}{POD_HOST}", text, count=1)
    if count != 1:
        raise SystemExit("serve_config.yaml: no http_options.host line to set for pods")
    return replaced


def render() -> str:
    body = embedded_serve_config(SERVE_CONFIG.read_text())
    indented = "".join(f"    {line}" if line.strip() else "\n" for line in body.splitlines(True))
    return TEMPLATE.read_text().replace("    {{ serve_config }}\n", indented)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if MANIFEST.read_text() != text:
            print(f"{MANIFEST} is stale: run python deploy/kuberay/render.py", file=sys.stderr)
            return 1
        return 0
    MANIFEST.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
