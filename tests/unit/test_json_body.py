"""JSON bodies read by `LeanJsonRoute` answer exactly as FastAPI's own route does."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from serve_app.api.body import LeanJsonRoute


class Item(BaseModel):
    name: str
    size: float = 0.0


def app_with(router: APIRouter) -> TestClient:
    @router.post("/items")
    async def create(item: Item) -> dict[str, object]:
        return {"name": item.name, "size": repr(item.size)}

    app = FastAPI(strict_content_type=False)
    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False)


LEAN = app_with(APIRouter(route_class=LeanJsonRoute))
PLAIN = app_with(APIRouter())

BODIES = [
    ('{"name": "a"}', "application/json"),
    ('{"name": "ü€😀", "size": 1.5}', "application/json"),
    ('{"name": "a", "size": NaN}', "application/json"),  # json.loads takes NaN
    ('{"name": "\\ud800"}', "application/json"),  # a lone surrogate, as json.loads keeps it
    ('{"name": "a", "name": "b"}', "application/json"),  # the last one wins
    ('{"name": "a"}', ""),  # no content type: parsed as JSON
    ('{"name": "a"}', "application/vnd.api+json"),
    ('{"name": "a"}', "text/plain"),  # not parsed: 422
    ("{bad", "application/json"),
    ('{"name": 1,', "application/json"),
    ("", "application/json"),
    ("[]", "application/json"),
]


@pytest.mark.parametrize(("text", "content_type"), BODIES)
def test_same_answer_as_fastapis_own_route(text: str, content_type: str) -> None:
    headers = {"content-type": content_type}
    for encoding in ("utf-8", "utf-16"):
        try:
            body = text.encode(encoding, "surrogatepass")
        except UnicodeEncodeError:
            continue
        lean = LEAN.post("/items", content=body, headers=headers)
        plain = PLAIN.post("/items", content=body, headers=headers)
        assert (lean.status_code, lean.text) == (plain.status_code, plain.text)


def test_bytes_that_are_not_utf8_are_the_same_400() -> None:
    body = b'{"name": "\xff"}'
    lean = LEAN.post("/items", content=body, headers={"content-type": "application/json"})
    plain = PLAIN.post("/items", content=body, headers={"content-type": "application/json"})
    assert lean.status_code == plain.status_code == 400
    assert lean.json() == plain.json()


def test_a_big_body_parses_the_same() -> None:
    body = json.dumps({"name": "line\n" * 200_000, "size": 2})
    lean = LEAN.post("/items", content=body, headers={"content-type": "application/json"})
    assert lean.json() == {"name": "line\n" * 200_000, "size": "2.0"}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"name": "a", "extra": list(range(300_000))}),  # past the stepped scanner
        json.dumps({"name": "é" * 300_000, "size": 1e300}),
        '{"name": "' + "x" * 300_000 + '", "size": NaN}',
        '{"name": "' + "x" * 300_000 + '", "size": }',  # broken, past 256 KiB
    ],
)
def test_big_bodies_read_on_a_thread_answer_the_same(text: str) -> None:
    headers = {"content-type": "application/json"}
    lean = LEAN.post("/items", content=text.encode(), headers=headers)
    plain = PLAIN.post("/items", content=text.encode(), headers=headers)
    assert (lean.status_code, lean.text) == (plain.status_code, plain.text)
