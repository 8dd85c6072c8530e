"""Notification channels against real local receivers: the Feishu, DingTalk and WeCom
bot bodies and signatures as each vendor documents them, email through a real SMTP
server, routing and quiet hours, redaction per reader, a broken bot beside working
ones, durability across a restart, and bad input refused with nothing written."""
import base64
import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select, update

from api.channels import deliver_due
from api.settings import Settings
from db import models as m
from db.engine import Database
from resolvers import channels as channel_rules
from resolvers import handoffs
from tests.api.channel_receivers import (
    SMTP_PASSWORD,
    SMTP_USER,
    Bots,
    bots,  # noqa: F401 - fixture
    dingtalk_expected_sign,
    feishu_expected_sign,
    serve,
    smtp,  # noqa: F401 - fixture
    smtp_tls,  # noqa: F401 - fixture
)
from tests.api.workflow_helpers import REQUEST_HANDOFF, create, mutate
from tests.conftest import free_port

BASE = "https://baton.example"
ERRS = "userErrors { field code message }"
SET_CHANNEL = ("mutation($i: SetNotificationChannelInput!) { setNotificationChannel(input: $i) { channel { id type name target "
               "hasSecret kinds enabled department { key } user { handle } } " + ERRS + " } }")
SET_PREFS = ("mutation($i: SetNotificationPreferencesInput!) { setNotificationPreferences(input: $i) { preferences { timeZone "
             "quietHoursStart quietHoursEnd digestTime routes { kind channelIds } } " + ERRS + " } }")
DELIVERIES = ("query($c: ID) { channelDeliveries(channelId: $c) { totalCount edges { node { id kind status attempts "
              "lastError lastStatusCode summary channelId } } } }")
CHANNELS = "{ notificationChannels { totalCount edges { node { id type target hasSecret department { key } user { handle } } } } }"


@pytest.fixture(autouse=True)
def channel_env(monkeypatch):
    # Loopback receivers are allowed; the app's own loops are off: the tests drive deliver_due with their clock.
    monkeypatch.setenv("BATON_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("BATON_CHANNEL_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("BATON_WEBHOOK_INTERVAL_SECONDS", "0")


@pytest.fixture(autouse=True)
async def quiet_channels(db):
    """deliver_due serves every organization: switch this test's channels off afterwards."""
    yield
    async with db.write() as s:
        await s.execute(update(m.NotificationChannel).values(enabled=False))


@pytest.fixture
def settings(database_url, smtp):
    return Settings(database_url=database_url, webhook_allow_private=True, webhook_timeout_seconds=5, base_url=BASE,
                    smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False, smtp_username=SMTP_USER,
                    smtp_password=SMTP_PASSWORD, smtp_from="Baton <baton@baton.example>")


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


async def set_channel(gql, as_="sales_admin", **fields) -> dict:
    result = (await gql.ok(SET_CHANNEL, {"i": fields}, as_=as_))["setNotificationChannel"]
    assert result["userErrors"] == [], result
    return result["channel"]


async def hand_to_legal(gql, **card) -> dict:
    opp = await create(gql, **card)
    result = await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=opp["id"], toDepartmentKey="legal")
    assert result["userErrors"] == [], result
    return opp


async def handoff_note(org) -> m.Notification:
    async with org.db.read() as s:
        return (await s.execute(select(m.Notification).where(
            m.Notification.user_id == org.users["legal_member"].id, m.Notification.kind == "handoff"))).scalars().first()


async def channel_deliveries(org) -> list[m.ChannelDelivery]:
    async with org.db.read() as s:
        return list((await s.execute(select(m.ChannelDelivery).where(m.ChannelDelivery.org_id == org.id)
                                     .order_by(m.ChannelDelivery.id))).scalars())


def expected_body(vendor: str, text: str, details: list[str], link: str) -> dict:
    """The documented message body of each vendor, written out."""
    if vendor == "FEISHU":  # msg_type "post": rich text, one paragraph per line
        lines = [[{"tag": "text", "text": text}], *[[{"tag": "text", "text": d}] for d in details],
                 [{"tag": "a", "text": "Open in Baton", "href": link}]]
        return {"msg_type": "post", "content": {"post": {"zh_cn": {"title": "Handoff", "content": lines}}}}
    if vendor == "DINGTALK":  # msgtype "markdown": {title, text}
        text_md = "\n".join(["#### Handoff", "", text, "", *[f"- {d}" for d in details], "", f"[Open in Baton]({link})"])
        return {"msgtype": "markdown", "markdown": {"title": "Handoff", "text": text_md}}
    content = "\n".join([f"**Handoff**", text, *[f"> {d}" for d in details], f"[Open in Baton]({link})"])
    return {"msgtype": "markdown", "markdown": {"content": content}}  # WeCom: msgtype "markdown": {content}


@pytest.mark.parametrize("vendor", ["FEISHU", "DINGTALK", "WECOM"])
async def test_department_bot_gets_the_documented_body_and_signature(gql, org, db, clock, bots, http, settings, vendor):
    token, secret = f"{vendor.lower()}-tok-7Hq2", f"SEC{vendor.lower()}-secret-x91"
    bots.secrets[token] = secret
    bots.secrets["wecom_keys"] = {token}
    channel = await set_channel(gql, type=vendor, departmentKey="legal", target=bots.url(vendor, token),
                                secret=secret if vendor != "WECOM" else None, kinds=["handoff", "approval"])
    assert channel["department"] == {"key": "legal"} and channel["user"] is None and channel["kinds"] == ["handoff", "approval"]
    assert token not in channel["target"] and channel["hasSecret"] is (vendor != "WECOM")
    opp = await hand_to_legal(gql)
    await gql.ok('mutation($i: AddCommentInput!) { addComment(input: $i) { comment { id } } }',
                 {"i": {"opportunityId": opp["id"], "body": "@legal_member please look"}})  # a mention: not a kind it hears

    stats = await deliver_due(db, clock(), http, settings)
    assert stats["delivered"] == 1 and stats["failed"] == 0, stats
    [post] = bots.of(vendor)
    note = await handoff_note(org)
    body = post.body
    if vendor == "FEISHU":  # timestamp (seconds) and sign travel in the body
        assert body.pop("timestamp") == str(int(clock().timestamp()))
        assert body.pop("sign") == feishu_expected_sign(secret, str(int(clock().timestamp())))
    if vendor == "DINGTALK":  # ... and in DingTalk's URL query, timestamp in milliseconds
        assert post.query["access_token"] == token and post.query["timestamp"] == str(int(clock().timestamp() * 1000))
        assert post.query["sign"] == dingtalk_expected_sign(secret, post.query["timestamp"])
    if vendor == "WECOM":
        assert post.query == {"key": token}
    assert body == expected_body(vendor, note.message, ["Account: Northwind", "Stage: lead"], f"{BASE}/#board/{opp['id']}")
    assert post.headers["content-type"].startswith("application/json")
    [delivery] = await channel_deliveries(org)
    assert (delivery.status, delivery.kind, delivery.attempts) == ("DELIVERED", "handoff", 1)
    # Nothing more on the next pass.
    assert (await deliver_due(db, clock(), http, settings))["delivered"] == 0 and len(bots.of(vendor)) == 1


async def test_a_wrong_signature_is_a_failed_attempt(gql, org, db, clock, bots, http, settings):
    bots.secrets["tok-ding"] = "SEC-the-real-one"
    await set_channel(gql, type="DINGTALK", departmentKey="legal", target=bots.url("DINGTALK", "tok-ding"), secret="SEC-a-wrong-one")
    await hand_to_legal(gql)
    stats = await deliver_due(db, clock(), http, settings)
    assert stats["failed"] == 1
    [delivery] = await channel_deliveries(org)
    assert delivery.status == "PENDING" and delivery.last_error == "refused: 310000 sign not match"
    assert delivery.next_attempt_at == clock() + timedelta(seconds=30)


async def test_email_over_smtp_with_text_html_and_link(gql, org, db, clock, http, settings, smtp):
    own = await set_channel(gql, as_="legal_member", type="EMAIL")
    assert own["target"] == org.users["legal_member"].email and own["user"] == {"handle": "legal_member"}
    opp = await hand_to_legal(gql, amount="48000")
    stats = await deliver_due(db, clock(), http, settings)
    assert stats["delivered"] == 1, stats
    [(sender, recipients, mail)] = smtp.messages
    assert smtp.logins == [(SMTP_USER.encode(), True)]
    assert sender == "baton@baton.example" and recipients == [org.users["legal_member"].email]
    note = await handoff_note(org)
    assert mail["Subject"] == f"Baton · Handoff: {note.message}" and mail["To"] == org.users["legal_member"].email
    link = f"{BASE}/#board/{opp['id']}"
    text = mail.get_body(("plain",)).get_content()
    assert text.splitlines() == [note.message, "", "Account: Northwind", "Stage: lead", "Amount: 48000.00 USD", "",
                                 f"Open in Baton: {link}"]
    page = mail.get_body(("html",)).get_content()
    assert f'<a href="{link}">Open in Baton</a>' in page and "<li>Amount: 48000.00 USD</li>" in page


async def test_wrong_smtp_password_fails_without_showing_it(gql, org, db, clock, http, settings, smtp):
    await set_channel(gql, as_="legal_member", type="EMAIL")
    await hand_to_legal(gql)
    wrong = settings.model_copy(update={"smtp_password": "not-the-Pa55word"})
    assert (await deliver_due(db, clock(), http, wrong))["failed"] == 1
    [delivery] = await channel_deliveries(org)
    assert delivery.last_status_code == 535 and "SMTPAuthenticationError" in delivery.last_error, delivery.last_error
    assert "not-the-Pa55word" not in delivery.last_error and smtp.messages == []


async def test_email_starttls_verifies_the_server_and_signs_in_only_over_tls(gql, org, db, clock, http, settings, smtp, smtp_tls):
    await set_channel(gql, as_="legal_member", type="EMAIL")
    await hand_to_legal(gql)
    tls = settings.model_copy(update={"smtp_port": smtp_tls.port, "smtp_starttls": True, "smtp_ca_file": smtp_tls.ca_file})

    async def attempt(config) -> m.ChannelDelivery:
        clock.advance(hours=1)  # past any back-off
        await deliver_due(db, clock(), http, config)
        [delivery] = await channel_deliveries(org)
        return delivery

    # A server that offers no STARTTLS is not talked to in plain text instead.
    refused = await attempt(settings.model_copy(update={"smtp_starttls": True}))
    assert refused.status == "PENDING" and "STARTTLS extension not supported" in refused.last_error, refused.last_error
    assert smtp.logins == [] and smtp.messages == []
    # The system's trust store does not know the server's CA: the certificate is refused.
    untrusted = await attempt(tls.model_copy(update={"smtp_ca_file": None}))
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.last_error, untrusted.last_error
    # Without STARTTLS the server offers no sign-in, so none is attempted.
    plain = await attempt(tls.model_copy(update={"smtp_starttls": False}))
    assert "SMTP AUTH extension not supported" in plain.last_error, plain.last_error
    assert smtp_tls.logins == [] and smtp_tls.messages == []

    delivered = await attempt(tls)
    assert delivered.status == "DELIVERED", delivered.last_error
    assert smtp_tls.logins == [(SMTP_USER.encode(), True)] and smtp_tls.data_over_tls == [True]
    [(_, recipients, _)] = smtp_tls.messages
    assert recipients == [org.users["legal_member"].email]
    # On the wire: EHLO and STARTTLS in clear text, the credentials only inside TLS.
    clear = b"".join(data for over_tls, data in smtp_tls.received if not over_tls)
    inside = b"".join(data for over_tls, data in smtp_tls.received if over_tls)
    credentials = base64.b64encode(f"\0{SMTP_USER}\0{SMTP_PASSWORD}".encode())
    assert b"STARTTLS" in clear and b"AUTH" not in clear.upper()
    assert credentials not in clear and SMTP_PASSWORD.encode() not in clear and SMTP_USER.encode() not in clear
    assert b"AUTH PLAIN " + credentials in inside


async def test_a_department_channel_sees_what_its_members_may_see(gql, org, db, clock, bots, http, settings, smtp):
    rule = await gql.ok('mutation { setAccessRule(input: {role: MEMBER, departmentKey: "legal", scope: ALL, '
                        'hiddenFields: ["amount", "account"]}) { userErrors { code } } }', as_="sales_admin")
    assert rule["setAccessRule"]["userErrors"] == []
    bots.secrets["wecom_keys"] = {"k-legal"}
    await set_channel(gql, type="WECOM", departmentKey="legal", target=bots.url("WECOM", "k-legal"))
    await set_channel(gql, as_="legal_manager", type="EMAIL")  # managers have no rule: they see amounts
    await hand_to_legal(gql, amount="48000")
    assert (await deliver_due(db, clock(), http, settings))["delivered"] == 2
    [post] = bots.of("WECOM")
    group = post.body["markdown"]["content"]
    assert "Stage: lead" in group and "48000" not in group and "Northwind" not in group
    [(_, _, mail)] = smtp.messages
    assert "Amount: 48000.00 USD" in mail.get_body(("plain",)).get_content()


async def test_a_broken_bot_does_not_hold_up_the_others(gql, org, db, clock, bots, http, settings, smtp):
    bots.broken.add("FEISHU")
    bots.secrets["wecom_keys"] = {"k-ok"}
    await set_channel(gql, type="FEISHU", departmentKey="legal", target=bots.url("FEISHU", "tok-broken"))
    await set_channel(gql, type="DINGTALK", departmentKey="legal", target=f"http://127.0.0.1:{free_port()}/robot/send?access_token=t")
    await set_channel(gql, type="WECOM", departmentKey="legal", target=bots.url("WECOM", "k-ok"))
    await set_channel(gql, as_="legal_member", type="EMAIL")
    await hand_to_legal(gql)
    stats = await deliver_due(db, clock(), http, settings)
    assert (stats["delivered"], stats["failed"]) == (2, 2), stats
    assert len(bots.of("WECOM")) == 1 and len(smtp.messages) == 1
    by_status = {d.status for d in await channel_deliveries(org)}
    assert by_status == {"DELIVERED", "PENDING"}
    # The broken bot is retried with backoff until it works again; the others are not resent.
    bots.broken.clear()
    clock.advance(seconds=29)
    assert (await deliver_due(db, clock(), http, settings))["delivered"] == 0
    clock.advance(seconds=2)
    stats = await deliver_due(db, clock(), http, settings)
    assert (stats["delivered"], stats["failed"]) == (1, 1)
    assert len(bots.of("FEISHU")) == 2 and len(bots.of("WECOM")) == 1 and len(smtp.messages) == 1
    channels = (await gql.ok(CHANNELS, as_="sales_admin"))["notificationChannels"]
    assert channels["totalCount"] == 4


async def test_nothing_is_lost_across_a_restart(gql, org, database_url, clock, http, settings):
    bots = Bots(clock=clock)  # not listening yet: the receiver is down
    bots.secrets["tok-r"] = "SEC-restart"
    await set_channel(gql, type="FEISHU", departmentKey="legal", target=bots.url("FEISHU", "tok-r"), secret="SEC-restart")
    await hand_to_legal(gql, title="First")
    first = Database(database_url)
    stats = await deliver_due(first, clock(), http, settings)
    assert (stats["enqueued"], stats["failed"]) == (1, 1)
    await first.dispose()
    # While no process delivers, another handoff happens; then a fresh process starts.
    await hand_to_legal(gql, title="Second")
    stop = await serve(bots)
    try:
        clock.advance(minutes=5)
        second = Database(database_url)
        stats = await deliver_due(second, clock(), http, settings)
        await second.dispose()
    finally:
        await stop()
    assert (stats["enqueued"], stats["delivered"]) == (1, 2), stats
    texts = sorted(p.body["content"]["post"]["zh_cn"]["content"][0][0]["text"] for p in bots.of("FEISHU"))
    assert len(texts) == 2 and "First" in texts[0] and "Second" in texts[1]
    assert [d.status for d in await channel_deliveries(org)] == ["DELIVERED", "DELIVERED"]


async def test_routes_send_kinds_to_chosen_channels(gql, org, db, clock, bots, http, settings, smtp):
    bots.secrets["tok-mine"] = "SEC-mine"
    mail = await set_channel(gql, as_="legal_member", type="EMAIL", name="Work mail")
    ding = await set_channel(gql, as_="legal_member", type="DINGTALK", target=bots.url("DINGTALK", "tok-mine"), secret="SEC-mine")
    prefs = (await gql.ok(SET_PREFS, {"i": {"routes": [{"kind": "handoff", "channelIds": [mail["id"]]},
                                                         {"kind": "mention", "channelIds": []}]}}, as_="legal_member"))
    assert prefs["setNotificationPreferences"]["preferences"]["routes"] == [
        {"kind": "handoff", "channelIds": [mail["id"]]}, {"kind": "mention", "channelIds": []}]
    opp = await hand_to_legal(gql)
    await gql.ok('mutation($i: AddCommentInput!) { addComment(input: $i) { comment { id } } }',
                 {"i": {"opportunityId": opp["id"], "body": "@legal_member see this"}})
    users = {u["handle"]: u["id"] for u in (await gql.ok("{ users { id handle } }"))["users"]}
    await gql.ok('mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } } }',
                 {"i": {"opportunityId": opp["id"], "title": "Review", "assigneeId": users["legal_member"]}})
    await deliver_due(db, clock(), http, settings)
    # handoff -> email only; mention -> inbox only; assigned (no route) -> both channels.
    kinds = sorted((d.channel_id, d.kind) for d in await channel_deliveries(org))
    assert kinds == sorted([(pk(mail), "handoff"), (pk(mail), "assigned"), (pk(ding), "assigned")])
    assert len(smtp.messages) == 2 and len(bots.of("DINGTALK")) == 1


def pk(channel: dict) -> int:
    from resolvers.ids import parse_global

    return parse_global(channel["id"])[1]


async def test_quiet_hours_hold_messages_until_they_end(org, db, clock, bots, http, settings):
    shanghai = ZoneInfo("Asia/Shanghai")
    clock.now = datetime(2031, 5, 6, 23, 30, tzinfo=shanghai).astimezone(timezone.utc)
    legal = org.ctx("legal_member", clock)
    legal.webhook_allow_private = True
    bots.secrets["tok-q"] = "SEC-q"
    channel, errors = await channel_rules.set_channel(legal, {"type": "DINGTALK", "target": bots.url("DINGTALK", "tok-q"), "secret": "SEC-q"})
    assert errors == []
    _, errors = await channel_rules.set_preferences(legal, {"quiet_hours_start": "22:00", "quiet_hours_end": "08:00"})
    assert errors == []
    sales = org.ctx("sales_member", clock)
    from resolvers import opportunities
    from resolvers.ids import to_global

    card, errors = await opportunities.create_opportunity(sales, {"title": "Night deal", "account_name": "Northwind"})
    _, errors = await handoffs.request_handoff(sales, {"opportunity_id": to_global("Opportunity", card.id), "to_department_key": "legal"})
    assert errors == []
    assert (await deliver_due(db, clock(), http, settings))["enqueued"] == 1
    [delivery] = await channel_deliveries(org)
    assert delivery.next_attempt_at == datetime(2031, 5, 7, 8, 0, tzinfo=shanghai)
    clock.now = datetime(2031, 5, 7, 7, 59, tzinfo=shanghai).astimezone(timezone.utc)
    assert (await deliver_due(db, clock(), http, settings))["delivered"] == 0 and bots.of("DINGTALK") == []
    clock.now = datetime(2031, 5, 7, 8, 0, tzinfo=shanghai).astimezone(timezone.utc)
    assert (await deliver_due(db, clock(), http, settings))["delivered"] == 1
    assert channel.id == delivery.channel_id


async def test_test_message_and_the_delivery_log(gql, org, db, clock, bots, http, settings):
    bots.secrets["wecom_keys"] = {"k-test"}
    channel = await set_channel(gql, as_="legal_member", type="WECOM", target=bots.url("WECOM", "k-test"))
    sent = (await gql.ok('mutation($i: NotificationChannelIdInput!) { testNotificationChannel(input: $i) { delivery { id kind status } '
                         + ERRS + ' } }', {"i": {"id": channel["id"]}}, as_="legal_member"))["testNotificationChannel"]
    assert sent["userErrors"] == [] and sent["delivery"]["kind"] == "test" and sent["delivery"]["status"] == "PENDING"
    await deliver_due(db, clock(), http, settings)
    assert "checked that Baton reaches" in bots.of("WECOM")[0].body["markdown"]["content"]
    mine = (await gql.ok(DELIVERIES, {"c": channel["id"]}, as_="legal_member"))["channelDeliveries"]
    assert mine["totalCount"] == 1 and mine["edges"][0]["node"]["status"] == "DELIVERED"
    # Another user's channel does not exist for them; the whole log is for admins.
    other = await gql(DELIVERIES, {"c": channel["id"]}, as_="finance_member")
    assert other["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    everything = await gql(DELIVERIES, as_="legal_member")
    assert everything["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql.ok(DELIVERIES, as_="sales_admin"))["channelDeliveries"]["totalCount"] == 1


async def test_bad_input_is_refused_with_nothing_written(gql, org):
    async def count(model):
        async with org.db.read() as s:
            return await s.scalar(select(func.count()).select_from(model).where(model.org_id == org.id))

    refused = (await gql.ok(SET_CHANNEL, {"i": {"type": "WECOM", "target": "ftp://example.com/x", "secret": "s3", "kinds": ["gossip"]}},
                            as_="legal_member"))["setNotificationChannel"]
    assert sorted((e["code"], e["field"][0]) for e in refused["userErrors"]) == [
        ("VALIDATION", "kinds"), ("VALIDATION", "secret"), ("VALIDATION", "target")]
    forbidden = (await gql.ok(SET_CHANNEL, {"i": {"type": "EMAIL", "departmentKey": "legal", "target": "legal@example.com"}},
                              as_="legal_member"))["setNotificationChannel"]
    assert [e["code"] for e in forbidden["userErrors"]] == ["FORBIDDEN"]
    bad_mail = (await gql.ok(SET_CHANNEL, {"i": {"type": "EMAIL", "target": "not an address"}}, as_="legal_member"))["setNotificationChannel"]
    assert [(e["code"], e["field"]) for e in bad_mail["userErrors"]] == [("VALIDATION", ["target"])]
    assert await count(m.NotificationChannel) == 0

    other = await set_channel(gql, as_="finance_member", type="EMAIL")
    prefs = (await gql.ok(SET_PREFS, {"i": {"quietHoursStart": "25:00", "timeZone": "Mars/Olympus", "digestTime": "9am",
                                            "routes": [{"kind": "alert", "channelIds": [other["id"]]}]}}, as_="legal_member"))
    errors = prefs["setNotificationPreferences"]["userErrors"]
    assert sorted((e["code"], e["field"][0]) for e in errors) == [
        ("NOT_FOUND", "routes"), ("VALIDATION", "digestTime"), ("VALIDATION", "quietHoursStart"),
        ("VALIDATION", "timeZone")]
    assert await count(m.NotificationPreference) == 0
    current = (await gql.ok("{ notificationPreferences { timeZone quietHoursStart digestTime routes { kind } } }", as_="legal_member"))
    assert current["notificationPreferences"] == {"timeZone": "Asia/Shanghai", "quietHoursStart": None, "digestTime": None, "routes": []}


async def test_secrets_never_reach_answers_or_logs(gql, org, db, clock, bots, http, settings, caplog):
    caplog.set_level(logging.DEBUG)
    hook, ding_token, ding_secret, wecom_key = "fs-hook-TOKEN-5521", "ding-ACCESS-7781", "SECding-sign-0042", "wecom-KEY-9931"
    bots.broken.update({"FEISHU", "DINGTALK", "WECOM"})  # their answers echo the URL back
    await set_channel(gql, type="FEISHU", departmentKey="legal", target=bots.url("FEISHU", hook), secret="SECfeishu-sign-7")
    await set_channel(gql, type="DINGTALK", departmentKey="legal", target=bots.url("DINGTALK", ding_token), secret=ding_secret)
    await set_channel(gql, type="WECOM", departmentKey="legal", target=bots.url("WECOM", wecom_key))
    await hand_to_legal(gql)
    bad_smtp = settings.model_copy(update={"smtp_password": "wrong-SMTP-secret-55"})
    await set_channel(gql, as_="legal_member", type="EMAIL")
    stats = await deliver_due(db, clock(), http, bad_smtp)
    assert stats["failed"] == 4
    answers = str(await gql.ok(CHANNELS, as_="sales_admin")) + str(await gql.ok(DELIVERIES, as_="sales_admin"))
    assert "HTTP 500" in answers and "***" in answers
    secrets = [hook, ding_token, ding_secret, wecom_key, "SECfeishu-sign-7", "wrong-SMTP-secret-55", SMTP_PASSWORD]
    assert [s for s in secrets if s in answers] == []
    assert "HTTP Request: POST" in caplog.text  # the client's request lines were logged, masked
    assert [s for s in secrets if s in caplog.text] == []


STATE = "{ notificationChannels { edges { node { id enabled consecutiveFailures disabledAt disabledReason failingSince } } } }"


async def channel_state(gql, channel: dict, as_="sales_admin") -> dict:
    edges = (await gql.ok(STATE, as_=as_))["notificationChannels"]["edges"]
    [node] = [e["node"] for e in edges if e["node"]["id"] == channel["id"]]
    return {k: v for k, v in node.items() if k != "id"}


async def alerts_of(org, who: str) -> list[str]:
    async with org.db.read() as s:
        return list((await s.execute(select(m.Notification.message).where(
            m.Notification.user_id == org.users[who].id, m.Notification.kind == "alert").order_by(m.Notification.id))).scalars())


async def test_a_department_channel_failing_in_a_row_is_disabled_once_and_comes_back_fresh(gql, org, db, clock, bots, http, settings):
    three = settings.model_copy(update={"channel_disable_after_failures": 3})
    bots.broken.add("FEISHU")  # answers HTTP 500
    bots.secrets["wecom_keys"] = {"k-fine"}
    broken = await set_channel(gql, type="FEISHU", departmentKey="legal", name="法务群", target=bots.url("FEISHU", "tok-500"))
    await set_channel(gql, type="WECOM", departmentKey="legal", target=bots.url("WECOM", "k-fine"))

    # Two failures, then a success: the count starts over.
    for n in range(2):
        await hand_to_legal(gql, title=f"Early {n}")
    stats = await deliver_due(db, clock(), http, three)
    assert (stats["delivered"], stats["failed"], stats["disabled"]) == (2, 2, 0), stats
    assert (await channel_state(gql, broken))["consecutiveFailures"] == 2
    bots.broken.clear()
    clock.advance(minutes=1)
    assert (await deliver_due(db, clock(), http, three))["delivered"] == 2
    state = (await channel_state(gql, broken))
    assert (state["consecutiveFailures"], state["failingSince"], state["enabled"]) == (0, None, True)

    # Three in a row: disabled, its waiting deliveries failed, the admins told once.
    bots.broken.add("FEISHU")
    for n in range(3):
        await hand_to_legal(gql, title=f"Late {n}")
    stats = await deliver_due(db, clock(), http, three)
    assert (stats["delivered"], stats["failed"], stats["disabled"]) == (3, 3, 1), stats
    state = (await channel_state(gql, broken))
    assert state["enabled"] is False and state["consecutiveFailures"] == 3 and state["disabledAt"] is not None
    assert state["disabledReason"].startswith("3 failed deliveries in a row; last error: HTTP 500")
    assert "tok-500" not in state["disabledReason"]  # scrubbed like every delivery error
    feishu = [d for d in await channel_deliveries(org) if d.channel_id == pk(broken)]
    assert sorted(d.status for d in feishu) == ["DELIVERED", "DELIVERED", "FAILED", "FAILED", "FAILED"]
    expected = "The Legal channel “法务群” was disabled after 3 failed deliveries in a row. Fix it, then enable it again."
    assert await alerts_of(org, "sales_admin") == [expected]
    assert await alerts_of(org, "legal_member") == []  # department channels are the admins' to fix
    async with org.db.read() as s:
        event = (await s.execute(select(m.Event).where(m.Event.org_id == org.id, m.Event.type == "ALERT_RAISED"))).scalar_one()
    assert event.changes == {"channel": [broken["id"], "disabled"], "failures": 3} and event.department_keys == ["legal"]

    # Disabled, it is not posted to (and not re-announced); the working bot goes on.
    posts = len(bots.of("FEISHU"))
    await hand_to_legal(gql, title="While disabled")
    clock.advance(hours=2)
    stats = await deliver_due(db, clock(), http, three)
    assert (stats["delivered"], stats["failed"], stats["disabled"]) == (1, 0, 0), stats
    assert len(bots.of("FEISHU")) == posts and len(bots.of("WECOM")) == 6
    assert len(await alerts_of(org, "sales_admin")) == 1

    # Enabled again by its admin: a fresh count, so two more failures do not disable it.
    again = await set_channel(gql, id=broken["id"], enabled=True)
    assert again["enabled"] is True
    state = (await channel_state(gql, broken))
    assert state == {"enabled": True, "consecutiveFailures": 0, "disabledAt": None, "disabledReason": None, "failingSince": None}
    for n in range(2):
        await hand_to_legal(gql, title=f"After {n}")
    stats = await deliver_due(db, clock(), http, three)
    assert (stats["failed"], stats["disabled"]) == (2, 0), stats
    assert (await channel_state(gql, broken))["enabled"] is True


async def test_a_users_failing_channel_is_disabled_and_the_alert_reaches_their_other_channel(gql, org, db, clock, bots, http, settings, smtp):
    three = settings.model_copy(update={"channel_disable_after_failures": 3})
    bots.secrets["tok-mine"] = "SEC-the-real-one"  # the robot refuses the signature: errcode 310000
    ding = await set_channel(gql, as_="legal_member", type="DINGTALK", name="My robot", target=bots.url("DINGTALK", "tok-mine"),
                             secret="SEC-a-wrong-one")
    await set_channel(gql, as_="legal_member", type="EMAIL")
    for n in range(3):
        await hand_to_legal(gql, title=f"Deal {n}")
    stats = await deliver_due(db, clock(), http, three)
    assert (stats["delivered"], stats["failed"], stats["disabled"]) == (3, 3, 1), stats
    expected = "Your channel “My robot” was disabled after 3 failed deliveries in a row. Fix it, then enable it again."
    assert await alerts_of(org, "legal_member") == [expected]
    assert await alerts_of(org, "sales_admin") == []
    # The next pass carries the alert to the channel that works, and not to the disabled one.
    posts = len(bots.of("DINGTALK"))
    clock.advance(hours=1)
    stats = await deliver_due(db, clock(), http, three)
    assert (stats["enqueued"], stats["delivered"], stats["failed"]) == (1, 1, 0), stats
    assert len(bots.of("DINGTALK")) == posts == 3
    assert smtp.messages[-1][2]["Subject"] == f"Baton · Alert: {expected}"
    listed = (await gql.ok("{ notificationChannels { edges { node { id enabled disabledReason } } } }", as_="legal_member"))
    [mine] = [e["node"] for e in listed["notificationChannels"]["edges"] if e["node"]["id"] == ding["id"]]
    assert mine["enabled"] is False and "refused: 310000 sign not match" in mine["disabledReason"]
