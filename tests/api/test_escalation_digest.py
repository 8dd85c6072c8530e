"""Escalation (an unanswered alert climbs: the person, the department's managers, the
admins, by per-organization rules) and the daily digest, driven by the test clock
through the alerts job's own functions."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from api.settings import Settings
from db import models as m
from resolvers import approvals, channels, comments, escalation, handoffs, opportunities, pipelines, tasks
from resolvers.alerts import raise_alerts
from resolvers.channel_queue import enqueue
from resolvers.digest import send_digests
from resolvers.ids import to_global
from tests.api.workflow_helpers import events

SETTINGS = Settings(handoff_alert_hours=48, approval_alert_hours=48)


async def ok(result):
    value, errors = await result
    assert not errors, errors
    return value


async def run(org, clock) -> int:
    return await raise_alerts(org.db, clock(), SETTINGS, org_id=org.id)


async def inbox(org, who, kind=None) -> list[m.Notification]:
    async with org.db.read() as s:
        stmt = select(m.Notification).where(m.Notification.user_id == org.users[who].id)
        if kind:
            stmt = stmt.where(m.Notification.kind == kind)
        return list((await s.execute(stmt.order_by(m.Notification.id))).scalars())


async def lead_stage(org) -> m.Stage:
    async with org.db.read() as s:
        return (await s.execute(select(m.Stage).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id)
                                .where(m.Pipeline.org_id == org.id, m.Stage.key == "lead"))).scalar_one()


async def test_no_reply_for_48_hours_reminds_the_owner_and_the_managers(org, clock):
    """客户沟通超过48小时没回复: leads go stale after 48 hours (the stage's setting) and the
    rule sends the alert to the managers at once and to the admins a day later."""
    admin = org.ctx("sales_admin", clock)
    stage = await lead_stage(org)
    await ok(pipelines.update_stage(admin, {"id": to_global("Stage", stage.id), "stale_after_hours": 48}))
    rule = await ok(escalation.set_rule(admin, {"kind": "STALE_DEAL", "stage_key": "lead", "managers_after_hours": 0,
                                                "admins_after_hours": 24}))
    assert (rule.kind, rule.stage_key) == ("stale", "lead")
    opp = await ok(opportunities.create_opportunity(org.ctx("sales_member", clock), {"title": "Fleet pilot", "account_name": "Northwind"}))

    clock.advance(hours=47)
    assert await run(org, clock) == 0
    clock.advance(hours=2)
    assert await run(org, clock) == 2  # the owner's alert and the managers' escalation
    assert [n.kind for n in await inbox(org, "sales_member")] == ["alert"]
    [climbed] = await inbox(org, "sales_manager", "escalation")
    assert climbed.message.startswith("Escalated to their department's managers") and climbed.opportunity_id == opp.id
    assert await inbox(org, "sales_admin", "escalation") == []
    assert await run(org, clock) == 0  # each level once

    clock.advance(hours=23)
    assert await run(org, clock) == 1
    assert len(await inbox(org, "sales_admin", "escalation")) == 1
    raised = [e.changes for e in await events(org, "ALERT_RAISED")]
    assert [c.get("escalation") for c in raised] == [None, "managers", "admins"]

    # An answer (activity on the deal) stops the climb; unanswered again, it climbs again.
    await ok(comments.add_comment(org.ctx("sales_member", clock), {"opportunity_id": to_global("Opportunity", opp.id), "body": "Called them"}))
    clock.advance(hours=47)
    assert await run(org, clock) == 0
    clock.advance(hours=2)
    assert await run(org, clock) == 2
    assert len(await inbox(org, "sales_manager", "escalation")) == 2


async def test_thresholds_belong_to_the_organization(db, org, clock):
    from tests.conftest import make_org

    other = await make_org(db)
    admin = org.ctx("sales_admin", clock)
    await ok(escalation.set_rule(admin, {"kind": "PENDING_HANDOFF", "alert_after_hours": 4, "managers_after_hours": 2}))
    for o in (org, other):
        card = await ok(opportunities.create_opportunity(o.ctx("sales_member", clock), {"title": "Deal", "account_name": "Acme"}))
        await ok(handoffs.request_handoff(o.ctx("sales_member", clock), {"opportunity_id": to_global("Opportunity", card.id), "to_department_key": "legal"}))
    clock.advance(hours=5)
    assert await run(org, clock) == 1 and await run(other, clock) == 0  # the other keeps the process's 48 hours
    clock.advance(hours=1)
    assert await run(org, clock) == 1  # 4 + 2 hours: legal's managers
    assert [n.kind for n in await inbox(org, "legal_manager")][-1] == "escalation"
    assert await inbox(other, "legal_manager", "escalation") == []
    # The escalation reaches the manager's own channel like any notification.
    await ok(channels.set_channel(org.ctx("legal_manager", clock), {"type": "EMAIL"}))
    await ok(handoffs.request_handoff(org.ctx("sales_member", clock), {
        "opportunity_id": to_global("Opportunity", (await ok(opportunities.create_opportunity(
            org.ctx("sales_member", clock), {"title": "Second", "account_name": "Acme"}))).id), "to_department_key": "legal"}))
    clock.advance(hours=7)
    assert await run(org, clock) == 2
    await enqueue(org.db, clock())
    async with org.db.read() as s:
        kinds = list((await s.execute(select(m.ChannelDelivery.kind).where(m.ChannelDelivery.org_id == org.id)
                                      .order_by(m.ChannelDelivery.id))).scalars())
    assert kinds == ["handoff", "alert", "escalation"]
    async with db.write() as s:
        await s.execute(update(m.NotificationChannel).where(m.NotificationChannel.org_id == org.id).values(enabled=False))


async def test_escalation_rules_are_for_admins_and_checked(org, clock):
    member, admin = org.ctx("sales_member", clock), org.ctx("sales_admin", clock)
    _, errors = await escalation.set_rule(member, {"kind": "STALE_DEAL", "managers_after_hours": 1})
    assert [e.code for e in errors] == ["FORBIDDEN"]
    _, errors = await escalation.set_rule(admin, {"kind": "OVERDUE_TASK", "stage_key": "lead", "alert_after_hours": 3,
                                                  "managers_after_hours": 10, "admins_after_hours": 5})
    assert sorted((e.code, e.field[0]) for e in errors) == [
        ("VALIDATION", "adminsAfterHours"), ("VALIDATION", "alertAfterHours"), ("VALIDATION", "stageKey")]
    assert await escalation.list_rules(admin) == []


async def test_daily_digest_at_the_users_local_time(org, clock):
    shanghai = ZoneInfo("Asia/Shanghai")
    clock.now = datetime(2031, 2, 27, 9, 0, tzinfo=shanghai).astimezone(timezone.utc)
    sales = org.ctx("sales_member", clock)
    card = await ok(opportunities.create_opportunity(sales, {"title": "Fleet pilot", "account_name": "Northwind"}))
    gid = to_global("Opportunity", card.id)
    await ok(tasks.create_task(sales, {"opportunity_id": gid, "title": "Send the quote", "due_at": clock() + timedelta(hours=1),
                                       "assignee_id": to_global("User", org.users["sales_member"].id)}))
    await ok(approvals.request_approval(sales, {"opportunity_id": gid, "kind": "discount", "department_keys": ["legal"]}))
    mine = await ok(channels.set_channel(sales, {"type": "EMAIL"}))
    await ok(channels.set_preferences(sales, {"digest_time": "09:00"}))
    legal = org.ctx("legal_member", clock)
    await ok(channels.set_channel(legal, {"type": "EMAIL"}))
    await ok(channels.set_preferences(legal, {"digest_time": "08:30", "time_zone": "Europe/Berlin"}))

    clock.now = datetime(2031, 3, 3, 8, 59, tzinfo=shanghai).astimezone(timezone.utc)
    assert await send_digests(org.db, clock(), org_id=org.id) == 0
    clock.now = datetime(2031, 3, 3, 9, 0, tzinfo=shanghai).astimezone(timezone.utc)
    assert await send_digests(org.db, clock(), org_id=org.id) == 1
    assert await send_digests(org.db, clock(), org_id=org.id) == 0  # once a day

    async with org.db.read() as s:
        [digest] = (await s.execute(select(m.ChannelDelivery).where(m.ChannelDelivery.org_id == org.id))).scalars().all()
    assert (digest.channel_id, digest.kind, digest.status) == (mine.id, "digest", "PENDING")
    assert digest.payload["text"] == "2 things wait on you today."
    assert digest.payload["details"] == ["Your stale deals (1):", "· Fleet pilot (Lead)",
                                         "Your overdue tasks (1):", "· “Send the quote” on Fleet pilot"]
    # Legal's member decides the approval; their digest comes at 08:30 in Berlin (15:30 in Shanghai).
    clock.now = datetime(2031, 3, 3, 8, 30, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(timezone.utc)
    assert await send_digests(org.db, clock(), org_id=org.id) == 1
    async with org.db.read() as s:
        payloads = [d.payload for d in (await s.execute(select(m.ChannelDelivery).where(m.ChannelDelivery.org_id == org.id)
                                                        .order_by(m.ChannelDelivery.id))).scalars()]
    assert payloads[-1]["details"] == ["Approvals waiting on you (1):", "· discount on Fleet pilot"]
    clock.advance(days=1)
    assert await send_digests(org.db, clock(), org_id=org.id) == 2  # the next day, both again
    async with org.db.write() as s:
        await s.execute(update(m.NotificationChannel).where(m.NotificationChannel.org_id == org.id).values(enabled=False))
