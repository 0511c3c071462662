"""JSON bodies read by `LeanJsonRoute` answer exactly as FastAPI's own route does."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, BackgroundTasks, Body, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from serve_app.api.body import BigBodies, LeanJsonRoute, _direct_call


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


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"size": 1, "other": "y" * 300_000}),  # valid JSON, no name: 422
        json.dumps({"name": ["x"] * 100_000}),  # the wrong type, past 256 KiB
        "[" * 200_000 + "]" * 200_000,  # nested deeper than json.loads goes
        '{"name": "' + "x" * 300_000 + '\x01"}',  # a control character json.loads refuses
        '{"name": "' + "x" * 300_000 + '\\q"}',  # an escape json.loads refuses
    ],
)
def test_big_bodies_validated_on_a_thread_answer_the_same(text: str) -> None:
    headers = {"content-type": "application/json"}
    lean = LEAN.post("/items", content=text.encode(), headers=headers)
    plain = PLAIN.post("/items", content=text.encode(), headers=headers)
    assert (lean.status_code, lean.text) == (plain.status_code, plain.text)


class Watched(BaseModel):
    """Notes whether it was validated where an event loop runs."""

    name: str

    @field_validator("name")
    @classmethod
    def where(cls, value: str) -> str:
        try:
            asyncio.get_running_loop()
            ON_LOOP.append(True)
        except RuntimeError:
            ON_LOOP.append(False)
        return value


ON_LOOP: list[bool] = []


def test_a_big_body_is_parsed_and_validated_off_the_event_loop() -> None:
    """Every step that costs as much as the body (decode, parse, validation) runs on a worker
    thread: the event loop only gets the validated model."""
    router = APIRouter(route_class=LeanJsonRoute)

    @router.post("/watched")
    async def watched(item: Watched) -> dict[str, int]:
        return {"chars": len(item.name)}

    app = FastAPI()
    app.include_router(router)
    ON_LOOP.clear()
    with TestClient(app) as client:
        small = client.post("/watched", json={"name": "a"})
        big = client.post("/watched", json={"name": "x" * 400_000})
    assert small.json() == {"chars": 1} and big.json() == {"chars": 400_000}
    assert ON_LOOP == [True, False]  # small bodies stay on the loop: a thread costs more


async def test_big_bodies_wait_their_turn_without_holding_small_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from serve_app.api import body as body_module

    active, most = 0, 0
    parse_big = body_module._parse_big

    def slow_parse(*args: object) -> object:
        nonlocal active, most
        active += 1
        most = max(most, active)
        time.sleep(0.3)
        try:
            return parse_big(*args)  # type: ignore[arg-type]
        finally:
            active -= 1

    monkeypatch.setattr(body_module, "_parse_big", slow_parse)
    router = APIRouter(route_class=LeanJsonRoute)

    @router.post("/items")
    async def create(item: Item) -> dict[str, int]:
        return {"chars": len(item.name)}

    app = FastAPI()
    app.include_router(router)
    app.state.big_bodies = BigBodies(1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        bigs = [
            asyncio.create_task(client.post("/items", json={"name": "x" * 300_000}))
            for _ in range(3)
        ]
        await asyncio.sleep(0.1)  # the first big one is being parsed, two are waiting
        started = time.monotonic()
        small = await client.post("/items", json={"name": "a"})
        small_took = time.monotonic() - started
        answers = await asyncio.gather(*bigs)
    assert small.json() == {"chars": 1} and small_took < 0.2
    assert [a.json() for a in answers] == [{"chars": 300_000}] * 3
    assert most == 1  # AIGW_LIMITS__BIG_BODY_PARSES=1


def app_answering_response(router: APIRouter) -> TestClient:
    """The shape of the gateway's hot routes: the request and a body model in, a Response out
    (LeanJsonRoute calls such an endpoint directly once the body validates)."""

    @router.post("/items")
    async def create(request: Request, item: Annotated[Item, Body()]) -> Response:
        answer = {"name": item.name, "size": repr(item.size), "path": request.url.path}
        return JSONResponse(answer, headers={"x-seen": request.headers.get("x-seen", "")})

    app = FastAPI(strict_content_type=False)
    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False)


LEAN_DIRECT = app_answering_response(APIRouter(route_class=LeanJsonRoute))
PLAIN_DIRECT = app_answering_response(APIRouter())


@pytest.mark.parametrize(("text", "content_type"), BODIES)
def test_an_endpoint_called_directly_answers_as_fastapi_does(text: str, content_type: str) -> None:
    headers = {"content-type": content_type, "x-seen": "yes"}
    for encoding in ("utf-8", "utf-16"):
        try:
            body = text.encode(encoding, "surrogatepass")
        except UnicodeEncodeError:
            continue
        lean = LEAN_DIRECT.post("/items", content=body, headers=headers)
        plain = PLAIN_DIRECT.post("/items", content=body, headers=headers)
        assert (lean.status_code, lean.text) == (plain.status_code, plain.text)
        assert lean.headers.get("x-seen") == plain.headers.get("x-seen")


def test_only_the_request_and_body_shape_is_called_directly() -> None:
    router = APIRouter(route_class=LeanJsonRoute)

    @router.post("/direct")
    async def direct(request: Request, item: Annotated[Item, Body()]) -> Response:
        return JSONResponse({})

    @router.post("/tasks")
    async def tasks(item: Annotated[Item, Body()], background: BackgroundTasks) -> Response:
        return JSONResponse({})

    @router.post("/model")
    async def model(request: Request, item: Annotated[Item, Body()]) -> dict[str, str]:
        return {}

    routes = {route.path: route for route in router.routes if isinstance(route, LeanJsonRoute)}
    assert _direct_call(routes["/direct"]) is not None
    assert _direct_call(routes["/tasks"]) is None  # FastAPI runs its background tasks
    assert _direct_call(routes["/model"]) is None  # FastAPI serializes its answer
