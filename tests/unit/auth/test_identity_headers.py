"""Identity headers are read once: a second copy of one is a 400 before auth, so auth and the
feature-flag filter (API.md §2.2, §2.7) can never see two different callers."""

from __future__ import annotations

import pytest

from tests.auth_support import claims, headers
from tests.payloads import v2_body
from tests.unit.conftest import make_client

COMPLETIONS = "/v2/code/completions"
IDENTITY = [
    "X-Gitlab-Realm",
    "X-Gitlab-Instance-Id",
    "X-Gitlab-Global-User-Id",
    "X-Gitlab-Authentication-Type",
]
# expanded_ai_logging is not for self-managed instances; another flag is.
FLAGS = {"feature_flags": {"disallowed_flags": {"self-managed": ["expanded_ai_logging"]}}}
FLAG_HEADER = ("x-gitlab-enabled-feature-flags", "flag_a,expanded_ai_logging")
BOTH_ORDERS = pytest.mark.parametrize(
    "realms", [("saas", "self-managed"), ("self-managed", "saas")], ids=["saas-first", "sm-first"]
)


def with_repeated(
    base: dict[str, str], name: str, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    """`base` as a header list, `name` replaced by one copy per value."""
    kept = [(k, v) for k, v in base.items() if k.lower() != name.lower()]
    return [*kept, *((name, v) for v in values), FLAG_HEADER]


def duplicate(name: str) -> dict[str, str]:
    return {"detail": f"Duplicate header '{name}'"}


@pytest.fixture
def bypassed():
    return make_client({"auth": {"bypass_external": True}, **FLAGS})


@BOTH_ORDERS
def test_two_realms_are_rejected_when_auth_is_bypassed(bypassed, realms):
    r = bypassed.post(
        COMPLETIONS, json=v2_body(), headers=with_repeated({}, "X-Gitlab-Realm", realms)
    )
    assert r.status_code == 400
    assert r.json() == duplicate("X-Gitlab-Realm")


@pytest.mark.parametrize(
    ("realm", "flags"),
    [("self-managed", ["flag_a"]), ("saas", ["flag_a", "expanded_ai_logging"])],
)
def test_one_realm_still_filters_the_flags_for_it(bypassed, realm, flags):
    hdrs = with_repeated({}, "X-Gitlab-Realm", (realm,))
    r = bypassed.post(COMPLETIONS, json=v2_body(), headers=hdrs)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["enabled_feature_flags"] == flags


@BOTH_ORDERS
def test_two_realms_are_rejected_with_a_valid_token(jwt_client, customers, realms):
    """A self-managed instance's token: whichever copy auth would have checked, the flag filter
    must not be able to see `saas`."""
    client = jwt_client(**FLAGS)
    token = customers.sign(claims(customers.url))
    hdrs = with_repeated(headers(token), "X-Gitlab-Realm", realms)
    r = client.post(COMPLETIONS, json=v2_body(), headers=hdrs)
    assert r.status_code == 400
    assert r.json() == duplicate("X-Gitlab-Realm")


def test_one_realm_with_a_valid_token_gets_its_realms_flags(jwt_client, customers):
    client = jwt_client(**FLAGS)
    token = customers.sign(claims(customers.url))
    hdrs = with_repeated(headers(token), "X-Gitlab-Realm", ("self-managed",))
    r = client.post(COMPLETIONS, json=v2_body(), headers=hdrs)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["enabled_feature_flags"] == ["flag_a"]


@pytest.mark.parametrize("name", IDENTITY)
def test_every_identity_header_may_appear_only_once(jwt_client, customers, bypassed, name):
    """Even two equal copies: the header is single-valued, and saying it twice is a client bug."""
    token = customers.sign(claims(customers.url))
    base = headers(token)
    value = base[name]
    for client in (jwt_client(), bypassed):
        r = client.post(COMPLETIONS, json=v2_body(), headers=with_repeated(base, name, (value,)))
        assert r.status_code == 200, (name, r.text)
        r = client.post(
            COMPLETIONS, json=v2_body(), headers=with_repeated(base, name, (value, value))
        )
        assert r.status_code == 400
        assert r.json() == duplicate(name)


def test_header_names_differing_only_in_case_are_the_same_header(jwt_client, customers):
    token = customers.sign(claims(customers.url))
    hdrs = [*headers(token).items(), ("x-gitlab-instance-id", "another-instance")]
    r = jwt_client().post(COMPLETIONS, json=v2_body(), headers=hdrs)
    assert r.status_code == 400
    assert r.json() == duplicate("X-Gitlab-Instance-Id")
