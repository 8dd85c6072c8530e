"""Tasks and comments through the HTTP API."""
from sqlalchemy import select

from db import models as m

NEW_OPP = """mutation { createOpportunity(input: {title: "Fleet pilot", accountName: "Northwind"}) { opportunity { id } } }"""
CREATE_TASK = """mutation($input: CreateTaskInput!) { createTask(input: $input) {
  task { id title status version overdue department { key } assignee { handle } opportunity { title } }
  userErrors { field code message } } }"""
UPDATE_TASK = """mutation($input: UpdateTaskInput!) { updateTask(input: $input) {
  task { id status version completedAt overdue } userErrors { field code message } } }"""
ADD_COMMENT = """mutation($input: AddCommentInput!) { addComment(input: $input) {
  comment { id body author { handle } mentions { handle } task { id } } userErrors { field code message } } }"""


async def new_opp(gql) -> str:
    return (await gql.ok(NEW_OPP))["createOpportunity"]["opportunity"]["id"]


async def notifications_of(org, who: str) -> list[m.Notification]:
    async with org.db.read() as s:
        return list((await s.execute(select(m.Notification).where(m.Notification.user_id == org.users[who].id))).scalars())


async def test_task_lifecycle_and_overdue(gql, org, clock):
    opp = await new_opp(gql)
    due = clock.now.replace(microsecond=0)
    due = due.replace(year=due.year)  # due right now: overdue as soon as the clock moves
    assignee = (await gql.ok("{ users(departmentKey: \"legal\") { id handle } }"))["users"]
    legal_member = next(u for u in assignee if u["handle"] == "legal_member")
    created = (await gql.ok(CREATE_TASK, {"input": {
        "opportunityId": opp, "title": "Review redlines", "assigneeId": legal_member["id"], "dueAt": due.isoformat(),
    }}))["createTask"]
    assert created["userErrors"] == []
    task = created["task"]
    assert task["department"]["key"] == "legal"  # the assignee's department by default
    assert task["assignee"]["handle"] == "legal_member"
    assert task["overdue"] is False
    assert [n.kind for n in await notifications_of(org, "legal_member")] == ["assigned"]

    clock.advance(hours=1)
    board = (await gql.ok("{ opportunities { edges { node { openTaskCount overdueTaskCount tasks { totalCount edges { node { overdue } } } } } } }"))
    node = board["opportunities"]["edges"][0]["node"]
    assert (node["openTaskCount"], node["overdueTaskCount"], node["tasks"]["totalCount"]) == (1, 1, 1)

    done = (await gql.ok(UPDATE_TASK, {"input": {"id": task["id"], "version": 1, "status": "DONE"}}))["updateTask"]
    assert done["task"]["status"] == "DONE" and done["task"]["completedAt"] and done["task"]["overdue"] is False
    stale = (await gql.ok(UPDATE_TASK, {"input": {"id": task["id"], "version": 1, "title": "x"}}))["updateTask"]
    assert stale["userErrors"][0]["code"] == "CONFLICT"

    listed = (await gql.ok('{ tasks(departmentKey: "legal", status: [DONE]) { totalCount edges { node { id } } } }'))["tasks"]
    assert listed["totalCount"] == 1 and listed["edges"][0]["node"]["id"] == task["id"]


async def test_task_needs_title_and_known_department(gql, org):
    opp = await new_opp(gql)
    blank = (await gql.ok(CREATE_TASK, {"input": {"opportunityId": opp, "title": " "}}))["createTask"]
    assert blank["userErrors"][0]["code"] == "VALIDATION"
    unknown = (await gql.ok(CREATE_TASK, {"input": {"opportunityId": opp, "title": "x", "departmentKey": "hr"}}))["createTask"]
    assert unknown["userErrors"][0] == {"field": ["departmentKey"], "code": "VALIDATION", "message": "Unknown department 'hr'"}
    async with org.db.read() as s:
        assert (await s.execute(select(m.Task).where(m.Task.org_id == org.id))).first() is None


async def test_comment_mentions_notify_users_and_departments(gql, org):
    opp = await new_opp(gql)
    result = (await gql.ok(ADD_COMMENT, {"input": {
        "opportunityId": opp, "body": "@legal_member can you check clause 4? cc @finance, mail me at a@b.com",
    }}))["addComment"]
    assert result["userErrors"] == []
    assert [u["handle"] for u in result["comment"]["mentions"]] == ["legal_member"]
    assert [n.kind for n in await notifications_of(org, "legal_member")] == ["mention"]
    finance = await notifications_of(org, "finance_member")
    assert len(finance) == 1 and "@finance" in finance[0].message
    assert await notifications_of(org, "product_member") == []
    # the author is never notified of their own comment
    assert await notifications_of(org, "sales_member") == []

    comments = (await gql.ok("query($id: ID!) { node(id: $id) { ... on Opportunity { comments { totalCount edges { node { body author { handle } } } } } } }", {"id": opp}))
    assert comments["node"]["comments"]["totalCount"] == 1


async def test_comment_on_a_task_of_another_card_is_refused(gql):
    opp_a, opp_b = await new_opp(gql), await new_opp(gql)
    task = (await gql.ok(CREATE_TASK, {"input": {"opportunityId": opp_a, "title": "t"}}))["createTask"]["task"]
    result = (await gql.ok(ADD_COMMENT, {"input": {"opportunityId": opp_b, "taskId": task["id"], "body": "hi"}}))["addComment"]
    assert result["comment"] is None and result["userErrors"][0]["code"] == "NOT_FOUND"
