"""Routes added as the app's own (`serve_app.api.routes.add_routes`) answer exactly as the same
router included with `app.include_router` does, and document the same."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from serve_app.api.body import LeanJsonRoute
from serve_app.api.routes import add_routes
from tests.unit.test_json_body import BODIES


class Item(BaseModel):
    name: str
    size: float = 0.0


router = APIRouter(route_class=LeanJsonRoute)


@router.post("/direct", responses={404: {"description": "not there"}})
async def direct(request: Request, item: Item) -> Response:
    """Called directly by LeanJsonRoute (request and body only, answers a Response)."""
    return JSONResponse({"name": item.name, "path": request.url.path})


@router.post("/handled")
async def handled(item: Item, x_tag: str | None = None) -> dict[str, object]:
    """Through FastAPI's own handler (a query parameter)."""
    return {"name": item.name, "tag": x_tag}


def _app(own: bool) -> FastAPI:
    app = FastAPI(strict_content_type=False)  # as create_app builds it
    if own:
        add_routes(app, router)
    else:
        app.include_router(router)
    return app


INCLUDED, OWN = _app(False), _app(True)


def test_the_same_answers_for_every_body_and_content_type() -> None:
    included = TestClient(INCLUDED, raise_server_exceptions=False)
    own = TestClient(OWN, raise_server_exceptions=False)
    for path in ("/direct", "/handled?x_tag=t"):
        for text, content_type in BODIES:
            headers = {"content-type": content_type}
            a = included.post(path, content=text.encode(), headers=headers)
            b = own.post(path, content=text.encode(), headers=headers)
            assert (b.status_code, b.text) == (a.status_code, a.text), (path, text, content_type)
    for method, path in (("GET", "/direct"), ("POST", "/missing"), ("POST", "/direct/")):
        a = included.request(method, path, follow_redirects=False)
        b = own.request(method, path, follow_redirects=False)
        assert (b.status_code, b.text, b.headers.get("allow")) == (
            a.status_code,
            a.text,
            a.headers.get("allow"),
        )


def test_the_same_document() -> None:
    assert OWN.openapi() == INCLUDED.openapi()


def test_a_route_that_is_not_an_api_route_is_refused() -> None:
    other = APIRouter()
    other.add_route("/plain", lambda request: Response("x"))
    try:
        add_routes(FastAPI(), other)
    except TypeError as exc:
        assert "/plain" in str(exc)
    else:
        raise AssertionError("a plain route was added")
