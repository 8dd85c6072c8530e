"""Automatic persisted queries (Apollo convention) and the operator's persisted-only lock."""
import hashlib
import json

import httpx
import pytest

from api.app import create_app
from api.persisted import LRU, PersistedQueries
from api.settings import Settings

VIEWER = "query Me { viewer { handle department { key } } }"


def digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def apq(query_hash: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": query_hash}}


async def post(client, org, payload, as_="sales_member"):
    response = await client.post("/graphql", json=payload, headers={"authorization": f"Bearer {org.tokens[as_]}"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_apq_hash_flow(client, org):
    h = digest(VIEWER)
    # 1. The hash alone: unknown.
    body = await post(client, org, {"extensions": apq(h)})
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert body["errors"][0]["message"] == "PersistedQueryNotFound"
    # 2. Hash + query: verified, stored and run.
    body = await post(client, org, {"query": VIEWER, "extensions": apq(h)})
    assert body["data"]["viewer"]["handle"] == "sales_member"
    # 3. The hash alone now runs, over POST and over GET.
    body = await post(client, org, {"extensions": apq(h)}, as_="finance_member")
    assert body["data"]["viewer"] == {"handle": "finance_member", "department": {"key": "finance"}}
    response = await client.get(
        "/graphql", params={"extensions": json.dumps(apq(h))}, headers={"authorization": f"Bearer {org.tokens['sales_member']}"}
    )
    assert response.json()["data"]["viewer"]["handle"] == "sales_member"
    # A hash that does not match its query is refused, and not stored.
    body = await post(client, org, {"query": "{ viewer { name } }", "extensions": apq("0" * 64)})
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    body = await post(client, org, {"extensions": apq("0" * 64)})
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # Plain queries still work.
    assert (await post(client, org, {"query": "{ viewer { handle } }"}))["data"]["viewer"]["handle"] == "sales_member"


def test_apq_cache_is_a_bounded_lru():
    cache = LRU(2)
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get("a") == "1"  # "a" is now the most recent
    cache.put("c", "3")
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == ("1", None, "3", 2)


@pytest.fixture
async def locked_client(database_url, clock, tmp_path):
    manifest = tmp_path / "persisted.json"
    manifest.write_text(json.dumps({digest(VIEWER): VIEWER}))
    settings = Settings(
        database_url=database_url, persisted_queries_only=True, persisted_queries_file=manifest, webhook_interval_seconds=0
    )
    app = create_app(settings, migrate=False, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://baton.test") as client:
            yield client


async def test_persisted_only_lock_refuses_unlisted_operations(locked_client, org):
    client = locked_client
    # Listed: by hash, or sent in full.
    assert (await post(client, org, {"extensions": apq(digest(VIEWER))}))["data"]["viewer"]["handle"] == "sales_member"
    assert (await post(client, org, {"query": VIEWER}))["data"]["viewer"]["handle"] == "sales_member"
    # Anything else is refused, including APQ registration of a new query.
    other = "{ viewer { email } }"
    for payload in ({"query": other}, {"query": other, "extensions": apq(digest(other))}, {"extensions": apq(digest(other))}):
        body = await post(client, org, payload)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
    body = await post(client, org, {"query": 'mutation { createOpportunity(input: {title: "x", accountName: "y"}) { opportunity { id } } }'})
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"


def test_manifest_is_checked_at_start(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"0" * 64: VIEWER}))
    with pytest.raises(ValueError, match="does not match"):
        PersistedQueries(only=True, manifest_file=bad)
    with pytest.raises(ValueError, match="needs BATON_PERSISTED_QUERIES_FILE"):
        PersistedQueries(only=True)
