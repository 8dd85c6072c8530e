"""Alerts: raised once per condition, by the system, with notifications. Every write
uses the injected clock (tokens would expire over the simulated days, so these tests
call the resolvers directly)."""
from datetime import timedelta

from sqlalchemy import select

from api.jobs import leadership
from api.settings import Settings
from db import models as m
from resolvers import approvals, handoffs, opportunities, tasks
from resolvers.alerts import raise_alerts
from resolvers.ids import to_global
from tests.api.workflow_helpers import events

SETTINGS = Settings(handoff_alert_hours=48, approval_alert_hours=48)


async def run(org, clock):
    return await raise_alerts(org.db, clock(), SETTINGS, org_id=org.id)


async def ok(result):
    value, errors = await result
    assert not errors, errors
    return value


async def deal(org, clock, **fields):
    return await ok(opportunities.create_opportunity(org.ctx("sales_member", clock), {"title": "Fleet pilot", "account_name": "Northwind", **fields}))


async def inbox(org, who) -> list[m.Notification]:
    async with org.db.read() as s:
        return list((await s.execute(select(m.Notification).where(m.Notification.user_id == org.users[who].id).order_by(m.Notification.id))).scalars())


async def test_stale_deal_alerts_once_until_activity(org, clock):
    opp = await deal(org, clock)  # lead: stale after 72h
    clock.advance(hours=71)
    assert await run(org, clock) == 0
    clock.advance(hours=2)
    assert await run(org, clock) == 1
    [alert] = await events(org, "ALERT_RAISED")
    assert alert.actor_id is None and alert.changes["alert"] == "stale" and alert.department_keys == ["sales"]
    assert [n.kind for n in await inbox(org, "sales_member")] == ["alert"]
    assert len(await inbox(org, "sales_manager")) == 1
    assert await inbox(org, "sales_viewer") == []
    # Once: the alert itself is not activity, and later rounds raise nothing new.
    clock.advance(hours=5)
    assert await run(org, clock) == 0
    # Activity changes the condition; stale again later alerts again.
    await ok(opportunities.move_opportunity(org.ctx("sales_member", clock), {"id": to_global("Opportunity", opp.id), "version": 1, "stage_key": "qualified"}))
    assert await run(org, clock) == 0
    clock.advance(hours=121)
    assert await run(org, clock) == 1


async def test_closed_stages_never_go_stale(org, clock):
    opp = await deal(org, clock, amount=None)
    await ok(opportunities.move_opportunity(org.ctx("sales_member", clock), {"id": to_global("Opportunity", opp.id), "version": 1, "stage_key": "lost", "lost_reason": "No budget"}))
    clock.advance(days=400)
    assert await run(org, clock) == 0


async def test_overdue_task_handoff_and_approval_step(org, clock):
    opp = await deal(org, clock)
    gid = to_global("Opportunity", opp.id)
    ctx = org.ctx("sales_member", clock)
    await ok(tasks.create_task(ctx, {"opportunity_id": gid, "title": "Call back", "due_at": clock() + timedelta(hours=1),
                                     "assignee_id": to_global("User", org.users["marketing_member"].id)}))
    await ok(handoffs.request_handoff(ctx, {"opportunity_id": gid, "to_department_key": "finance"}))
    await ok(approvals.request_approval(ctx, {"opportunity_id": gid, "kind": "discount", "department_keys": ["legal"]}))
    clock.advance(hours=2)
    assert await run(org, clock) == 1  # the task
    clock.advance(hours=47)
    assert await run(org, clock) == 2  # the handoff and the approval step (the lead is not stale before 72h)
    kinds = sorted(e.changes["alert"] for e in await events(org, "ALERT_RAISED"))
    assert kinds == ["approval_pending", "handoff_pending", "overdue_task"]
    assert "alert" in [n.kind for n in await inbox(org, "marketing_member")]
    assert any(n.kind == "alert" and "handoff" in n.message for n in await inbox(org, "finance_member"))
    assert any(n.kind == "alert" and "approval" in n.message for n in await inbox(org, "legal_member"))
    assert await run(org, clock) == 0


async def test_decided_approvals_and_done_tasks_do_not_alert(org, clock):
    opp = await deal(org, clock)
    gid = to_global("Opportunity", opp.id)
    ctx = org.ctx("sales_member", clock)
    task = await ok(tasks.create_task(ctx, {"opportunity_id": gid, "title": "Call back", "due_at": clock() + timedelta(hours=1)}))
    await ok(tasks.update_task(ctx, {"id": to_global("Task", task.id), "version": 1, "status": "DONE"}))
    a = await ok(approvals.request_approval(ctx, {"opportunity_id": gid, "kind": "discount", "department_keys": ["legal"]}))
    await ok(approvals.decide_approval(org.ctx("legal_member", clock), {"id": to_global("Approval", a.id), "approve": True}))
    clock.advance(hours=60)
    assert await run(org, clock) == 0


async def test_leadership_is_exclusive(db):
    async with leadership(db) as first:
        assert first
        async with leadership(db) as second:
            # SQLite runs on one host: every round leads. PostgreSQL: one holder at a time.
            assert second is db.is_sqlite


async def test_alerts_already_raised_are_looked_up_in_slices(org, clock, monkeypatch):
    """A large organization's conditions are checked against raised alerts a slice at a
    time (one statement with them all is refused by PostgreSQL past a few thousand)."""
    from resolvers import alerts

    monkeypatch.setattr(alerts, "LOOKUP_SLICE", 2)
    for _ in range(5):
        await deal(org, clock)
    clock.advance(hours=73)
    assert await run(org, clock) == 5
    tried = []
    monkeypatch.setattr(alerts, "_raise_one", lambda uow, cond: tried.append(cond.subject))
    assert await run(org, clock) == 0
    assert tried == []  # every slice found its raised alerts: none was even tried again
    assert len(await events(org, "ALERT_RAISED")) == 5
