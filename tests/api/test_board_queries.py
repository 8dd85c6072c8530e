"""The board query's SQL statement count must not grow with the number of cards."""
from datetime import date

import pytest

from resolvers import opportunities as rules
from resolvers import tasks
from resolvers.ids import to_global
from tests.sqlcount import StatementCounter

BOARD = """
query { board { pipeline { name stages { key } } columns {
  stage { key name requiredFields } totalCount totalAmount
  opportunities(first: 100) { totalCount pageInfo { hasNextPage } edges { cursor node {
    id title amount priority tags version lastActivityAt
    account { name } owner { name handle department { key } } department { key } stage { key }
    openTaskCount overdueTaskCount
    handoffs { status toDepartment { key } createdAt }
    approvals { status kind steps { status department { key } } }
  } } }
} } }"""


async def add_cards(org, n: int, stages=("lead", "qualified", "proposal", "negotiation")):
    ctx = org.ctx("sales_member")
    for i in range(n):
        opp, errors = await rules.create_opportunity(ctx, {
            "title": f"Deal {i}", "account_name": f"Account {i % 7}", "amount": 100 + i,
            "expected_close_date": date(2030, 1, 1), "stage_key": stages[i % len(stages)],
            "owner_id": to_global("User", org.users["sales_manager" if i % 2 else "sales_member"].id),
        })
        assert not errors, errors
        if i % 3 == 0:
            _, errors = await tasks.create_task(ctx, {"opportunity_id": to_global("Opportunity", opp.id), "title": "Call"})
            assert not errors


async def board_statements(app, gql) -> int:
    with StatementCounter(app.state.baton.db.engine) as counter:
        data = await gql.ok(BOARD, as_="sales_member")
    assert data["board"]["columns"]
    return counter.count, data


@pytest.mark.parametrize("small,large", [(10, 200)])
async def test_board_statement_count_is_constant(app, gql, org, db, small, large):
    # The app has its own engine on the same database; cards are written via the test's.
    await add_cards(org, small)
    few, data = await board_statements(app, gql)
    assert sum(c["totalCount"] for c in data["board"]["columns"]) == small
    await add_cards(org, large - small)
    many, data = await board_statements(app, gql)
    cards = sum(len(c["opportunities"]["edges"]) for c in data["board"]["columns"])
    assert cards == large
    assert many == few, f"board took {few} statements for {small} cards but {many} for {large}"
    # the bearer token's lookup, then the board's five: pipeline+stages, totals, cards with
    # account/owner/departments/task counts, handoffs, approvals+steps
    assert few <= 6, few


async def test_stage_filters_load_the_stages_once(app, gql, org):
    await add_cards(org, 8)
    plain, _ = await board_statements(app, gql)
    filtered = BOARD.replace("query { board {", 'query { board(filter: {stageKeys: ["lead", "proposal"]}) {')
    with StatementCounter(app.state.baton.db.engine) as counter:
        data = await gql.ok(filtered)
    assert data["board"]["columns"]
    # the unfiltered board's statements plus one to read the organization's stages,
    # although the filter needs them twice: for the totals and again for the cards
    assert counter.count == plain + 1, (plain, counter.count)
