"""The configuration log (issue 24): every configuration change is an event with its actor
and before/after values, read by admins through `configurationLog`; nobody else ever
receives a CONFIGURATION_CHANGED event (the `events` query, boardEvents), and no secret
is ever written into one."""
import json

import pytest

from resolvers.ids import to_global
from resolvers.live import log_head
from tests.conftest import wait_for
from tests.realtime.wsclient import BOARD_EVENTS, Http, open_socket

LOG = """query($first: Int, $after: String, $subject: String) {
  configurationLog(first: $first, after: $after, subject: $subject) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { seq type changes actor { handle } fieldChanges { field before after } } } } }"""
EVENTS = "{ events(first: 100) { edges { node { seq type changes } } } }"
CREATE_TOKEN = """mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) {
  token apiToken { id } userErrors { code } } }"""
REVOKE_TOKEN = "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { apiToken { id } userErrors { code } } }"
SIGN_OUT = "mutation($id: ID!) { revokeUserSessions(input: {userId: $id}) { revokedCount userErrors { code } } }"
CREATE_WEBHOOK = """mutation($input: CreateWebhookInput!) { createWebhook(input: $input) {
  secret webhook { id } userErrors { code field } } }"""
UPDATE_WEBHOOK = "mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) { webhook { id } userErrors { code } } }"
DELETE_WEBHOOK = "mutation($input: DeleteWebhookInput!) { deleteWebhook(input: $input) { userErrors { code } } }"
SET_CHANNEL = """mutation($i: SetNotificationChannelInput!) { setNotificationChannel(input: $i) {
  channel { id target } userErrors { code field } } }"""
DELETE_CHANNEL = "mutation($i: NotificationChannelIdInput!) { deleteNotificationChannel(input: $i) { userErrors { code } } }"
SET_ORG_LOCALE = """mutation($i: SetOrganizationLocaleInput!) { setOrganizationLocale(input: $i) { locale userErrors { code } } }"""
UPDATE_STAGE = """mutation($input: UpdateStageInput!) { updateStage(input: $input) { userErrors { code } } }"""
PIPELINE = "{ pipelines { stages { id key } } }"

HOOK_URL = "https://hooks.example.com/baton?token=receiver-credential"
BOT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=bot-credential"


def nodes(data) -> list[dict]:
    return [edge["node"] for edge in data["configurationLog"]["edges"]]


def entry(node) -> tuple:
    """(subject, action, the other changes) of a CONFIGURATION_CHANGED event."""
    changes = dict(node["changes"])
    return changes.pop("subject")[1], changes.pop("action")[1], changes.pop("target")[1], changes


async def configure_everything(gql, org) -> dict:
    """One change of each kind through the API; the secrets they involve."""
    made = (await gql.ok(CREATE_TOKEN, {"input": {"name": "erp", "scope": "READ", "departmentKey": "finance"}}, as_="sales_admin"))["createApiToken"]
    assert made["userErrors"] == []
    assert (await gql.ok(REVOKE_TOKEN, {"id": made["apiToken"]["id"]}, as_="sales_admin"))["revokeApiToken"]["userErrors"] == []
    hook = (await gql.ok(CREATE_WEBHOOK, {"input": {"url": HOOK_URL, "eventTypes": ["OPPORTUNITY_MOVED"]}}, as_="sales_admin"))["createWebhook"]
    assert hook["userErrors"] == []
    changed = await gql.ok(UPDATE_WEBHOOK, {"input": {"id": hook["webhook"]["id"], "enabled": False}}, as_="sales_admin")
    assert changed["updateWebhook"]["userErrors"] == []
    assert (await gql.ok(DELETE_WEBHOOK, {"input": {"id": hook["webhook"]["id"]}}, as_="sales_admin"))["deleteWebhook"]["userErrors"] == []
    bot = (await gql.ok(SET_CHANNEL, {"i": {"type": "WECOM", "departmentKey": "legal", "target": BOT_URL, "kinds": ["approval"]}},
                        as_="sales_admin"))["setNotificationChannel"]
    assert bot["userErrors"] == []
    renamed = await gql.ok(SET_CHANNEL, {"i": {"id": bot["channel"]["id"], "name": "Legal bot"}}, as_="sales_admin")
    assert renamed["setNotificationChannel"]["userErrors"] == []
    assert (await gql.ok(DELETE_CHANNEL, {"i": {"id": bot["channel"]["id"]}}, as_="sales_admin"))["deleteNotificationChannel"]["userErrors"] == []
    locale = await gql.ok(SET_ORG_LOCALE, {"i": {"locale": "zh-CN", "timeZone": "Asia/Shanghai"}}, as_="sales_admin")
    assert locale["setOrganizationLocale"]["userErrors"] == []
    signed_out = await gql.ok(SIGN_OUT, {"id": to_global("User", org.users["legal_member"].id)}, as_="sales_admin")
    assert signed_out["revokeUserSessions"]["revokedCount"] == 1
    stages = {s["key"]: s["id"] for s in (await gql.ok(PIPELINE))["pipelines"][0]["stages"]}
    await gql.ok(UPDATE_STAGE, {"input": {"id": stages["lead"], "staleAfterHours": 5}}, as_="sales_admin")
    return {"token": made["token"], "token_id": made["apiToken"]["id"], "webhook_secret": hook["secret"],
            "webhook_id": hook["webhook"]["id"], "channel_id": bot["channel"]["id"]}


async def test_admins_read_every_configuration_change_without_secrets(gql, org):
    made = await configure_everything(gql, org)
    data = await gql.ok(LOG, {"first": 100}, as_="sales_admin")
    found = nodes(data)
    assert data["configurationLog"]["totalCount"] == len(found) == 11
    assert [n["seq"] for n in found] == sorted((n["seq"] for n in found), reverse=True)  # newest first
    assert {n["actor"]["handle"] for n in found} == {"sales_admin"}
    assert found[0]["type"] == "PIPELINE_UPDATED"
    assert found[0]["changes"] == {"stage": [None, "lead"], "staleAfterHours": [72, 5]}
    logged = [entry(n) for n in reversed(found[1:])]
    assert all(n["type"] == "CONFIGURATION_CHANGED" for n in found[1:])
    assert logged[0] == ("apiToken", "created", made["token_id"], {
        "name": [None, "erp"], "scope": [None, "READ"], "departmentKey": [None, "finance"],
        "actsAs": [None, logged[0][3]["actsAs"][1]]})
    assert logged[1] == ("apiToken", "revoked", made["token_id"], {"name": [None, "erp"], "revoked": [False, True]})
    assert logged[2] == ("webhook", "created", made["webhook_id"], {
        "url": [None, "https://hooks.example.com/baton?token=***"], "eventTypes": [None, ["OPPORTUNITY_MOVED"]],
        "departmentKeys": [None, []], "enabled": [None, True]})
    assert logged[3] == ("webhook", "updated", made["webhook_id"], {"enabled": [True, False]})
    assert logged[4][:3] == ("webhook", "deleted", made["webhook_id"]) and logged[4][3]["url"] == ["https://hooks.example.com/baton?token=***", None]
    assert logged[5] == ("channel", "created", made["channel_id"], {
        "name": [None, "Wecom"], "type": [None, "WECOM"], "destination": [None, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"],
        "signed": [None, False], "kinds": [None, ["approval"]], "enabled": [None, True], "departmentKey": [None, "legal"]})
    assert logged[6] == ("channel", "updated", made["channel_id"], {"name": ["Wecom", "Legal bot"]})
    assert logged[7][:3] == ("channel", "deleted", made["channel_id"])
    assert logged[8] == ("organization", "updated", None, {"locale": ["en", "zh-CN"], "timeZone": ["UTC", "Asia/Shanghai"]})
    assert logged[9] == ("user", "signedOut", to_global("User", org.users["legal_member"].id), {"revokedSessions": [None, 1]})
    # fieldChanges types the before/after pairs (subject, target and action included).
    assert {"field": "revoked", "before": False, "after": True} in found[-2]["fieldChanges"]
    # No secret anywhere: not the token, not the webhook's signing secret, not the credentials in URLs.
    text = json.dumps(data)
    for secret in (made["token"], made["webhook_secret"], "receiver-credential", "bot-credential"):
        assert secret not in text


async def test_the_log_pages_and_filters_by_subject(gql, org):
    await configure_everything(gql, org)
    first = (await gql.ok(LOG, {"first": 4}, as_="sales_admin"))["configurationLog"]
    assert len(first["edges"]) == 4 and first["pageInfo"]["hasNextPage"] is True
    rest = (await gql.ok(LOG, {"first": 100, "after": first["pageInfo"]["endCursor"]}, as_="sales_admin"))["configurationLog"]
    seqs = [e["node"]["seq"] for e in first["edges"] + rest["edges"]]
    assert len(seqs) == 11 == len(set(seqs)) and seqs == sorted(seqs, reverse=True)
    assert rest["pageInfo"]["hasNextPage"] is False
    hooks = nodes(await gql.ok(LOG, {"subject": "webhook"}, as_="sales_admin"))
    assert [entry(n)[1] for n in hooks] == ["deleted", "updated", "created"]
    tokens = nodes(await gql.ok(LOG, {"subject": "apiToken"}, as_="sales_admin"))
    assert [entry(n)[1] for n in tokens] == ["revoked", "created"]
    pipeline = nodes(await gql.ok(LOG, {"subject": "pipeline"}, as_="sales_admin"))
    assert [n["type"] for n in pipeline] == ["PIPELINE_UPDATED"]
    assert nodes(await gql.ok(LOG, {"subject": "nothing"}, as_="sales_admin")) == []


async def test_only_admins_read_it(gql, org):
    await configure_everything(gql, org)
    for who in ("sales_member", "sales_manager", "sales_viewer"):
        refused = await gql(LOG, as_=who)
        assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    # An admin's token scoped to a department acts for that department, not as an admin.
    scoped = await gql(LOG, token=await org.department_token("sales_admin", "sales"))
    assert scoped["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_events_query_shows_configuration_changes_to_admins_only(gql, org):
    await configure_everything(gql, org)
    # The admin asks first: a cached answer must not reach the member asking the same.
    admin = [n["node"]["type"] for n in (await gql.ok(EVENTS, as_="sales_admin"))["events"]["edges"]]
    assert admin.count("CONFIGURATION_CHANGED") == 10
    for who in ("sales_member", "sales_viewer"):
        seen = [n["node"]["type"] for n in (await gql.ok(EVENTS, as_=who))["events"]["edges"]]
        assert "CONFIGURATION_CHANGED" not in seen and "PIPELINE_UPDATED" in seen, who
    asked = "{ events(first: 100, types: [CONFIGURATION_CHANGED]) { totalCount edges { node { seq } } } }"
    assert (await gql.ok(asked, as_="sales_member"))["events"] == {"totalCount": 0, "edges": []}
    assert (await gql.ok(asked, token=await org.department_token("sales_admin", "sales")))["events"]["totalCount"] == 0
    assert (await gql.ok(asked, as_="sales_admin"))["events"]["totalCount"] == 10


async def test_webhooks_never_carry_configuration_changes(gql):
    refused = (await gql.ok(CREATE_WEBHOOK, {"input": {"url": HOOK_URL, "eventTypes": ["CONFIGURATION_CHANGED"]}},
                            as_="sales_admin"))["createWebhook"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("VALIDATION", ["eventTypes"])]


@pytest.fixture
async def http(live_server, org):
    client = Http(live_server.http, org)
    yield client
    await client.aclose()


async def test_board_events_reach_admins_only(live_server, org, http):
    start = await log_head(org.db, org.id)
    member = await open_socket(live_server.ws, org.tokens["sales_member"])
    admin = await open_socket(live_server.ws, org.tokens["sales_admin"])
    await member.subscribe(BOARD_EVENTS)
    await admin.subscribe(BOARD_EVENTS)

    async def listening():
        channel = live_server.hub.channels.get(org.id)
        return channel is not None and channel.ready.is_set() and len(channel.feeds) >= 2

    await wait_for(listening)
    made = await http.ok(CREATE_TOKEN, {"input": {"name": "erp", "scope": "READ"}}, as_="sales_admin")
    assert made["createApiToken"]["userErrors"] == []
    await http.create("After the token")
    (admin_first, admin_second) = await admin.take(2)
    assert [admin_first["boardEvents"]["type"], admin_second["boardEvents"]["type"]] == ["CONFIGURATION_CHANGED", "OPPORTUNITY_CREATED"]
    (member_first,) = await member.take(1)
    assert member_first["boardEvents"]["type"] == "OPPORTUNITY_CREATED"
    await member.nothing_within(0.5)
    # Replayed from the log too: the member's replay skips it, the admin's has it.
    replay = await open_socket(live_server.ws, org.tokens["sales_member"])
    await replay.subscribe(BOARD_EVENTS, {"after": start})
    assert [d["boardEvents"]["type"] for d in await replay.take(1)] == ["OPPORTUNITY_CREATED"]
    await replay.nothing_within(0.5)
    admin_replay = await open_socket(live_server.ws, org.tokens["sales_admin"])
    await admin_replay.subscribe(BOARD_EVENTS, {"after": start})
    assert [d["boardEvents"]["type"] for d in await admin_replay.take(2)] == ["CONFIGURATION_CHANGED", "OPPORTUNITY_CREATED"]
    for sock in (member, admin, replay, admin_replay):
        await sock.close()
