"""HTTP hygiene: no mutations over GET, CSRF-safe content types, CORS, security headers."""
import httpx
import pytest

from api.app import create_app
from api.security import BOARD_CSP
from api.settings import Settings

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

MUTATION = 'mutation { createOpportunity(input: {title: "x", accountName: "y"}) { userErrors { code } } }'


async def test_mutations_are_refused_over_get(client, org):
    r = await client.get("/graphql", params={"query": MUTATION}, headers={"authorization": f"Bearer {org.tokens['sales_member']}"})
    assert r.status_code in (400, 405)
    assert "mutation" in r.text.lower()
    # Queries over GET still work.
    r = await client.get("/graphql", params={"query": "{ viewer { handle } }"}, headers={"authorization": f"Bearer {org.tokens['sales_member']}"})
    assert r.json()["data"]["viewer"]["handle"] == "sales_member"


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", ""])
async def test_form_and_text_bodies_are_refused(client, content_type):
    # What a cross-site <form> can send without a preflight, with no Authorization header.
    headers = {"content-type": content_type} if content_type else {}
    r = await client.post("/graphql", content=b'{"query": "mutation { x }"}', headers=headers)
    assert r.status_code == 415
    assert r.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_json_post_is_accepted(client, org):
    r = await client.post("/graphql", json={"query": "{ viewer { handle } }"}, headers={"authorization": f"Bearer {org.tokens['sales_member']}"})
    assert r.status_code == 200


async def test_security_headers_on_board_api_and_graphiql(client):
    for path in ("/", "/healthz", "/graphql?query=%7B__typename%7D"):
        r = await client.get(path)
        assert r.headers["content-security-policy"] == BOARD_CSP, path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
    r = await client.get("/graphql", headers={"accept": "text/html"})
    assert r.status_code == 200 and "graphiql" in r.text.lower()
    csp = r.headers["content-security-policy"]
    # GraphiQL is vendored (web/vendor/graphiql/): its page names no other origin and runs no inline script.
    assert "http" not in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self';" in csp
    assert "https://" not in r.text and "/static/vendor/graphiql/" in r.text
    assert r.headers["x-frame-options"] == "DENY"


async def test_cors_is_off_by_default(client):
    r = await client.options("/graphql", headers={"origin": "https://evil.example", "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in r.headers


async def test_cors_allows_configured_origins_only(database_url, clock):
    settings = Settings(database_url=database_url, broadcast_url="memory://", cors_origins=["https://board.example"])
    app = create_app(settings, migrate=False, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://baton.test") as c:
            ok = await c.options("/graphql", headers={"origin": "https://board.example", "access-control-request-method": "POST",
                                                      "access-control-request-headers": "authorization, content-type"})
            assert ok.status_code == 200
            assert ok.headers["access-control-allow-origin"] == "https://board.example"
            bad = await c.options("/graphql", headers={"origin": "https://evil.example", "access-control-request-method": "POST"})
            assert bad.headers.get("access-control-allow-origin") != "https://evil.example"
