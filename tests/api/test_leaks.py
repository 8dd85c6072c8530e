"""The canary leak suite: values planted on a card outside a viewer's scope (or in
fields withheld from them) must appear nowhere the viewer can read: not in any query
response, export file, subscription frame, CLI output, import report or webhook
body. Generated: every read path in READ_PATHS runs for every rule set in SCENARIOS,
on SQLite and PostgreSQL, against a real server with the result cache on. Each path
is first read by an admin, whose bytes must hold the canaries (so a path that shows
nothing proves nothing), and whose cached results must not reach the viewer."""
import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from api.webhooks import enqueue
from db import models as m
from resolvers import approvals, comments, handoffs, tasks
from resolvers import opportunities as rules
from resolvers import webhooks as webhook_rules
from resolvers.context import Ctx, Viewer
from resolvers.ids import parse_global, to_global
from resolvers.live import log_head
from tests.realtime.wsclient import open_socket

ROOT = Path(__file__).resolve().parents[2]

# Planted on the secret card: outside every restricted viewer's scope, involving none of them.
SECRET_TITLE = "Secret canary deal SD5"
SECRET_AMOUNT = "987654.32"
SECRET_ACCOUNT = "Canary Holdings QX7"
SECRET_REASON = "canary lost reason ZK4"
SECRET_TASK = "canary task TQ1"
SECRET_COMMENT = "canary comment CC9"
SECRET = (SECRET_TITLE, SECRET_AMOUNT, SECRET_ACCOUNT, SECRET_REASON, SECRET_TASK, SECRET_COMMENT)
# Planted on the joint card: marketing has a task on it, legal a handoff, finance an approval step.
JOINT_TITLE = "Joint deal JD3"
JOINT_AMOUNT = "123456.78"
JOINT_ACCOUNT = "Involved Works QJ2"
WITHHELD = (SECRET_AMOUNT, SECRET_ACCOUNT, SECRET_REASON, JOINT_AMOUNT, JOINT_ACCOUNT)


@dataclass
class Scenario:
    rules: list[dict]
    viewer: str  # a user of the org, or "finance token" (a department token made without a user)
    forbidden: tuple[str, ...]  # must appear nowhere
    required: tuple[str, ...]  # involvement: must appear (in the board, the events and the stream)


SCENARIOS = {
    "member OWN": Scenario(
        [{"role": "MEMBER", "scope": "OWN"}], "marketing_member", SECRET, (JOINT_TITLE, JOINT_AMOUNT)),
    "department DEPARTMENT": Scenario(
        [{"role": "MEMBER", "departmentKey": "legal", "scope": "DEPARTMENT"}], "legal_member", SECRET, (JOINT_TITLE, JOINT_AMOUNT)),
    "amount hidden for marketing": Scenario(
        [{"role": "MEMBER", "departmentKey": "marketing", "scope": "ALL", "hiddenFields": ["amount", "account", "lostReason"]}],
        "marketing_member", WITHHELD, (SECRET_TITLE, JOINT_TITLE)),
    "department token": Scenario(
        [{"role": "MEMBER", "departmentKey": "finance", "scope": "DEPARTMENT"}], "finance token", SECRET, (JOINT_TITLE, JOINT_AMOUNT)),
}

SET_RULE = "mutation($input: SetAccessRuleInput!) { setAccessRule(input: $input) { userErrors { code field } } }"
CARD = """id title amount probability expectedCloseDate lostReason nextStep hiddenFields account { id name }
  stage { key } department { key } owner { handle }
  tasks { edges { node { title } } } comments { edges { node { body } } }
  history { edges { node { type changes snapshot } } }
  handoffs { status } approvals { kind steps { department { key } } }"""


@dataclass
class World:
    org: object
    server: object
    client: httpx.AsyncClient
    secret: str = ""
    joint: str = ""
    secret_account: str = ""
    tokens: dict = field(default_factory=dict)
    emails: dict = field(default_factory=dict)

    def token(self, who: str) -> str:
        return self.tokens.get(who) or self.org.tokens[who]

    async def post(self, who: str, query: str, variables: dict | None = None) -> bytes:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers={"authorization": f"Bearer {self.token(who)}"},
        )
        assert response.status_code == 200, response.text
        return response.content

    async def get(self, who: str | None, url: str) -> bytes:
        headers = {"authorization": f"Bearer {self.token(who)}"} if who else {}
        response = await self.client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        return response.content


async def ok(result):
    value, errors = await result
    assert not errors, errors
    return value


async def plant(world: World, viewer_user: m.User) -> None:
    org = world.org
    sales = org.ctx("sales_member")
    secret = await ok(rules.create_opportunity(sales, {
        "title": SECRET_TITLE, "account_name": SECRET_ACCOUNT, "amount": SECRET_AMOUNT, "probability": 40,
        "expected_close_date": date(2030, 1, 1),
    }))
    world.secret, world.secret_account = to_global("Opportunity", secret.id), to_global("Account", secret.account_id)
    await ok(tasks.create_task(sales, {"opportunity_id": world.secret, "title": SECRET_TASK}))
    await ok(comments.add_comment(sales, {"opportunity_id": world.secret, "body": f"@sales_admin {SECRET_COMMENT}"}))
    # The viewer was its owner for a moment: a notification about it stays in their inbox.
    version = secret.version
    for owner in (viewer_user, org.users["sales_member"]):
        updated = await ok(rules.update_opportunity(org.ctx("sales_admin"), {
            "id": world.secret, "version": version, "owner_id": to_global("User", owner.id)}))
        version = updated.version
    await ok(rules.move_opportunity(sales, {"id": world.secret, "version": version, "stage_key": "lost", "lost_reason": SECRET_REASON}))
    await ok(approvals.request_approval(sales, {"opportunity_id": world.secret, "kind": "review", "department_keys": ["sales"]}))

    joint = await ok(rules.create_opportunity(sales, {
        "title": JOINT_TITLE, "account_name": JOINT_ACCOUNT, "amount": JOINT_AMOUNT, "expected_close_date": date(2030, 1, 1),
    }))
    world.joint = to_global("Opportunity", joint.id)
    await ok(tasks.create_task(sales, {"opportunity_id": world.joint, "title": "Campaign brief", "department_key": "marketing"}))
    await ok(handoffs.request_handoff(sales, {"opportunity_id": world.joint, "to_department_key": "legal"}))
    await ok(approvals.request_approval(sales, {"opportunity_id": world.joint, "kind": "discount", "department_keys": ["finance"]}))
    await ok(rules.move_opportunity(sales, {"id": world.joint, "version": joint.version, "stage_key": "qualified"}))


# ---------------------------------------------------------------- read paths

QUERIES = {
    "board": "{ board { columns { stage { key } totalCount totalAmount hiddenAmountCount opportunities(first: 100) { edges { node { %s } } } } } }" % CARD,
    "board search": '{ board(filter: {search: "Canary"}) { columns { totalCount totalAmount opportunities { edges { node { title account { name } } } } } } }',
    "opportunities": "{ opportunities(first: 100) { totalCount edges { node { %s } } } }" % CARD,
    "search by account": '{ opportunities(filter: {search: "Canary Holdings"}) { totalCount edges { node { title amount } } } }',
    "search by title": '{ opportunities(filter: {search: "Secret canary"}) { totalCount edges { node { title amount account { name } } } } }',
    "tasks": "{ tasks(first: 100) { totalCount edges { node { title opportunity { title amount account { name } } } } } }",
    "approvals": "{ approvals { kind opportunity { title amount lostReason account { name } } } }",
    "events": "{ events(after: 0) { totalCount edges { node { type changes snapshot departmentKeys opportunity { title amount } task { title } comment { body } } } } }",
    "notifications": "{ notifications { totalCount unreadCount edges { node { message opportunity { title amount } } } } }",
    "analytics": "{ analytics { funnel { stage { key } current amount hiddenAmountCount } winRate lossReasons } }",
}


def xlsx_text(data: bytes) -> bytes:
    """The cell values of an XLSX file (its bytes are compressed: search the values)."""
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return json.dumps([list(map(str, row)) for row in sheet.iter_rows(values_only=True)]).encode()


def cli(world: World, *args: str) -> bytes:
    env = {**os.environ, "BATON_DATABASE_URL": world.server.settings.database_url, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, env=env, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout + result.stderr


async def org_name(world: World) -> str:
    async with world.org.db.read() as session:
        return await session.scalar(select(m.Organization.name).where(m.Organization.id == world.org.id))


async def read_paths(world: World, who: str) -> dict[str, bytes]:
    """Every read path's raw bytes as `who` sees them."""
    out = {name: await world.post(who, query) for name, query in QUERIES.items()}
    for name, (gid) in {"node card": world.secret, "node account": world.secret_account}.items():
        out[name] = await world.post(who, "query($id: ID!) { node(id: $id) { id ... on Opportunity { title amount } ... on Account { name } } }", {"id": gid})
    out["export csv"] = await world.get(who, "/export/opportunities.csv")
    out["export xlsx"] = xlsx_text(await world.get(who, "/export/opportunities.xlsx"))
    link = json.loads(await world.post(who, "mutation { createExportLink(input: {format: CSV}) { url } }"))
    out["export link"] = await world.get(None, link["data"]["createExportLink"]["url"])
    name, email = await org_name(world), world.emails[who]
    out["cli export"] = await asyncio.to_thread(cli, world, "export", "opportunities", "--org", name, "--as", email)
    with tempfile.TemporaryDirectory() as folder:
        sheet = Path(folder) / "pipeline.csv"
        sheet.write_text("Title,Account,Amount,Stage\nNew,Canary Co,5,lead\nBad,X,-1,nowhere\n", encoding="utf-8")
        out["cli import dry run"] = await asyncio.to_thread(
            cli, world, "import", "opportunities", str(sheet), "--dry-run", "--org", name, "--as", email)
    # Mutations on the secret card answer without telling anything about it.
    out["update secret"] = await world.post(who, 'mutation($id: ID!) { updateOpportunity(input: {id: $id, version: 1, title: "x"}) { opportunity { title amount } userErrors { code message } } }', {"id": world.secret})
    out["comment secret"] = await world.post(who, 'mutation($id: ID!) { addComment(input: {opportunityId: $id, body: "x"}) { comment { body } userErrors { code message } } }', {"id": world.secret})
    return out


# The subscription frames: a replay from the start, then live events up to a marker.
STREAM = """subscription { boardEvents(after: 0) { seq type departmentKeys changes snapshot
  opportunity { title amount lostReason account { name } } task { title } comment { body } } }"""
PLAIN_STREAM = "subscription { boardEvents(after: 0) { seq type changes snapshot departmentKeys } }"
INBOX_STREAM = "subscription { notificationAdded { message opportunity { title amount } } }"


async def frames(world: World, who: str, live) -> bytes:
    """Raw frames of three subscriptions while `live()` writes; ends at a marker event."""
    sock = await open_socket(world.server.ws, world.token(who))
    for query in (STREAM, PLAIN_STREAM, INBOX_STREAM):
        await sock.subscribe(query)
    marker = await live()
    raw, done = [], set()
    async with asyncio.timeout(20):
        while len(done) < 2:  # both event streams reached the marker
            text = await sock.ws.recv()
            raw.append(text)
            message = json.loads(text)
            if message.get("type") == "next" and "boardEvents" in (message["payload"].get("data") or {}):
                assert not message["payload"].get("errors"), message
                if message["payload"]["data"]["boardEvents"]["seq"] >= marker:
                    done.add(message["id"])
    await sock.close()
    return "\n".join(raw).encode()


async def live_writes(world: World) -> int:
    """Changes to both cards while subscribers listen; returns the marker's seq."""
    org = world.org
    admin = org.ctx("sales_admin")
    await ok(comments.add_comment(admin, {"opportunity_id": world.secret, "body": f"again {SECRET_COMMENT}"}))
    await ok(tasks.create_task(admin, {"opportunity_id": world.secret, "title": f"{SECRET_TASK} live"}))
    await ok(comments.add_comment(admin, {"opportunity_id": world.joint, "body": "@marketing @legal @finance marker"}))
    return await log_head(org.db, org.id)


# ---------------------------------------------------------------- the suite


@pytest.fixture
async def world(live_server, org):
    async with httpx.AsyncClient(base_url=live_server.http, timeout=30) as client:
        yield World(org=org, server=live_server, client=client,
                    emails={who: user.email for who, user in org.users.items()})


def leaks(found: dict[str, bytes], forbidden) -> list[str]:
    return [f"{path}: {canary!r}" for path, data in found.items() for canary in forbidden if canary.encode() in data]


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_no_canary_reaches_a_viewer_the_rules_forbid(world, name):
    scenario = SCENARIOS[name]
    org = world.org
    if scenario.viewer == "finance token":
        made = json.loads(await world.post(
            "sales_admin", 'mutation { createApiToken(input: {name: "erp", scope: WRITE, departmentKey: "finance"}) { token apiToken { user { email } } } }'))
        world.tokens["finance token"] = made["data"]["createApiToken"]["token"]
        world.emails["finance token"] = made["data"]["createApiToken"]["apiToken"]["user"]["email"]
        async with org.db.read() as session:
            viewer_user = (await session.execute(select(m.User).where(m.User.email == world.emails["finance token"]))).scalar_one()
    else:
        viewer_user = org.users[scenario.viewer]
    await plant(world, viewer_user)

    # The admin reads first: every path shows canaries to them, and fills the result cache.
    admin = await read_paths(world, "sales_admin")
    silent = [path for path, data in admin.items()
              if not path.startswith(("cli import", "update", "comment")) and not any(c.encode() in data for c in SECRET)]
    assert silent == [], f"paths showing the admin no canary prove nothing: {silent}"

    for rule in scenario.rules:
        assert b'"userErrors":[]' in await world.post("sales_admin", SET_RULE, {"input": rule})
    seen = await read_paths(world, scenario.viewer)
    again = await read_paths(world, scenario.viewer)  # served from the cache this time
    assert leaks(seen, scenario.forbidden) == [] and leaks(again, scenario.forbidden) == []
    missing = [c for c in scenario.required if c.encode() not in seen["board"] + seen["events"]]
    assert missing == [], f"involvement must keep these in view: {missing}"
    for probe in ("update secret", "comment secret"):
        if SECRET_TITLE in scenario.forbidden:
            assert b"NOT_FOUND" in seen[probe], seen[probe]

    # Live: the viewer's frames beside an admin's identical subscriptions on the same process.
    marker = asyncio.get_running_loop().create_future()
    admin_frames = asyncio.create_task(frames(world, "sales_admin", lambda: marker))

    async def writes() -> int:
        marker.set_result(await live_writes(world))
        return marker.result()

    viewer_frames = await frames(world, scenario.viewer, writes)
    admin_bytes = await admin_frames
    assert any(c.encode() in admin_bytes for c in SECRET)
    assert leaks({"subscriptions": viewer_frames}, scenario.forbidden) == []
    missing = [c for c in scenario.required if c.encode() not in viewer_frames]
    assert missing == [], f"the stream must carry the involved card: {missing}"


async def test_a_webhook_receives_only_what_its_identity_may_see(world):
    org = world.org
    await plant(world, org.users["legal_member"])
    for rule in SCENARIOS["department DEPARTMENT"].rules:
        assert b'"userErrors":[]' in await world.post("sales_admin", SET_RULE, {"input": rule})
    admin_ctx = Ctx(db=org.db, viewer=Viewer(user=org.users["sales_admin"]), webhook_allow_private=True)
    as_legal, _, errors = await webhook_rules.create_webhook(admin_ctx, {"url": "http://127.0.0.1:9/legal", "acts_as_department_key": "legal"})
    assert not errors
    as_admin, _, errors = await webhook_rules.create_webhook(admin_ctx, {"url": "http://127.0.0.1:9/admin"})
    assert not errors
    # Endpoints hear what happens after they are registered: the secret card changes, the joint card is won.
    await live_writes(world)
    sales = org.ctx("sales_member")
    async with org.db.read() as session:
        joint = await session.get(m.Opportunity, parse_global(world.joint)[1])
    await ok(rules.update_opportunity(sales, {"id": world.joint, "version": joint.version, "title": JOINT_TITLE + " signed"}))
    await enqueue(org.db, datetime.now(timezone.utc))
    async with org.db.read() as session:
        bodies = {
            hook: "\n".join((await session.execute(
                select(m.WebhookDelivery.body).where(m.WebhookDelivery.webhook_id == hook).order_by(m.WebhookDelivery.id)
            )).scalars()).encode()
            for hook in (as_legal.id, as_admin.id)
        }
    assert any(c.encode() in bodies[as_admin.id] for c in SECRET)  # the admin's endpoint hears it all
    assert leaks({"legal webhook": bodies[as_legal.id]}, SECRET) == []
    # The joint card (legal has a handoff on it) arrives with its snapshot, amount included.
    assert JOINT_TITLE.encode() in bodies[as_legal.id] and JOINT_AMOUNT.encode() in bodies[as_legal.id]
    events = [json.loads(line) for line in bodies[as_legal.id].decode().splitlines()]
    assert {e["snapshot"]["account"] for e in events if e["snapshot"]} == {JOINT_ACCOUNT}
    assert all("legal" in e["departmentKeys"] for e in events if e["opportunityId"] == world.joint)
