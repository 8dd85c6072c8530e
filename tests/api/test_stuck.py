""""Why is this card stuck?": Opportunity.stuckReason/stuckSince (the longest current
wait, in the reader's language) and the board's stuckForHours filter."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from db import models as m
from resolvers.auth import issue_token
from tests.api.test_board_queries import BOARD, add_cards
from tests.api.workflow_helpers import REQUEST_APPROVAL, REQUEST_HANDOFF, create, move, mutate, pk, set_stage
from tests.sqlcount import StatementCounter

CARD = """query($id: ID!) { node(id: $id) { ... on Opportunity { stuckReason stuckSince } } }"""
URGE = "mutation($input: UrgeApprovalInput!) { urgeApproval(input: $input) { userErrors { code } } }"
CREATE_TASK = "mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } userErrors { code field } } }"
STUCK_BOARD = """query($hours: Int) { board(filter: {stuckForHours: $hours}) { columns { stage { key } totalCount
  opportunities(first: 50) { edges { node { title stuckReason } } } } } }"""


@pytest.fixture(autouse=True)
async def long_tokens(org):
    """Tokens that outlast the clock's moves (the fixture's sessions last 24 hours and expire when idle)."""
    async with org.db.write() as s:
        for key, user in org.users.items():
            org.tokens[key], _ = await issue_token(s, user, kind="api", now=datetime.now(timezone.utc), hours=24 * 400, name="tests")


async def stuck(gql, gid, as_="sales_member"):
    node = (await gql.ok(CARD, {"id": gid}, as_=as_))["node"]
    return node["stuckReason"], node["stuckSince"]


async def in_chinese(org, *names):
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id == org.users["sales_member"].id).values(locale="zh-CN"))
        for key, name in names:
            await s.execute(update(m.Department).where(m.Department.org_id == org.id, m.Department.key == key).values(name=name))


def iso(when):
    return when.isoformat()


async def test_nothing_waits_then_a_pending_handoff(gql, org, clock):
    card = await create(gql, title="Fleet")
    assert await stuck(gql, card["id"]) == (None, None)
    asked = clock()
    made = await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=card["id"], toDepartmentKey="legal")
    assert made["userErrors"] == []
    clock.advance(hours=31, minutes=20)
    assert await stuck(gql, card["id"]) == ("Waiting for Legal to accept · 31 h", iso(asked))
    await in_chinese(org, ("legal", "法务"))
    assert await stuck(gql, card["id"]) == ("等待法务接手 · 31 小时", iso(asked))
    # Answered, nothing waits any more.
    await mutate(gql, "mutation($input: RespondHandoffInput!) { respondHandoff(input: $input) { userErrors { code } } }",
                 "respondHandoff", as_="legal_member", id=made["handoff"]["id"], accept=True)
    assert await stuck(gql, card["id"]) == (None, None)


async def test_pending_approval_step_with_urges(gql, org, clock):
    card = await create(gql, title="Fleet")
    opened = clock()
    approval = await mutate(gql, REQUEST_APPROVAL, "requestApproval", opportunityId=card["id"], kind="discount", departmentKeys=["legal"])
    assert approval["userErrors"] == []
    clock.advance(hours=30)
    assert await stuck(gql, card["id"]) == ("Waiting for Legal's approval · 30 h", iso(opened))
    assert (await mutate(gql, URGE, "urgeApproval", id=approval["approval"]["id"]))["userErrors"] == []
    clock.advance(hours=1)
    assert await stuck(gql, card["id"]) == ("Waiting for Legal's approval · 31 h · urged once", iso(opened))
    assert (await mutate(gql, URGE, "urgeApproval", id=approval["approval"]["id"]))["userErrors"] == []
    assert await stuck(gql, card["id"]) == ("Waiting for Legal's approval · 31 h · urged 2 times", iso(opened))
    await in_chinese(org, ("legal", "法务"))
    assert await stuck(gql, card["id"]) == ("等待法务审批 · 31 小时 · 已催办 2 次", iso(opened))


async def test_the_longest_wait_is_told(gql, org, clock):
    card = await create(gql, title="Fleet")
    first = clock()
    await mutate(gql, REQUEST_APPROVAL, "requestApproval", opportunityId=card["id"], kind="discount", departmentKeys=["finance"])
    clock.advance(hours=2)
    await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=card["id"], toDepartmentKey="legal")
    clock.advance(hours=5)
    assert await stuck(gql, card["id"]) == ("Waiting for Finance's approval · 7 h", iso(first))


async def test_customer_silence_from_the_stage_setting(gql, org, clock):
    card = await create(gql, title="Fleet", amount="1000", expectedCloseDate="2031-01-31")
    assert (await move(gql, card["id"], "proposal"))["userErrors"] == []
    entered = clock()
    clock.advance(hours=47)  # proposal: silenceAfterHours 48
    assert await stuck(gql, card["id"]) == (None, None)
    clock.advance(hours=2)
    assert await stuck(gql, card["id"]) == ("No follow-up with the customer for 2 days", iso(entered))
    await set_stage(org, "proposal", silence_after_hours=24)  # a stage silent after a day
    clock.advance(hours=-24)
    assert await stuck(gql, card["id"]) == ("No follow-up with the customer for a day", iso(entered))
    clock.advance(days=4)
    assert await stuck(gql, card["id"]) == ("No follow-up with the customer for 5 days", iso(entered))
    await in_chinese(org)
    assert await stuck(gql, card["id"]) == ("客户 5 天无跟进", iso(entered))
    # A follow-up logged 20 hours ago restarts the count: 24 hours have not passed since.
    async with org.db.write() as s:
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == pk(card["id"])).values(last_contact_at=clock() - timedelta(hours=20)))
    assert await stuck(gql, card["id"]) == (None, None)


async def test_overdue_tasks(gql, org, clock):
    card = await create(gql, title="Fleet")
    due = clock() + timedelta(hours=1)
    for hours in (1, 3):
        made = await mutate(gql, CREATE_TASK, "createTask", opportunityId=card["id"], title="Call",
                            dueAt=iso(clock() + timedelta(hours=hours)))
        assert made["userErrors"] == []
    clock.advance(hours=2)
    assert await stuck(gql, card["id"]) == ("A task is overdue · 1 h", iso(due))
    clock.advance(hours=10)
    assert await stuck(gql, card["id"]) == ("2 tasks are overdue · 11 h", iso(due))
    # The board reads the same from the rows it primed.
    board = await gql.ok(STUCK_BOARD, {"hours": None})
    assert [e["node"]["stuckReason"] for c in board["board"]["columns"] for e in c["opportunities"]["edges"]] == [
        "2 tasks are overdue · 11 h"]
    await in_chinese(org)
    assert await stuck(gql, card["id"]) == ("2 项任务逾期 · 11 小时", iso(due))


async def test_won_and_lost_cards_are_not_stuck(gql, org, clock):
    card = await create(gql, title="Fleet", amount="1000")
    await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=card["id"], toDepartmentKey="legal")
    clock.advance(hours=5)
    assert (await stuck(gql, card["id"]))[0] == "Waiting for Legal to accept · 5 h"
    async with org.db.write() as s:
        won = await s.scalar(select(m.Stage.id).where(
            m.Stage.key == "won", m.Stage.pipeline_id.in_(select(m.Pipeline.id).where(m.Pipeline.org_id == org.id))))
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == pk(card["id"])).values(stage_id=won))
    assert await stuck(gql, card["id"]) == (None, None)


async def test_stuck_for_hours_filter(gql, org, clock):
    old = await create(gql, title="Old wait")
    await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=old["id"], toDepartmentKey="legal")
    clock.advance(hours=10)
    approval = await create(gql, title="Approval wait")
    await mutate(gql, REQUEST_APPROVAL, "requestApproval", opportunityId=approval["id"], kind="discount", departmentKeys=["legal"])
    silent = await create(gql, title="Silent", amount="1000", expectedCloseDate="2031-01-31")
    await move(gql, silent["id"], "proposal")
    task = await create(gql, title="Late task")
    await mutate(gql, CREATE_TASK, "createTask", opportunityId=task["id"], title="Call", dueAt=iso(clock() + timedelta(hours=1)))
    await create(gql, title="Calm")
    clock.advance(hours=50)

    async def titles(hours):
        data = await gql.ok(STUCK_BOARD, {"hours": hours})
        found = {e["node"]["title"] for c in data["board"]["columns"] for e in c["opportunities"]["edges"]}
        assert sum(c["totalCount"] for c in data["board"]["columns"]) == len(found)  # counts agree with the cards
        return found

    # Waits: old 60 h (handoff), approval 50 h, silent 50 h (proposal, 48 h setting), task 49 h overdue.
    assert await titles(0) == {"Old wait", "Approval wait", "Silent", "Late task"}
    assert await titles(49) == {"Old wait", "Approval wait", "Silent"}
    assert await titles(55) == {"Old wait"}
    assert await titles(61) == set()
    body = await gql(STUCK_BOARD, {"hours": -1})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_board_gains_one_statement_for_stuck_reasons(app, gql, org):
    await add_cards(org, 12)
    await gql.ok("{ viewer { id } }")  # the token's last use is written once a minute: not while counting
    with StatementCounter(app.state.baton.db.engine) as counter:
        await gql.ok(BOARD)
    plain = counter.count
    with_reason = BOARD.replace("openTaskCount overdueTaskCount", "openTaskCount overdueTaskCount stuckReason stuckSince forecastCategory")
    with StatementCounter(app.state.baton.db.engine) as counter:
        data = await gql.ok(with_reason)
    # The organization's departments (for the waits' names); everything else was primed.
    assert counter.count == plain + 1, (plain, counter.count)
    cards = [e["node"] for c in data["board"]["columns"] for e in c["opportunities"]["edges"]]
    assert len(cards) == 12 and all(c["stuckReason"] is None and c["forecastCategory"] == "PIPELINE" for c in cards)
