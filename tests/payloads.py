"""Request bodies a real client sends, shared by unit and integration tests."""

from __future__ import annotations

from typing import Any


def v2_body(version: int = 1, stream: bool = False, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_version": version,
        "project_path": "gitlab-org/gitlab",
        "project_id": 278964,
        "current_file": {
            "file_name": "app/models/user.py",
            "content_above_cursor": "def greet(name):\n    ",
            "content_below_cursor": "\n\nprint(greet('x'))\n",
        },
        "stream": stream,
        # Real clients send fields the contract does not list; they must be ignored.
        "metadata": {"source": "vscode"},
    }
    if version == 2:
        body["prompt"] = "<prompt built by the caller>"
    if version == 3:
        body["prompt"] = [
            {"role": "system", "content": "You complete code."},
            {"role": "user", "content": "def greet(name):"},
        ]
    body.update(extra)
    return body


def v3_body(
    kind: str = "code_editor_completion", stream: bool = False, **payload: Any
) -> dict[str, Any]:
    return {
        "prompt_components": [
            {
                "type": kind,
                "payload": {
                    "file_name": "main.go",
                    "content_above_cursor": "package main\n\nfunc main() {\n\t",
                    "content_below_cursor": "\n}\n",
                    "language_identifier": "go",
                    "stream": stream,
                    **payload,
                },
                "metadata": {"source": "GitLab EE", "version": "17.5.0"},
            }
        ]
    }


def parse_sse(text: str) -> list[tuple[str, str]]:
    """(event, data) pairs of an SSE body; insists on CRLF framing and event-before-data."""
    events = []
    for block in text.split("\r\n\r\n"):
        if not block:
            continue
        lines = block.split("\r\n")
        assert lines[0].startswith("event: "), block
        assert lines[1].startswith("data: "), block
        events.append((lines[0][len("event: ") :], lines[1][len("data: ") :]))
    return events
