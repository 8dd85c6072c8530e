"""The first run (issue 24): on a database without an organization `baton serve` prints a
one-time setup link and completeSetup makes the organization and its first admin, once."""
import asyncio
import contextlib
import os
import sys
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from api.app import create_app
from api.settings import Settings
from db import models as m
from db.engine import Database
from db.migrate import upgrade
from resolvers.auth import token_hash
from resolvers.first_run import create_setup_link
from tests.faults.live import fresh_database
from tests.conftest import free_port, wait_for
from tests.processes import ROOT, Process

STATUS = "{ setupStatus { needed } }"
COMPLETE = """mutation($input: CompleteSetupInput!) { completeSetup(input: $input) {
  token user { name email role department { key } } userErrors { code field message } } }"""
LINK_INFO = "query($token: String!) { linkInfo(token: $token) { kind email name organizationName expiresAt } }"
AFTER = """{ viewer { email } localeSettings { locale timeZone baseCurrency } pipelines { name stages { key name } }
  departments { key name } events(first: 10, types: [CONFIGURATION_CHANGED]) { edges { node { changes actor { email } } } } }"""


def setup_input(token: str, **fields) -> dict:
    return {"token": token, "organizationName": "Acme 有限公司", "adminName": "Ada Admin", "adminEmail": "Ada@Acme.example",
            "adminPassword": "first admin pw", **fields}


@pytest.fixture(params=["sqlite", "postgres"])
async def empty(request, tmp_path, clock):
    """(client, Database) on a freshly migrated database holding no organization."""
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
            await upgrade(url)
        else:
            url = await stack.enter_async_context(fresh_database())
        app = create_app(Settings(_env_file=None, database_url=url, broadcast_url="memory://"), migrate=False, clock=clock)
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://baton.test"))
        db = Database(url)
        stack.push_async_callback(db.dispose)
        yield client, db


async def post(client, query, variables=None, token=None) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


async def organizations(db) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(m.Organization))


async def test_setup_creates_the_organization_and_its_admin_once(empty, clock):
    client, db = empty
    assert (await post(client, STATUS))["setupStatus"] == {"needed": True}
    token = await create_setup_link(db, clock.now)
    info = (await post(client, LINK_INFO, {"token": token}))["linkInfo"]
    assert info["kind"] == "SETUP" and info["email"] is None and info["organizationName"] is None

    bad = (await post(client, COMPLETE, {"input": setup_input(
        token, organizationName=" ", locale="fr", timeZone="Mars/Base", baseCurrency="dollars", adminEmail="nope",
        adminPassword="short", adminName="")}))["completeSetup"]
    assert bad["token"] is None and [(e["code"], e["field"]) for e in bad["userErrors"]] == [
        ("VALIDATION", ["organizationName"]), ("VALIDATION", ["locale"]), ("VALIDATION", ["timeZone"]),
        ("VALIDATION", ["baseCurrency"]), ("VALIDATION", ["adminName"]), ("VALIDATION", ["adminEmail"]),
        ("VALIDATION", ["adminPassword"])]
    wrong = (await post(client, COMPLETE, {"input": setup_input("not-the-token")}))["completeSetup"]
    assert [(e["code"], e["field"]) for e in wrong["userErrors"]] == [("NOT_FOUND", ["token"])]
    assert await organizations(db) == 0

    done = (await post(client, COMPLETE, {"input": setup_input(token, locale="zh-CN", timeZone="Asia/Shanghai",
                                                               baseCurrency="cny")}))["completeSetup"]
    assert done["userErrors"] == [] and done["token"]
    assert done["user"] == {"name": "Ada Admin", "email": "ada@acme.example", "role": "ADMIN", "department": {"key": "sales"}}
    assert (await post(client, STATUS))["setupStatus"] == {"needed": False}
    after = await post(client, AFTER, token=done["token"])
    assert after["viewer"] == {"email": "ada@acme.example"}
    assert after["localeSettings"] == {"locale": "zh-CN", "timeZone": "Asia/Shanghai", "baseCurrency": "CNY"}
    assert [s["key"] for s in after["pipelines"][0]["stages"]] == ["lead", "qualified", "proposal", "negotiation", "contract", "won", "lost"]
    assert [d["key"] for d in after["departments"]] == ["sales", "marketing", "product", "legal", "finance"]
    # A Chinese organization starts with a Chinese board.
    assert after["pipelines"][0]["name"] == "销售管道"
    assert [s["name"] for s in after["pipelines"][0]["stages"]] == ["线索", "已确认", "方案报价", "商务谈判", "合同", "赢单", "输单"]
    assert [d["name"] for d in after["departments"]] == ["销售", "市场", "产品", "法务", "财务"]
    [event] = after["events"]["edges"]
    changes = event["node"]["changes"]
    assert event["node"]["actor"] == {"email": "ada@acme.example"}
    assert changes == {"subject": [None, "organization"], "target": [None, None], "action": [None, "setUp"],
                       "name": [None, "Acme 有限公司"], "locale": [None, "zh-CN"], "timeZone": [None, "Asia/Shanghai"],
                       "baseCurrency": [None, "CNY"], "defaultPipeline": [None, True], "admin": [None, changes["admin"][1]]}

    # Once set up: refused, even with a valid token; no new setup link is made.
    again = (await post(client, COMPLETE, {"input": setup_input(token, adminEmail="eve@acme.example")}))["completeSetup"]
    assert again["userErrors"] == [{"code": "FORBIDDEN", "field": None, "message": "Baton is already set up"}]
    assert (await post(client, LINK_INFO, {"token": token}))["linkInfo"] is None
    assert await create_setup_link(db, clock.now) is None
    assert await organizations(db) == 1


async def test_minimal_pipeline_and_defaults(empty, clock):
    client, db = empty
    token = await create_setup_link(db, clock.now)
    done = (await post(client, COMPLETE, {"input": setup_input(token, defaultPipeline=False)}))["completeSetup"]
    assert done["userErrors"] == []
    after = await post(client, AFTER, token=done["token"])
    assert [(s["key"], s["name"]) for s in after["pipelines"][0]["stages"]] == [("lead", "Lead"), ("won", "Won"), ("lost", "Lost")]
    assert after["localeSettings"] == {"locale": "en", "timeZone": "UTC", "baseCurrency": "USD"}
    assert len(after["departments"]) == 5


async def test_a_new_setup_link_revokes_the_older_and_links_expire(empty, clock):
    client, db = empty
    older = await create_setup_link(db, clock.now)
    newer = await create_setup_link(db, clock.now)
    refused = (await post(client, COMPLETE, {"input": setup_input(older)}))["completeSetup"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("VALIDATION", ["token"])]
    async with db.write() as session:
        await session.execute(update(m.OneTimeLink).where(m.OneTimeLink.token_hash == token_hash(newer))
                              .values(expires_at=clock.now - timedelta(seconds=1)))
    expired = (await post(client, COMPLETE, {"input": setup_input(newer)}))["completeSetup"]
    assert expired["userErrors"] == [{"code": "VALIDATION", "field": ["token"], "message": "This link has expired; ask for a new one"}]
    assert (await post(client, LINK_INFO, {"token": newer}))["linkInfo"] is None
    assert await organizations(db) == 0


async def test_concurrent_setups_make_one_organization(empty, clock):
    client, db = empty
    token = await create_setup_link(db, clock.now)
    results = await asyncio.gather(*(
        post(client, COMPLETE, {"input": setup_input(token, organizationName=f"Org {i}", adminEmail=f"admin{i}@acme.example")})
        for i in range(4)))
    payloads = [r["completeSetup"] for r in results]
    assert sum(1 for p in payloads if p["token"]) == 1
    assert all(p["userErrors"] and p["userErrors"][0]["code"] in ("VALIDATION", "FORBIDDEN") for p in payloads if not p["token"])
    assert await organizations(db) == 1
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(m.User)) == 1


async def test_serve_on_an_empty_database_prints_a_setup_link(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    tokens = []
    for run in range(2):
        server = await Process({"BATON_DATABASE_URL": url}, tmp_path, f"serve{run}").start()
        try:
            async def printed():  # migrating a new SQLite file takes a while on a busy machine
                assert server.proc.returncode is None, server.log_path.read_text()
                return "Baton is running" in server.log_path.read_text()

            await wait_for(printed, timeout=90)
            await server.ready()
            lines = server.log_path.read_text().splitlines()
            [link] = [line for line in lines if line.startswith("Set up Baton: ")]
            assert link.startswith(f"Set up Baton: http://localhost:{server.port}/#/setup/")
            assert any("works once" in line for line in lines)
            tokens.append(link.rsplit("/", 1)[1])
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
                body = (await client.post("/graphql", json={"query": LINK_INFO, "variables": {"token": tokens[-1]}})).json()
                assert body["data"]["linkInfo"]["kind"] == "SETUP"
                if run == 1:  # starting again revoked the first link
                    body = (await client.post("/graphql", json={"query": LINK_INFO, "variables": {"token": tokens[0]}})).json()
                    assert body["data"]["linkInfo"] is None
        finally:
            await server.stop()
    assert tokens[0] != tokens[1]


async def test_serve_with_the_demo_prints_no_setup_link(tmp_path):
    env = {**os.environ, "BATON_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api.cli", "serve", "--demo", "--port", str(free_port()), "--log-level", "warning",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output = b""
        while b"Demo sign-ins" not in output:
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            assert line, output
            output += line
        assert b"Set up Baton" not in output
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
