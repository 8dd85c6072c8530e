"""The board query's SQL statement count must not grow with the number of cards."""
import pytest
from sqlalchemy import event

from api.demo import seed_demo  # noqa: F401  (keeps the demo importable in the suite)
from resolvers import opportunities as rules
from resolvers.ids import to_global

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


class StatementCounter:
    def __init__(self, engine):
        self.engine = engine.sync_engine
        self.count = 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._hit)

    def _hit(self, *args):
        self.count += 1


async def add_cards(org, n: int, stages=("lead", "qualified", "proposal", "negotiation")):
    from datetime import date

    ctx = org.ctx("sales_member")
    from resolvers import tasks

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
    # the bearer token's lookup, then the board's six: pipeline+stages, totals, cards with
    # account/owner/departments, open-task counts, handoffs, approvals+steps
    assert few <= 7, few
