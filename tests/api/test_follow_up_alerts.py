"""Follow-up alerts: a planned follow-up that passed with none logged since, and customer
silence (no follow-up for longer than the stage's silenceAfterHours, 48 hours from the
proposal on by default), each raised once to the owner and climbing by the escalation
rules; the card's customerSilent and the board's silentOnly; the stage setting's checks.
Driven by the test clock through the alerts job's own function."""
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select, update

from api.settings import Settings
from db import models as m
from resolvers import escalation, opportunities, pipelines, records
from resolvers.alerts import raise_alerts
from resolvers.auth import issue_token
from resolvers.ids import to_global
from resolvers.notifications import message_in
from tests.api.workflow_helpers import events

# Handoffs and approval steps stay quiet here: only the follow-up conditions speak.
SETTINGS = Settings(handoff_alert_hours=1000, approval_alert_hours=1000)
SILENT = "No follow-up with the customer on Fleet pilot for over 48 hours in Proposal"
SILENT_ZH = "Fleet pilot 在Proposal阶段已超过 48 小时没有跟进客户"
CARD = "query($id: ID!) { node(id: $id) { ... on Opportunity { customerSilent lastContactAt } } }"
BOARD = """query($filter: OpportunityFilter) { board(filter: $filter) { columns { stage { key silenceAfterHours }
  opportunities(first: 20) { edges { node { title customerSilent } } } } } }"""
INBOX = "{ notifications(first: 20) { edges { node { type message } } } }"
UPDATE_STAGE = """mutation($input: UpdateStageInput!) { updateStage(input: $input) {
  stage { key silenceAfterHours } userErrors { field code message } } }"""
CREATE_STAGE = """mutation($input: CreateStageInput!) { createStage(input: $input) {
  stage { key silenceAfterHours } userErrors { field code } } }"""


async def ok(result):
    value, errors = await result
    assert not errors, errors
    return value


async def run(org, clock) -> int:
    return await raise_alerts(org.db, clock(), SETTINGS, org_id=org.id)


async def raised(org) -> list[tuple[str, str | None]]:
    """(alert kind, escalation level) of every ALERT_RAISED event so far."""
    return [(e.changes["alert"], e.changes.get("escalation")) for e in await events(org, "ALERT_RAISED")]


async def alerts_to(org, who, kind="alert") -> list[str]:
    async with org.db.read() as s:
        notes = (await s.execute(select(m.Notification).where(
            m.Notification.user_id == org.users[who].id, m.Notification.kind == kind).order_by(m.Notification.id))).scalars()
        return [n.message for n in notes]


async def deal(org, clock, stage_key="proposal", title="Fleet pilot") -> m.Opportunity:
    ctx = org.ctx("sales_member", clock)
    opp = await ok(opportunities.create_opportunity(ctx, {
        "title": title, "account_name": "Northwind", "amount": "1000", "expected_close_date": date(2027, 6, 30)}))
    if stage_key != "lead":
        opp = await ok(opportunities.move_opportunity(ctx, {
            "id": to_global("Opportunity", opp.id), "version": opp.version, "stage_key": stage_key}))
    return opp


async def log_call(org, clock, opp, *, at=None, next_at=None):
    return await ok(records.log_follow_up(org.ctx("sales_member", clock), {
        "opportunity_id": to_global("Opportunity", opp.id), "kind": "CALL", "at": at or clock(),
        "summary": "Called them", "next_follow_up_at": next_at}))


async def stage_gid(org, key: str) -> str:
    async with org.db.read() as s:
        return to_global("Stage", await s.scalar(select(m.Stage.id).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id)
                                                  .where(m.Pipeline.org_id == org.id, m.Stage.key == key)))


async def token(org, who: str) -> str:
    """A token that outlives the simulated days (sessions would expire)."""
    async with org.db.write() as s:
        value, _ = await issue_token(s, org.users[who], kind="api", now=datetime.now(timezone.utc), name="test")
    return value


async def test_a_silent_customer_alerts_the_owner_once_in_their_language(org, clock, gql):
    bearer = await token(org, "sales_member")
    opp = await deal(org, clock)
    gid = to_global("Opportunity", opp.id)
    clock.advance(hours=47)
    assert await run(org, clock) == 0
    assert (await gql.ok(CARD, {"id": gid}, token=bearer))["node"] == {"customerSilent": False, "lastContactAt": None}

    clock.advance(hours=2)
    assert await run(org, clock) == 1
    assert await raised(org) == [("customer_silence", None)]
    assert await alerts_to(org, "sales_member") == [SILENT]
    assert await alerts_to(org, "sales_manager") == []  # the owner's alert, not the department's
    assert await run(org, clock) == 0  # once per silence
    assert (await gql.ok(CARD, {"id": gid}, token=bearer))["node"]["customerSilent"] is True

    # The board: the card says so, and silentOnly keeps only it.
    await deal(org, clock, "qualified", title="Quiet lead")
    board = (await gql.ok(BOARD, token=bearer))["board"]["columns"]
    cards = {e["node"]["title"]: e["node"]["customerSilent"] for c in board for e in c["opportunities"]["edges"]}
    assert cards == {"Fleet pilot": True, "Quiet lead": False}
    assert {c["stage"]["key"]: c["stage"]["silenceAfterHours"] for c in board} == {
        "lead": None, "qualified": None, "proposal": 48, "negotiation": 48, "contract": 48, "won": None, "lost": None}
    silent = (await gql.ok(BOARD, {"filter": {"silentOnly": True}}, token=bearer))["board"]["columns"]
    assert [e["node"]["title"] for c in silent for e in c["opportunities"]["edges"]] == ["Fleet pilot"]

    # A zh-CN reader reads it in Chinese.
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id == org.users["sales_member"].id).values(locale="zh-CN"))
    inbox = [e["node"] for e in (await gql.ok(INBOX, token=bearer))["notifications"]["edges"] if e["node"]["type"] == "ALERT"]
    assert inbox == [{"type": "ALERT", "message": SILENT_ZH}]


async def test_a_follow_up_starts_the_silence_over(org, clock):
    opp = await deal(org, clock)
    clock.advance(hours=49)
    assert await run(org, clock) == 1
    await log_call(org, clock, opp)
    assert await run(org, clock) == 0
    clock.advance(hours=47)
    assert await run(org, clock) == 0
    clock.advance(hours=2)
    assert await run(org, clock) == 1
    assert await alerts_to(org, "sales_member") == [SILENT, SILENT]
    assert await raised(org) == [("customer_silence", None)] * 2


async def test_silence_counts_from_the_last_contact_even_when_backdated(org, clock):
    """A call logged now but made 40 hours ago leaves 8 hours before the silence."""
    opp = await deal(org, clock)
    await log_call(org, clock, opp, at=clock() - timedelta(hours=40))
    clock.advance(hours=7)
    assert await run(org, clock) == 0
    clock.advance(hours=2)
    assert await run(org, clock) == 1


async def test_stages_without_a_silence_setting_never_alert(org, clock, gql):
    await deal(org, clock, "lead", title="A lead")
    await deal(org, clock, "qualified", title="A qualified deal")
    proposal = await stage_gid(org, "proposal")
    done = (await gql.ok(UPDATE_STAGE, {"input": {"id": proposal, "silenceAfterHours": None}}, as_="sales_admin"))["updateStage"]
    assert done == {"stage": {"key": "proposal", "silenceAfterHours": None}, "userErrors": []}
    await deal(org, clock)
    clock.advance(hours=100)
    await run(org, clock)
    assert [kind for kind, _ in await raised(org)] == ["stale"]  # the lead, after 72 hours; no silence anywhere


async def test_a_planned_follow_up_that_passed_alerts_once(org, clock):
    opp = await deal(org, clock, "lead")  # no silence setting: only the plan speaks
    planned = clock() + timedelta(hours=24)
    await log_call(org, clock, opp, next_at=planned)
    clock.advance(hours=23)
    assert await run(org, clock) == 0
    clock.advance(hours=2)
    assert await run(org, clock) == 1
    due = f"Follow-up due on Fleet pilot (planned {planned:%Y-%m-%d %H:%M} UTC)"
    assert await alerts_to(org, "sales_member") == [due]
    assert await raised(org) == [("follow_up_due", None)]
    assert await run(org, clock) == 0
    async with org.db.read() as s:
        [note] = (await s.execute(select(m.Notification).where(
            m.Notification.user_id == org.users["sales_member"].id, m.Notification.kind == "alert"))).scalars()
    assert message_in(note, "zh-CN") == f"Fleet pilot 的跟进已到期（计划于 {planned:%Y-%m-%d %H:%M} UTC）"

    # A new plan is a new due time: it alerts again when it passes.
    planned_again = clock() + timedelta(hours=10)
    await log_call(org, clock, opp, next_at=planned_again)
    clock.advance(hours=11)
    assert await run(org, clock) == 1
    assert (await alerts_to(org, "sales_member"))[-1] == f"Follow-up due on Fleet pilot (planned {planned_again:%Y-%m-%d %H:%M} UTC)"


async def test_a_follow_up_logged_after_the_plan_raises_nothing(org, clock):
    opp = await deal(org, clock, "lead")
    await log_call(org, clock, opp, next_at=clock() + timedelta(hours=24))
    clock.advance(hours=25)
    await log_call(org, clock, opp)  # the call was made; nothing new planned
    assert await run(org, clock) == 0
    clock.advance(hours=30)
    assert await run(org, clock) == 0


async def test_silence_and_due_follow_ups_climb_by_their_rules(org, clock):
    admin = org.ctx("sales_admin", clock)
    rule = await ok(escalation.set_rule(admin, {"kind": "CUSTOMER_SILENCE", "managers_after_hours": 24, "admins_after_hours": 48}))
    assert (rule.kind, rule.stage_key) == ("customer_silence", "")
    await ok(escalation.set_rule(admin, {"kind": "FOLLOW_UP_DUE", "managers_after_hours": 0}))
    opp = await deal(org, clock)
    planned = clock() + timedelta(hours=12)
    await log_call(org, clock, opp, next_at=planned)

    clock.advance(hours=13)  # the plan passed: the owner and, at once, the managers
    assert await run(org, clock) == 2
    assert await raised(org) == [("follow_up_due", None), ("follow_up_due", "managers")]
    due = f"Follow-up due on Fleet pilot (planned {planned:%Y-%m-%d %H:%M} UTC)"
    assert await alerts_to(org, "sales_manager", "escalation") == [f"Escalated to their department's managers, unanswered: {due}"]

    clock.advance(hours=36)  # 49 hours since the call: silent
    assert await run(org, clock) == 1
    clock.advance(hours=22)
    assert await run(org, clock) == 0
    clock.advance(hours=2)  # 24 hours into the silence: the managers
    assert await run(org, clock) == 1
    assert (await alerts_to(org, "sales_manager", "escalation"))[-1] == (
        f"Escalated to their department's managers, unanswered: {SILENT}")
    clock.advance(hours=24)  # 48 hours: the admins
    assert await run(org, clock) == 1
    assert await alerts_to(org, "sales_admin", "escalation") == [f"Escalated to the admins, unanswered: {SILENT}"]
    assert [r for r in await raised(org) if r[0] == "customer_silence"] == [
        ("customer_silence", None), ("customer_silence", "managers"), ("customer_silence", "admins")]
    assert await run(org, clock) == 0


async def test_a_silence_rule_may_name_a_stage(org, clock):
    admin = org.ctx("sales_admin", clock)
    await ok(escalation.set_rule(admin, {"kind": "CUSTOMER_SILENCE", "managers_after_hours": 100}))
    await ok(escalation.set_rule(admin, {"kind": "CUSTOMER_SILENCE", "stage_key": "proposal", "managers_after_hours": 0}))
    _, errors = await escalation.set_rule(admin, {"kind": "FOLLOW_UP_DUE", "stage_key": "proposal", "managers_after_hours": 0})
    assert [(e.field, e.code, str(e.message)) for e in errors] == [
        (["stageKey"], "VALIDATION", "Only STALE_DEAL and CUSTOMER_SILENCE rules name a stage")]
    await deal(org, clock)
    clock.advance(hours=49)
    assert await run(org, clock) == 2  # the proposal's own rule: the managers at once
    assert await raised(org) == [("customer_silence", None), ("customer_silence", "managers")]


async def test_silence_after_hours_is_checked(gql):
    pipeline = (await gql.ok("{ pipelines { id stages { id key } } }", as_="sales_admin"))["pipelines"][0]
    lead = next(s["id"] for s in pipeline["stages"] if s["key"] == "lead")
    for bad in (0, 8761):
        refused = (await gql.ok(UPDATE_STAGE, {"input": {"id": lead, "silenceAfterHours": bad}}, as_="sales_admin"))["updateStage"]
        assert refused == {"stage": None, "userErrors": [
            {"field": ["silenceAfterHours"], "code": "VALIDATION", "message": "silenceAfterHours must be between 1 and 8760"}]}
    done = (await gql.ok(UPDATE_STAGE, {"input": {"id": lead, "silenceAfterHours": 72}}, as_="sales_admin"))["updateStage"]
    assert done == {"stage": {"key": "lead", "silenceAfterHours": 72}, "userErrors": []}
    made = (await gql.ok(CREATE_STAGE, {"input": {"pipelineId": pipeline["id"], "key": "pilot", "silenceAfterHours": 24}},
                         as_="sales_admin"))["createStage"]
    assert made == {"stage": {"key": "pilot", "silenceAfterHours": 24}, "userErrors": []}
    refused = (await gql.ok(CREATE_STAGE, {"input": {"pipelineId": pipeline["id"], "key": "trial", "silenceAfterHours": 0}},
                            as_="sales_admin"))["createStage"]
    assert refused == {"stage": None, "userErrors": [{"field": ["silenceAfterHours"], "code": "VALIDATION"}]}
