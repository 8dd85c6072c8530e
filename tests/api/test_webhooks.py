"""Outgoing webhooks against a real HTTP receiver on a local port, with an injected clock."""
import asyncio
import json
from datetime import timedelta

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from api.settings import Settings
from api.webhooks import deliver_due, retry_delay, verify
from db import models as m
from resolvers import webhooks as rules
from tests.conftest import free_port

CREATE = """
mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) { secret webhook { id url eventTypes departmentKeys enabled } userErrors { field code message } }
}"""
LIST = """
{ webhooks { id url enabled disabledReason failingSince
    deliveries { totalCount edges { node { id eventId eventType status attempts lastError lastStatusCode nextAttemptAt redeliveryOf } } } } }"""
NEW_CARD = 'mutation { createOpportunity(input: {title: "%s", accountName: "Acme"}) { opportunity { id } } }'


class Receiver:
    """A tiny Starlette app on uvicorn that records each POST and answers with `status`."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        self.status = 200
        self.port = free_port()

        async def hook(request):
            self.received.append((dict(request.headers), await request.body()))
            return PlainTextResponse("ok" if self.status < 300 else "nope", status_code=self.status)

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
async def receiver():
    rec = Receiver()
    server = uvicorn.Server(uvicorn.Config(rec.app, host="127.0.0.1", port=rec.port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield rec
    server.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture(autouse=True)
def webhook_env(monkeypatch):
    # The app under test accepts loopback targets; its own background loop is off so
    # the test drives deliver_due with its clock.
    monkeypatch.setenv("BATON_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("BATON_WEBHOOK_INTERVAL_SECONDS", "0")


@pytest.fixture(autouse=True)
async def quiet_endpoints(db):
    """deliver_due serves every organization: switch this test's endpoints off afterwards
    so later tests (sharing the database) see only their own."""
    yield
    from sqlalchemy import update

    async with db.write() as s:
        await s.execute(update(m.Webhook).values(enabled=False))


@pytest.fixture
def settings(database_url):
    return Settings(database_url=database_url, webhook_allow_private=True, webhook_timeout_seconds=5)


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


async def register(gql, url, **fields):
    result = (await gql.ok(CREATE, {"input": {"url": url, **fields}}, as_="sales_admin"))["createWebhook"]
    assert result["userErrors"] == [], result
    return result


async def webhook_row(org, gid) -> m.Webhook:
    from resolvers.ids import decode

    async with org.db.read() as s:
        return await s.get(m.Webhook, decode(gid, "Webhook", "id"))


async def deliveries(org, webhook_id) -> list[m.WebhookDelivery]:
    async with org.db.read() as s:
        return list((await s.execute(select(m.WebhookDelivery).where(m.WebhookDelivery.webhook_id == webhook_id).order_by(m.WebhookDelivery.id))).scalars())


async def test_signed_delivery_of_matching_events(gql, org, db, clock, receiver, http, settings):
    hook = await register(gql, receiver.url)
    sales_only = await register(gql, receiver.url + "?only=finance", departmentKeys=["finance"], eventTypes=["OPPORTUNITY_CREATED"])
    assert hook["secret"].startswith("whsec_") and sales_only["webhook"]["departmentKeys"] == ["finance"]
    opp = (await gql.ok(NEW_CARD % "Fleet"))["createOpportunity"]["opportunity"]
    await gql.ok('mutation { addComment(input: {opportunityId: "%s", body: "hello"}) { comment { id } } }' % opp["id"])

    stats = await deliver_due(db, clock(), http, settings)
    assert stats["delivered"] == 2 and len(receiver.received) == 2
    bodies = receiver.bodies()
    assert [b["type"] for b in bodies] == ["OPPORTUNITY_CREATED", "COMMENT_ADDED"]
    first = bodies[0]
    assert first["id"] == f"{org.id}:{first['seq']}" and first["opportunityId"] == opp["id"]
    assert first["departmentKeys"] == ["sales"] and first["occurredAt"].startswith(clock().date().isoformat())
    headers, raw = receiver.received[0]
    assert headers["baton-event-id"] == first["id"] and headers["content-type"] == "application/json"
    signature = headers["baton-signature"]
    assert signature.startswith(f"t={int(clock().timestamp())},v1=")
    assert verify(hook["secret"], signature, raw, now=clock().timestamp())
    assert not verify(hook["secret"], signature, raw + b" ", now=clock().timestamp())
    assert not verify("whsec_wrong", signature, raw, now=clock().timestamp())
    assert not verify(hook["secret"], signature, raw, now=clock().timestamp() + 3600)  # replayed later

    # Nothing is posted twice, and a later pass only sends new events.
    assert (await deliver_due(db, clock(), http, settings))["delivered"] == 0
    listed = {w["id"]: w for w in (await gql.ok(LIST, as_="sales_admin"))["webhooks"]}
    log = listed[hook["webhook"]["id"]]["deliveries"]
    assert log["totalCount"] == 2
    assert [e["node"]["status"] for e in log["edges"]] == ["DELIVERED", "DELIVERED"]
    assert listed[sales_only["webhook"]["id"]]["deliveries"]["totalCount"] == 0


async def test_deliveries_come_from_the_event_log_across_restarts(gql, org, db, clock, receiver, settings):
    hook = await register(gql, receiver.url)
    for title in ("A", "B", "C"):
        await gql.ok(NEW_CARD % title)
    receiver.status = 503
    async with httpx.AsyncClient() as first_process:
        assert (await deliver_due(db, clock(), first_process, settings))["failed"] == 3
    # "Restart": a new client and no in-memory state; the pending deliveries are in the database.
    receiver.status = 200
    clock.advance(seconds=30)
    async with httpx.AsyncClient() as second_process:
        assert (await deliver_due(db, clock(), second_process, settings))["delivered"] == 3
    ids = [b["id"] for b in receiver.bodies()]
    assert ids[:3] == ids[3:] and len(set(ids)) == 3  # the same stable event ids, retried
    row = await webhook_row(org, hook["webhook"]["id"])
    # Event 1 is the registration itself (CONFIGURATION_CHANGED, never delivered to endpoints); the cards are 2 to 4.
    assert row.cursor_seq == 4 and row.failing_since is None


async def test_retry_schedule_backs_off_exponentially_capped_at_an_hour(gql, org, db, clock, receiver, http, settings):
    assert [retry_delay(n).total_seconds() for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    hook = await register(gql, receiver.url)
    receiver.status = 500
    await gql.ok(NEW_CARD % "Flaky")
    webhook_id = (await webhook_row(org, hook["webhook"]["id"])).id
    start = clock()
    gaps = []
    for _ in range(9):
        await deliver_due(db, clock(), http, settings)
        (row,) = await deliveries(org, webhook_id)
        gaps.append((row.next_attempt_at - clock()).total_seconds())
        # Not due yet: nothing is posted.
        posted = len(receiver.received)
        clock.now = row.next_attempt_at - timedelta(seconds=1)
        await deliver_due(db, clock(), http, settings)
        assert len(receiver.received) == posted
        clock.now = row.next_attempt_at
    assert gaps == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert row.attempts == 9 and row.status == "PENDING" and row.last_status_code == 500
    assert row.last_error.startswith("HTTP 500") and clock() - start < timedelta(hours=24)


async def test_endpoint_failing_for_a_day_is_disabled_and_admins_are_alerted(gql, org, db, clock, receiver, http, settings):
    hook = await register(gql, receiver.url)
    receiver.status = 500
    await gql.ok(NEW_CARD % "Doomed")
    webhook_id = (await webhook_row(org, hook["webhook"]["id"])).id
    start = clock()
    for _ in range(60):
        stats = await deliver_due(db, clock(), http, settings)
        if stats["disabled"]:
            break
        (row,) = await deliveries(org, webhook_id)
        clock.now = row.next_attempt_at
    assert stats["disabled"] == 1 and stats["given_up"] == 1
    assert timedelta(hours=24) <= clock() - start < timedelta(hours=25)
    row = await webhook_row(org, hook["webhook"]["id"])
    assert not row.enabled and "24 hours" in row.disabled_reason
    (delivery,) = await deliveries(org, webhook_id)
    assert delivery.status == "FAILED" and delivery.next_attempt_at is None
    async with org.db.read() as s:
        notes = list((await s.execute(select(m.Notification).where(m.Notification.org_id == org.id, m.Notification.kind == "alert"))).scalars())
        alert = (await s.execute(select(m.Event).where(m.Event.org_id == org.id, m.Event.type == "ALERT_RAISED"))).scalar_one()
    assert [n.user_id for n in notes] == [org.users["sales_admin"].id] and receiver.url in notes[0].message
    assert alert.actor_id is None and notes[0].event_seq == alert.seq
    # A day has passed on the test clock: sign in again.
    from resolvers.auth import issue_token

    async with org.db.write() as s:
        org.tokens["sales_admin"], _ = await issue_token(s, org.users["sales_admin"], kind="session", now=clock(), hours=24)
    inbox = (await gql.ok("{ notifications { edges { node { kind message } } } }", as_="sales_admin"))["notifications"]["edges"]
    assert inbox[0]["node"]["kind"] == "alert"

    # Disabled: nothing more is posted, new events are not enqueued ...
    posted = len(receiver.received)
    await gql.ok(NEW_CARD % "Later", as_="sales_admin")
    clock.advance(hours=2)
    await deliver_due(db, clock(), http, settings)
    assert len(receiver.received) == posted
    # ... until an admin enables it again; then the backlog (from the cursor) goes out.
    receiver.status = 200
    enabled = await gql.ok(
        'mutation { updateWebhook(input: {id: "%s", enabled: true}) { webhook { enabled disabledReason } userErrors { code } } }' % hook["webhook"]["id"],
        as_="sales_admin",
    )
    assert enabled["updateWebhook"]["webhook"] == {"enabled": True, "disabledReason": None}
    stats = await deliver_due(db, clock(), http, settings)
    # ("Later" is sales_admin's deal on sales_member's customer: its 撞单 events come last.)
    assert stats["delivered"] >= 1 and receiver.bodies()[-1]["type"] in ("OPPORTUNITY_CREATED", "ALERT_RAISED", "OWNERSHIP_CONFLICT_RAISED")


async def test_redelivery_posts_the_same_event_again(gql, org, db, clock, receiver, http, settings):
    hook = await register(gql, receiver.url)
    await gql.ok(NEW_CARD % "Again")
    await deliver_due(db, clock(), http, settings)
    log = (await gql.ok(LIST, as_="sales_admin"))["webhooks"][0]["deliveries"]["edges"]
    delivery_id = log[0]["node"]["id"]
    mutation = 'mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) { delivery { id eventId status redeliveryOf } userErrors { code } } }'
    refused = await gql.ok(mutation, {"id": delivery_id}, as_="sales_member")
    assert refused["redeliverWebhook"]["userErrors"][0]["code"] == "FORBIDDEN"
    result = (await gql.ok(mutation, {"id": delivery_id}, as_="sales_admin"))["redeliverWebhook"]
    assert result["delivery"]["status"] == "PENDING" and result["delivery"]["redeliveryOf"] == delivery_id
    assert result["delivery"]["eventId"] == log[0]["node"]["eventId"]
    assert (await deliver_due(db, clock(), http, settings))["delivered"] == 1
    first, second = receiver.received
    assert first[1] == second[1] and first[0]["baton-event-id"] == second[0]["baton-event-id"]
    assert first[0]["baton-delivery-id"] != second[0]["baton-delivery-id"]
    deleted = await gql.ok('mutation { deleteWebhook(input: {id: "%s"}) { deletedId userErrors { code } } }' % hook["webhook"]["id"], as_="sales_admin")
    assert deleted["deleteWebhook"]["deletedId"] == hook["webhook"]["id"]
    assert (await gql.ok(LIST, as_="sales_admin"))["webhooks"] == []


async def test_private_and_invalid_targets_are_refused(gql, org, db, clock, receiver, http, settings):
    ctx = org.ctx("sales_admin", clock)  # webhook_allow_private defaults to False
    for url in ("http://127.0.0.1:8080/x", "http://localhost/x", "https://10.1.2.3/x", "http://192.168.0.10/x",
                "http://[::1]/x", "http://169.254.169.254/latest/meta-data", "http://intranet/x", "https://db.internal/x",
                "ftp://example.com/x", "javascript:alert(1)", "http://user:pw@example.com/x"):
        row, secret, errors = await rules.create_webhook(ctx, {"url": url})
        assert row is None and secret is None and errors[0].code == "VALIDATION", url
    row, secret, errors = await rules.create_webhook(ctx, {"url": "https://hooks.example.com/baton"})
    assert errors == [] and row.url == "https://hooks.example.com/baton"
    _, _, errors = await rules.create_webhook(ctx, {"url": "https://hooks.example.com/b", "event_types": ["NOPE"]})
    assert errors[0].field == ["eventTypes"]

    # Checked again at delivery time (DNS may change): a private target registered while
    # allowed is refused when the setting is off, and nothing reaches it.
    hook = await register(gql, receiver.url)
    await gql.ok(NEW_CARD % "Blocked")
    strict = Settings(database_url=settings.database_url, webhook_allow_private=False)
    stats = await deliver_due(db, clock(), http, strict)
    assert stats["failed"] >= 1 and receiver.received == []
    (delivery,) = await deliveries(org, (await webhook_row(org, hook["webhook"]["id"])).id)
    assert "private" in delivery.last_error


async def test_background_loop_started_by_the_app_delivers(database_url, org, clock, receiver, monkeypatch):
    from api.app import create_app
    from tests.conftest import GQL, wait_for

    monkeypatch.setenv("BATON_WEBHOOK_INTERVAL_SECONDS", "0.1")
    app = create_app(Settings(database_url=database_url), migrate=False, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://baton.test") as client:
            gql = GQL(client, org)
            await register(gql, receiver.url, eventTypes=["OPPORTUNITY_CREATED"])
            await gql.ok(NEW_CARD % "Looped")

            async def arrived():
                return receiver.received

            await wait_for(arrived, timeout=10)
    assert receiver.bodies()[0]["type"] == "OPPORTUNITY_CREATED"


async def test_every_spelling_of_a_private_address_is_refused_at_creation(org, clock):
    ctx = org.ctx("sales_admin", clock)  # webhook_allow_private defaults to False
    loopback = ["127.1", "0177.0.0.1", "0x7f000001", "2130706433", "0x7f.1", "127.0.0.1.",
                "[::127.0.0.1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:0:0:1]",
                "[64:ff9b::127.0.0.1]", "[2002:7f00:1::]"]
    others = ["0.0.0.0", "0", "[::]", "012.1.2.3", "2852039166", "100.64.0.1", "224.0.0.1", "240.0.0.1",
              "255.255.255.255", "[fe80::1]", "[fec0::1]", "[fd00::1]", "[ff02::1]", "[::ffff:10.0.0.1]"]
    for host in loopback + others:
        for url in (f"http://{host}/x", f"https://{host}:8443/x"):
            row, secret, errors = await rules.create_webhook(ctx, {"url": url})
            assert row is None and secret is None and errors[0].code == "VALIDATION", url
    for host in ("1.1.1.1", "16843009", "[2606:4700::1111]", "[::ffff:1.1.1.1]"):
        row, _, errors = await rules.create_webhook(ctx, {"url": f"https://{host}/x"})
        assert errors == [], host


class FakeDns:
    """Stands in for Baton's resolver: one answer per lookup, the last one repeated."""

    def __init__(self, monkeypatch, *answers: list[str]):
        self.answers = list(answers)
        self.lookups: list[str] = []
        monkeypatch.setattr("api.webhooks.resolve", self.resolve)

    async def resolve(self, host: str) -> list[str]:
        self.lookups.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def recording_client(status=200, headers=None, follow_redirects=False):
    """An httpx client whose transport records each request instead of connecting."""
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(status, headers=headers, text="ok")

    return httpx.AsyncClient(transport=httpx.MockTransport(handle), follow_redirects=follow_redirects), sent


@pytest.fixture
def strict(database_url):
    return Settings(database_url=database_url, webhook_allow_private=False, webhook_timeout_seconds=5)


async def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(gql, org, db, clock, strict, monkeypatch):
    FakeDns(monkeypatch, ["93.184.216.34", "::ffff:127.0.0.1"])  # one private answer is enough
    hook = await register(gql, "https://hooks.example.com/baton")
    await gql.ok(NEW_CARD % "Blocked")
    client, sent = recording_client()
    async with client:
        stats = await deliver_due(db, clock(), client, strict)
    assert stats["failed"] == 1 and sent == []
    (delivery,) = await deliveries(org, (await webhook_row(org, hook["webhook"]["id"])).id)
    assert "private" in delivery.last_error


async def test_delivery_connects_to_the_address_it_checked(gql, org, db, clock, strict, monkeypatch):
    # DNS rebinding: public when checked, loopback if the name were looked up again.
    dns = FakeDns(monkeypatch, ["93.184.216.34"], ["127.0.0.1"])
    await register(gql, "https://hooks.example.com:8443/baton?x=1")
    await gql.ok(NEW_CARD % "Pinned")
    client, sent = recording_client()
    async with client:
        assert (await deliver_due(db, clock(), client, strict))["delivered"] == 1
    assert dns.lookups == ["hooks.example.com"]
    (request,) = sent
    assert str(request.url) == "https://93.184.216.34:8443/baton?x=1"
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"  # TLS verifies the name


async def test_pinned_delivery_reaches_a_real_receiver_by_name(gql, org, db, clock, receiver, http, settings, monkeypatch):
    # BATON_WEBHOOK_ALLOW_PRIVATE: a name resolving to loopback is allowed, and the
    # post goes to the address Baton resolved, with the name in the Host header.
    FakeDns(monkeypatch, ["127.0.0.1"])
    await register(gql, f"http://receiver.test:{receiver.port}/hook")
    await gql.ok(NEW_CARD % "By name")
    assert (await deliver_due(db, clock(), http, settings))["delivered"] == 1
    assert receiver.received[0][0]["host"] == f"receiver.test:{receiver.port}"


async def test_redirects_are_not_followed(gql, org, db, clock, strict, monkeypatch):
    FakeDns(monkeypatch, ["93.184.216.34"])
    hook = await register(gql, "https://hooks.example.com/baton")
    await gql.ok(NEW_CARD % "Moved")
    client, sent = recording_client(302, {"location": "http://127.0.0.1:9/steal"}, follow_redirects=True)
    async with client:
        assert (await deliver_due(db, clock(), client, strict))["failed"] == 1
    assert [str(r.url) for r in sent] == ["https://93.184.216.34/baton"]
    (delivery,) = await deliveries(org, (await webhook_row(org, hook["webhook"]["id"])).id)
    assert delivery.last_status_code == 302 and delivery.status == "PENDING"
