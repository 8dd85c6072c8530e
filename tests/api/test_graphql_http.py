"""GraphQL over HTTP as the specification words it: media type negotiation, request
errors as 400 without `data`, 405 for a mutation over GET, the query cost on request,
and the specification's own audit (npm graphql-http) against a real `baton serve`."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from db.engine import Database
from tests.conftest import make_org
from tests.processes import Process

GRAPHQL_HTTP_VERSION = "1.22.4"
AUDIT_DIR = Path(__file__).resolve().parent / "graphql_http"
AUDIT_MODULES = AUDIT_DIR / ".npm"  # in .gitignore
RESPONSE_JSON = "application/graphql-response+json"
# Anonymous clients get no introspection (docs/security.md): the audits that ask for
# `__type` find errors instead of data. Every other audit must pass, signed in or not.
NEEDS_INTROSPECTION = {"28B9", "2EA1", "D6D5", "6A70"}


async def post(client, body, accept=RESPONSE_JSON, token=None, raw=None):
    headers = {"accept": accept, "content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return await client.post("/graphql", content=raw if raw is not None else json.dumps(body), headers=headers)


@pytest.mark.parametrize("body", [
    {"query": "{ viewer { id "},  # does not parse
    {"query": "{ viewer { nope } }"},  # does not validate
    {"query": "query($n: Int!) { opportunities(first: $n) { totalCount } }", "variables": {"n": "many"}},  # does not coerce
])
async def test_request_errors_are_400_without_data_in_the_response_media_type(client, org, body):
    token = org.tokens["sales_member"]
    answer = await post(client, body, token=token)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith(RESPONSE_JSON)
    payload = answer.json()
    assert "data" not in payload and payload["errors"][0]["extensions"]["code"]
    # application/json keeps the older behaviour: 200 with `data: null`.
    legacy = await post(client, body, accept="application/json", token=token)
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")
    assert legacy.json()["data"] is None


async def test_a_field_error_is_still_a_200_with_data(client, org):
    answer = await post(client, {"query": "{ viewer { id } node(id: \"nope\") { id } }"}, token=org.tokens["sales_member"])
    assert answer.status_code == 200 and answer.json()["data"]["viewer"]["id"]


@pytest.mark.parametrize("accept, expected", [
    (RESPONSE_JSON, RESPONSE_JSON), ("application/json", "application/json"), ("*/*", "application/json"),
    (f"application/json;q=0.9, {RESPONSE_JSON}", RESPONSE_JSON), (f"{RESPONSE_JSON};q=0.5, application/json", "application/json"),
])
async def test_the_client_chooses_the_media_type(client, accept, expected):
    answer = await post(client, {"query": "{ __typename }"}, accept=accept)
    assert answer.status_code == 200 and answer.headers["content-type"].split(";")[0] == expected


async def test_a_mutation_over_get_is_405_with_allow(client, org):
    answer = await client.get("/graphql", params={"query": "mutation { logout { userErrors { code } } }"},
                              headers={"authorization": f"Bearer {org.tokens['sales_member']}", "accept": "application/json"})
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"


async def test_the_cost_is_reported_when_asked(client, org):
    token = org.tokens["sales_member"]
    query = "{ opportunities(first: 10) { edges { node { id } } } }"
    asked = await post(client, {"query": query, "extensions": {"cost": True}}, token=token)
    cost = asked.json()["extensions"]["cost"]
    assert cost["limit"] == 2_500_000 and 10 <= cost["requested"] < 100
    assert "extensions" not in (await post(client, {"query": query}, token=token)).json()


def install_audit() -> Path:
    """graphql-http at its pinned version, installed with npm when missing."""
    package = AUDIT_MODULES / "node_modules" / "graphql-http" / "package.json"
    if not (package.exists() and json.loads(package.read_text())["version"] == GRAPHQL_HTTP_VERSION):
        npm = shutil.which("npm")
        if not npm:
            pytest.fail("npm is needed for the GraphQL over HTTP audit (make test installs it)")
        subprocess.run([npm, "install", "--prefix", str(AUDIT_MODULES), "--no-audit", "--no-fund", "--no-save",
                        f"graphql-http@{GRAPHQL_HTTP_VERSION}", "graphql@16"], check=True, capture_output=True, timeout=300)
    script = AUDIT_MODULES / "audit.mjs"
    shutil.copyfile(AUDIT_DIR / "audit.mjs", script)  # beside its node_modules, where Node resolves the import
    return script


async def test_the_specifications_audit_passes_signed_in_and_anonymous(tmp_path, sqlite_url):
    script = install_audit()
    server = await Process({"BATON_DATABASE_URL": sqlite_url, "BATON_BROADCAST_URL": "memory://"}, tmp_path, "audit").start()
    try:
        await server.ready()
        url = f"http://127.0.0.1:{server.port}/graphql"
        database = Database(sqlite_url)
        try:
            org = await make_org(database)
        finally:
            await database.dispose()
        results = {}
        for who, token in (("signed in", org.tokens["sales_member"]), ("anonymous", None)):
            run = subprocess.run(["node", str(script), url, *([token] if token else [])], capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, run.stderr
            results[who] = json.loads(run.stdout)
    finally:
        await server.stop()
    failing = {who: [(r["id"], r["status"], r["name"], r["reason"]) for r in found if r["status"] in ("warn", "error")]
               for who, found in results.items()}
    assert failing["signed in"] == []
    assert {f[0] for f in failing["anonymous"]} <= NEEDS_INTROSPECTION, failing["anonymous"]
    assert len(results["signed in"]) >= 60  # the whole audit ran
