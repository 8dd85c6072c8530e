"""Plain completion (schema/plain.py): plain parts of a result are completed by a
compiled plan instead of graphql-core's per-field execution. The JSON must be
byte for byte what graphql-core produces (values, key order, aliases, __typename,
errors and their masking), and the plan must actually run for the board's cards."""
import gc
import re
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import update
from strawberry.extensions import SchemaExtension

import schema.opportunities as opportunity_schema
from api.app import create_app
from api.live.execution import install_shared_execution
from api.settings import Settings
from bench.board import BOARD as BENCH_BOARD
from db import models as m
from resolvers import approvals, handoffs, tasks
from resolvers import opportunities as rules
from resolvers.ids import to_global
from schema import build_schema
from schema.plain import PlainCompletionExecutor
from tests.api.test_board_queries import BOARD as TEST_BOARD
from tests.conftest import GQL

ALIASES = """
query { board { columns { opportunities(first: 30) { edges { cursor n: node {
  __typename i: id t: title id
  acct: account { __typename name n2: name } account { id }
  owner { name } pr: priority tags amount expectedCloseDate
} } } } } }"""

FRAGMENTS = """
query { board { columns { stage { ...S } opportunities(first: 30) { edges { node {
  ...Card
  ... on Opportunity { version }
  ... on Node { id }
} } } } } }
fragment S on Stage { key name kind requiredFields staleAfterHours }
fragment Card on Opportunity { title account { ...Acct } handoffs { ...H } approvals { status kind mode createdAt } }
fragment Acct on Account { name industry region }
fragment H on Handoff { __typename status note createdAt respondedAt }
"""

DIRECTIVES = """
query($yes: Boolean!, $no: Boolean!) { board { columns { opportunities(first: 30) { edges { node {
  id title @include(if: $yes) amount @skip(if: $yes) account @include(if: $no) { name }
  owner { name @skip(if: $no) handle }
  ... on Opportunity @include(if: $yes) { version }
} } } } } }"""

RESOLVERS = """
query { board { pipeline { id name stages { key position } } columns {
  stage { id key } totalCount totalAmount
  opportunities(first: 30) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { node {
    id openTaskCount overdueTaskCount stage { key } pipeline { name } department { key name }
    handoffs { id status } approvals { id status }
  } } }
} } }"""

# Cards listed by the `opportunities` query: their accounts, owners and task counts
# are not in the loaders' caches, so the plan meets an awaitable and gives up.
NOT_PRIMED = """
query { opportunities(first: 10) { totalCount edges { cursor node {
  id title account { name } owner { name } openTaskCount
} } } }"""

# A field with arguments below the cards (tasks); tasks' own fields with a resolver (overdue).
ARGUMENTS = """
query { opportunities(first: 10) { edges { node {
  id tasks(first: 3) { totalCount edges { node { id title status overdue dueAt } } }
} } } }"""

VARIANTS = {
    "bench board": (BENCH_BOARD, None),
    "test board": (TEST_BOARD, None),
    "aliases": (ALIASES, None),
    "fragments": (FRAGMENTS, None),
    "directives": (DIRECTIVES, {"yes": True, "no": False}),
    "directives flipped": (DIRECTIVES, {"yes": False, "no": True}),
    "resolvers": (RESOLVERS, None),
    "not primed": (NOT_PRIMED, None),
    "arguments": (ARGUMENTS, None),
}


async def add_cards(org, n: int, stages=("lead", "qualified", "proposal", "negotiation")) -> list:
    """Cards with and without amounts, tasks (some overdue), handoffs and approvals."""
    ctx = org.ctx("sales_member")
    made = []
    for i in range(n):
        opp, errors = await rules.create_opportunity(ctx, {
            "title": f"Deal {i}", "account_name": f"Account {i % 5}", "amount": 100 + i if i % 4 else None,
            "expected_close_date": date(2030, 1, 1) if i % 4 else None, "stage_key": stages[i % len(stages)],
            "tags": ["fleet", f"t{i % 3}"] if i % 2 else [],
            "owner_id": to_global("User", org.users["sales_manager" if i % 2 else "sales_member"].id),
        })
        assert not errors, errors
        gid = to_global("Opportunity", opp.id)
        if i % 3 == 0:
            due = datetime.now(timezone.utc) + timedelta(days=-1 if i % 2 else 1)
            _, errors = await tasks.create_task(ctx, {"opportunity_id": gid, "title": "Call", "due_at": due})
            assert not errors, errors
        if i % 4 == 1:
            _, errors = await handoffs.request_handoff(ctx, {"opportunity_id": gid, "to_department_key": "legal", "note": "Contract"})
            assert not errors, errors
        if i % 5 == 2:
            _, errors = await approvals.request_approval(ctx, {"opportunity_id": gid, "kind": "discount", "department_keys": ["finance"]})
            assert not errors, errors
        made.append(opp)
    return made


@pytest.fixture
async def uncached(database_url, clock, org):
    """The app with its result cache off (each request computes), as a GQL client."""
    application = create_app(Settings(database_url=database_url, broadcast_url="memory://", result_cache_size=0),
                             migrate=False, clock=clock)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://baton.test") as client:
            yield GQL(client, org)


async def post(gql: GQL, query: str, variables=None) -> str:
    token = gql.org.tokens["sales_member"]
    response = await gql.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                     headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.text


async def both(gql: GQL, monkeypatch, query: str, variables=None) -> tuple[str, str]:
    """The response text with plain completion on, then forced off."""
    on = await post(gql, query, variables)
    with monkeypatch.context() as patch:
        patch.setattr(PlainCompletionExecutor, "plain_completion", False)
        off = await post(gql, query, variables)
    return on, off


def count_execute_field(monkeypatch) -> list:
    calls = []
    original = PlainCompletionExecutor.execute_field

    def counting(self, *args, **kwargs):
        calls.append(args[2][0].node.name.value)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PlainCompletionExecutor, "execute_field", counting)
    return calls


@pytest.mark.parametrize("variant", VARIANTS)
async def test_plain_completion_equals_graphql_core(uncached, org, monkeypatch, variant):
    await add_cards(org, 24)
    query, variables = VARIANTS[variant]
    on, off = await both(uncached, monkeypatch, query, variables)
    assert '"errors"' not in on, on[:500]
    assert '"edges":[{' in on  # cards were listed
    assert on == off  # same bytes: values, key order, aliases


async def test_board_cards_are_completed_by_the_plan(uncached, org, monkeypatch):
    """graphql-core executes the board's frame, not its cards: its field count does not
    grow with the number of cards (it does with plain completion off)."""
    calls = count_execute_field(monkeypatch)
    await add_cards(org, 8)
    await post(uncached, BENCH_BOARD)
    few = len(calls)
    assert "title" not in calls and "openTaskCount" not in calls, sorted(set(calls))

    await add_cards(org, 16)
    calls.clear()
    text = await post(uncached, BENCH_BOARD)
    assert text.count('"title"') == 24
    assert len(calls) == few, (few, len(calls))

    calls.clear()
    with monkeypatch.context() as patch:
        patch.setattr(PlainCompletionExecutor, "plain_completion", False)
        assert await post(uncached, BENCH_BOARD) == text
    assert calls.count("title") == 24 and len(calls) > few + 24 * 15, len(calls)


async def test_selections_that_are_not_plain_are_left_to_graphql_core(uncached, org, monkeypatch):
    await add_cards(org, 6)
    calls = count_execute_field(monkeypatch)
    # @include on a card field, arguments below the cards, an async resolver below the
    # cards (owner.department), a loader that is not ready (the plan gives up)
    for query in (DIRECTIVES, ARGUMENTS, TEST_BOARD, NOT_PRIMED):
        calls.clear()
        await post(uncached, query, {"yes": True, "no": False} if query is DIRECTIVES else None)
        assert calls.count("id") >= 6, query  # the cards' fields went through graphql-core
    # ... but once a loader has loaded, the account and owner objects are planned again
    assert calls.count("title") == 6 and "name" not in calls, calls


async def test_a_value_the_plan_cannot_complete_gets_graphql_cores_errors(uncached, org, db, monkeypatch):
    """A serializer error (a priority the enum does not know) below a card: the plan
    gives up and graphql-core reports the error at the same path, nulling the same parents."""
    cards = await add_cards(org, 6)
    async with db.write() as session:
        await session.execute(update(m.Opportunity).where(m.Opportunity.id == cards[2].id).values(priority="BOGUS"))
    query = "query { board { columns { opportunities(first: 30) { edges { node { id title priority } } } } } }"
    on, off = await both(uncached, monkeypatch, query)
    assert on == off
    assert "Priority" in on and '"priority"]' in on, on[:800]


async def test_a_nullable_value_the_serializer_refuses_is_an_error_and_null(uncached, org, monkeypatch):
    await add_cards(org, 4)
    # Account.region (String, nullable) reads a value String cannot represent.
    monkeypatch.setattr(m.Account, "region", property(lambda self: {"not": "a string"}))
    query = "query { board { columns { opportunities(first: 30) { edges { node { id account { name region } } } } } } }"
    on, off = await both(uncached, monkeypatch, query)
    assert on == off
    body = httpx.Response(200, text=on).json()
    cards = [e["node"] for c in body["data"]["board"]["columns"] for e in c["opportunities"]["edges"]]
    assert len(cards) == 4 and all(card["account"]["region"] is None for card in cards)
    assert len(body["errors"]) == 4 and all(e["path"][-1] == "region" for e in body["errors"])


@pytest.mark.parametrize("fault", ["raises", "null in non-null"])
async def test_failing_resolver_is_masked_as_before(uncached, org, monkeypatch, fault):
    cards = await add_cards(org, 6)
    target = cards[3].account_id
    real_ready = opportunity_schema.ready

    def ready(loader, key):
        value = real_ready(loader, key)
        if isinstance(value, m.Account) and value.id == target:
            if fault == "raises":
                raise RuntimeError("database on fire")
            return None
        return value

    monkeypatch.setattr(opportunity_schema, "ready", ready)
    query = "query { board { columns { stage { key } opportunities(first: 30) { edges { node { id account { name } } } } } } }"
    on, off = await both(uncached, monkeypatch, query)
    request_id = re.compile(r"[0-9a-f]{12}")
    assert request_id.sub("<id>", on) == request_id.sub("<id>", off)
    body = httpx.Response(200, text=on).json()
    [error] = body["errors"]
    assert error["path"][-1] == "account" and error["path"][:2] == ["board", "columns"]
    assert error["message"].startswith("Internal server error (request id ")
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "database on fire" not in on


async def test_resolve_hooks_still_see_every_field(org):
    """With a schema extension that wraps resolvers (middleware), nothing is planned."""
    seen = []

    class SeeAll(SchemaExtension):
        def resolve(self, _next, root, info, *args, **kwargs):
            seen.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    built = build_schema(extensions=[SeeAll])
    install_shared_execution(built)
    await add_cards(org, 5)
    result = await built.execute(BENCH_BOARD, context_value=org.ctx("sales_member"))
    assert result.errors is None
    assert seen.count("title") == 5 and seen.count("openTaskCount") == 5


PAGE = """query($after: String, $filter: OpportunityFilter) { board(filter: $filter) { columns { stage { key }
  opportunities(first: 2, after: $after) { pageInfo { hasNextPage endCursor } edges { node { title } } } } } }"""


@pytest.mark.parametrize("flt", [None, {"priority": ["MEDIUM", "HIGH", "LOW", "URGENT"]}])
async def test_board_columns_page_through_their_cards(uncached, org, flt):
    """The cards statement is built once for unfiltered boards (with parameters for
    stages, page size, cursor and clock) and per request for filtered ones."""
    await add_cards(org, 12, stages=("lead",))
    seen, after = [], None
    for _ in range(10):
        data = await uncached.ok(PAGE, {"after": after, "filter": flt})
        [lead] = [c["opportunities"] for c in data["board"]["columns"] if c["stage"]["key"] == "lead"]
        seen += [e["node"]["title"] for e in lead["edges"]]
        if not lead["pageInfo"]["hasNextPage"]:
            break
        after = lead["pageInfo"]["endCursor"]
    assert seen == [f"Deal {i}" for i in reversed(range(12))]


async def test_an_answered_board_leaves_no_rows_to_the_garbage_collector(uncached, org):
    """The request's loaders are released when it is answered: the rows they held are
    freed by reference counting, not kept in reference cycles until a full collection."""
    await add_cards(org, 6)
    await post(uncached, BENCH_BOARD)
    gc.collect()
    gc.disable()
    try:
        assert '"title"' in await post(uncached, BENCH_BOARD)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        rows = [o for o in gc.garbage if isinstance(o, m.Base)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    # at most the signed-in user: the request's context (held by per-request cycles)
    # keeps its viewer, not the board's rows
    signed_in = org.users["sales_member"].id
    assert [row for row in rows if not (isinstance(row, m.User) and row.id == signed_in)] == []
