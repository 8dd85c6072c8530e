"""Why a card is stuck, asserted exactly (issue 23, mutation testing of resolvers/stuck.py):
card_waits' sentences at their edges (an unknown department, under an hour, a deadline
now, a closed approval, the order), and the stuckForHours filter's boundaries and the
waits it must not count."""
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace as NS

import pytest
from sqlalchemy import select, update

from db import models as m
from resolvers import stuck
from resolvers.auth import issue_token
from tests.api.workflow_helpers import DECIDE, REQUEST_APPROVAL, REQUEST_HANDOFF, create, move, mutate, pk

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
OPEN = NS(kind="OPEN", silence_after_hours=None)
CALM = NS(last_contact_at=None, stage_entered_at=NOW - timedelta(days=30))
DEPARTMENTS = {7: NS(name="Legal"), 8: NS(name="Finance")}
CREATE_TASK = "mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } userErrors { code field } } }"
STUCK_BOARD = """query($hours: Int) { board(filter: {stuckForHours: $hours}) { columns { stage { key } totalCount
  opportunities(first: 50) { edges { node { title stuckReason } } } } } }"""


def handoff(hours_ago: float, department_id=7, status="PENDING"):
    return NS(created_at=NOW - timedelta(hours=hours_ago), to_department_id=department_id, status=status)


def approval(hours_ago: float, status="PENDING", step_status="PENDING", urged=0, department_id=8, opened=True):
    step = NS(status=step_status, opened_at=NOW - timedelta(hours=hours_ago) if opened else None, department_id=department_id)
    return NS(status=status, urge_count=urged), [step]


def told(handoffs=(), approvals=(), oldest_overdue=None, overdue_count=0, opp=CALM, stage=OPEN, locale=None):
    waits = stuck.card_waits(opp, stage, list(handoffs), list(approvals), DEPARTMENTS, oldest_overdue, overdue_count, NOW)
    return [(w.message.render(locale) if locale else str(w.message), w.since) for w in waits]


def test_a_department_not_in_the_organization_is_named_with_a_question_mark():
    assert told([handoff(2, department_id=99)]) == [("Waiting for ? to accept · 2 h", NOW - timedelta(hours=2))]


def test_hours_are_whole_hours_never_negative():
    assert told([handoff(59 / 60)]) == [("Waiting for Legal to accept · 0 h", NOW - timedelta(minutes=59))]
    assert told([handoff(61 / 60)]) == [("Waiting for Legal to accept · 1 h", NOW - timedelta(minutes=61))]
    assert told([handoff(-2)]) == [("Waiting for Legal to accept · 0 h", NOW + timedelta(hours=2))]  # a clock ahead


def test_only_a_pending_approvals_opened_pending_steps_wait():
    assert told(approvals=[approval(5, status="APPROVED")]) == []
    assert told(approvals=[approval(5, status="CANCELLED")]) == []
    assert told(approvals=[approval(5, step_status="APPROVED")]) == []
    assert told(approvals=[approval(5, opened=False)]) == []
    assert told(handoffs=[handoff(5, status="ACCEPTED")]) == []
    assert told(approvals=[approval(5, urged=None)]) == [("Waiting for Finance's approval · 5 h", NOW - timedelta(hours=5))]
    assert told(approvals=[approval(5, urged=3)]) == [
        ("Waiting for Finance's approval · 5 h · urged 3 times", NOW - timedelta(hours=5))]


def test_a_closed_approval_or_step_before_a_pending_one_does_not_hide_it():
    closed, (pending, steps) = approval(9, status="REJECTED"), approval(4)
    assert told(approvals=[closed, (pending, steps)]) == [("Waiting for Finance's approval · 4 h", NOW - timedelta(hours=4))]
    done = NS(status="APPROVED", opened_at=NOW - timedelta(hours=9), department_id=7)
    assert told(approvals=[(pending, [done, *steps])]) == [("Waiting for Finance's approval · 4 h", NOW - timedelta(hours=4))]
    unopened = NS(status="PENDING", opened_at=None, department_id=7)
    assert told(approvals=[(pending, [unopened, *steps])]) == [("Waiting for Finance's approval · 4 h", NOW - timedelta(hours=4))]


def test_a_task_due_this_instant_is_not_yet_overdue():
    assert told(oldest_overdue=NOW, overdue_count=1) == []
    assert told(oldest_overdue=NOW - timedelta(seconds=1), overdue_count=1) == [("A task is overdue · 0 h", NOW - timedelta(seconds=1))]
    assert told(oldest_overdue=NOW - timedelta(hours=3), overdue_count=0) == [("A task is overdue · 3 h", NOW - timedelta(hours=3))]


def test_every_wait_is_listed_the_oldest_first():
    proposal = NS(kind="OPEN", silence_after_hours=24)
    silent = NS(last_contact_at=NOW - timedelta(hours=50), stage_entered_at=NOW - timedelta(days=9))
    waits = told([handoff(3), handoff(1, status="DECLINED")], [approval(30, urged=1)], NOW - timedelta(hours=7), 2, opp=silent, stage=proposal)
    assert waits == [
        ("No follow-up with the customer for 2 days", NOW - timedelta(hours=50)),
        ("Waiting for Finance's approval · 30 h · urged once", NOW - timedelta(hours=30)),
        ("2 tasks are overdue · 7 h", NOW - timedelta(hours=7)),
        ("Waiting for Legal to accept · 3 h", NOW - timedelta(hours=3)),
    ]
    assert told([handoff(3)], locale="zh-CN") == [("等待Legal接手 · 3 小时", NOW - timedelta(hours=3))]
    closed = NS(kind="WON", silence_after_hours=24)
    assert told([handoff(3)], [approval(30)], NOW - timedelta(hours=7), 2, opp=silent, stage=closed) == []


# ---------------------------------------------------------------- the stuckForHours filter


@pytest.fixture
async def long_tokens(org):
    """Tokens that outlast the clock's moves (the fixture's sessions last 24 hours)."""
    async with org.db.write() as s:
        for key, user in org.users.items():
            org.tokens[key], _ = await issue_token(s, user, kind="api", now=datetime.now(timezone.utc), hours=24 * 400, name="tests")


async def board(gql, hours) -> dict:
    data = await gql.ok(STUCK_BOARD, {"hours": hours})
    cards = {e["node"]["title"]: e["node"]["stuckReason"] for c in data["board"]["columns"] for e in c["opportunities"]["edges"]}
    assert sum(c["totalCount"] for c in data["board"]["columns"]) == len(cards)
    return cards


async def stage_id(org, key: str) -> int:
    async with org.db.read() as s:
        return await s.scalar(select(m.Stage.id).where(m.Stage.key == key, m.Stage.pipeline_id.in_(
            select(m.Pipeline.id).where(m.Pipeline.org_id == org.id))))


async def test_the_filter_wants_strictly_more_than_the_hours(gql, org, clock, long_tokens):
    t0 = clock()
    handoff_card = await create(gql, title="Handoff")
    await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=handoff_card["id"], toDepartmentKey="legal")
    approval_card = await create(gql, title="Approval")
    await mutate(gql, REQUEST_APPROVAL, "requestApproval", opportunityId=approval_card["id"], kind="discount", departmentKeys=["legal"])
    silent = await create(gql, title="Silent", amount="1000", expectedCloseDate="2031-01-31")
    assert (await move(gql, silent["id"], "proposal"))["userErrors"] == []
    task = await create(gql, title="Task")
    made = await mutate(gql, CREATE_TASK, "createTask", opportunityId=task["id"], title="Call", dueAt=(t0 + timedelta(hours=1)).isoformat())
    assert made["userErrors"] == []
    await create(gql, title="Calm")
    clock.advance(hours=49)
    fresh = await create(gql, title="Fresh approval")
    await mutate(gql, REQUEST_APPROVAL, "requestApproval", opportunityId=fresh["id"], kind="discount", departmentKeys=["finance"])
    clock.advance(hours=1)

    # Now: every wait but the task's and the fresh approval's began exactly 50 hours ago.
    assert await board(gql, 0) == {
        "Handoff": "Waiting for Legal to accept · 50 h", "Approval": "Waiting for Legal's approval · 50 h",
        "Silent": "No follow-up with the customer for 2 days", "Task": "A task is overdue · 49 h",
        "Fresh approval": "Waiting for Finance's approval · 1 h"}
    assert set(await board(gql, 1)) == {"Handoff", "Approval", "Silent", "Task"}
    assert set(await board(gql, 48)) == {"Handoff", "Approval", "Silent", "Task"}
    assert set(await board(gql, 49)) == {"Handoff", "Approval", "Silent"}
    assert await board(gql, 50) == {}


async def test_the_filter_skips_what_no_longer_waits(gql, org, clock, long_tokens):
    t0 = clock()
    stuck_card = await create(gql, title="Stuck")
    await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=stuck_card["id"], toDepartmentKey="legal")
    won = await create(gql, title="Won")
    await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=won["id"], toDepartmentKey="legal")
    accepted = await create(gql, title="Accepted")
    made = await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=accepted["id"], toDepartmentKey="legal")
    await mutate(gql, "mutation($input: RespondHandoffInput!) { respondHandoff(input: $input) { userErrors { code } } }",
                 "respondHandoff", as_="legal_member", id=made["handoff"]["id"], accept=True)
    closed = await create(gql, title="Closed approval")
    await mutate(gql, REQUEST_APPROVAL, "requestApproval", opportunityId=closed["id"], kind="discount", departmentKeys=["legal"])
    done = await create(gql, title="Done task")
    await mutate(gql, CREATE_TASK, "createTask", opportunityId=done["id"], title="Call", dueAt=(t0 + timedelta(hours=1)).isoformat())
    followed = await create(gql, title="Followed up", amount="1000", expectedCloseDate="2031-01-31")
    assert (await move(gql, followed["id"], "proposal"))["userErrors"] == []
    second = await create(gql, title="Second step")
    two = await mutate(gql, REQUEST_APPROVAL, "requestApproval", opportunityId=second["id"], kind="discount",
                       departmentKeys=["legal", "finance"], mode="SEQUENTIAL")
    assert two["userErrors"] == []
    clock.advance(hours=40)
    decided = await mutate(gql, DECIDE, "decideApproval", as_="legal_member", id=two["approval"]["id"], approve=True)
    assert decided["userErrors"] == []  # Legal's step is done 40 hours in; Finance's opens now
    recent = await create(gql, title="Recently in proposal", amount="1000", expectedCloseDate="2031-01-31")
    assert (await move(gql, recent["id"], "proposal"))["userErrors"] == []
    clock.advance(hours=20)
    async with org.db.write() as s:
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == pk(won["id"])).values(stage_id=await stage_id(org, "won")))
        await s.execute(update(m.Task).where(m.Task.opportunity_id == pk(done["id"])).values(status="DONE"))
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == pk(followed["id"])).values(last_contact_at=clock() - timedelta(hours=1)))
        # An approval closed while its step was left pending (card_waits skips it too).
        await s.execute(update(m.Approval).where(m.Approval.opportunity_id == pk(closed["id"])).values(status="CANCELLED"))
    assert await board(gql, 0) == {"Stuck": "Waiting for Legal to accept · 60 h", "Second step": "Waiting for Finance's approval · 20 h"}
    assert await board(gql, 19) == {"Stuck": "Waiting for Legal to accept · 60 h", "Second step": "Waiting for Finance's approval · 20 h"}
    assert await board(gql, 20) == {"Stuck": "Waiting for Legal to accept · 60 h"}
    assert await board(gql, 59) == {"Stuck": "Waiting for Legal to accept · 60 h"}
