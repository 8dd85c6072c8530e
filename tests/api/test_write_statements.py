"""The SQL statements the common writes issue (sign-in included), on both databases: each
event about a card reads the departments involved and the card's snapshot in one
statement, and the card's last activity rides on the change's own UPDATE."""
from sqlalchemy import event

from resolvers import opportunities as rules
from resolvers.ids import to_global

UPDATE = """mutation($i: UpdateOpportunityInput!) { updateOpportunity(input: $i) { opportunity { version } userErrors { code } } }"""
MOVE = """mutation($i: MoveOpportunityInput!) { moveOpportunity(input: $i) { opportunity { version } userErrors { code } } }"""
TASK = """mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } userErrors { code } } }"""
COMMENT = """mutation($i: AddCommentInput!) { addComment(input: $i) { comment { id } userErrors { code } } }"""


async def statements(app, gql, query: str, variables: dict) -> list[str]:
    seen = []

    def hit(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split())[:400])

    engine = app.state.baton.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", hit)
    try:
        data = await gql.ok(query, variables)
    finally:
        event.remove(engine, "before_cursor_execute", hit)
    (payload,) = data.values()
    assert payload["userErrors"] == [], payload
    return seen


async def test_common_writes_stay_within_their_statement_budgets(app, gql, org):
    opp, errors = await rules.create_opportunity(org.ctx("sales_member"), {"title": "Fleet pilot", "account_name": "Northwind"})
    assert errors == []
    gid = to_global("Opportunity", opp.id)
    update = await statements(app, gql, UPDATE, {"i": {"id": gid, "version": opp.version, "nextStep": "Call back"}})
    # sign-in, the card (locked) with its owner, pending approvals' locks, the UPDATE, departments
    # and snapshot, approved approvals to supersede, the event counter, the event.
    assert len(update) == 8, update
    assert sum(s.startswith("UPDATE opportunities") for s in update) == 1, update
    move = await statements(app, gql, MOVE, {"i": {"id": gid, "version": opp.version + 1, "stageKey": "qualified"}})
    assert len(move) == 7, move  # a move without gates or handoffs
    task = await statements(app, gql, TASK, {"i": {"opportunityId": gid, "title": "Send the quote"}})
    assert len(task) == 6, task
    comment = await statements(app, gql, COMMENT, {"i": {"opportunityId": gid, "body": "Quote sent"}})
    assert len(comment) == 6, comment
