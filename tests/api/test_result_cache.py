"""Query results are reused until the organization's next change, per viewer."""
from tests.sqlcount import StatementCounter

BOARD = "{ board { columns { stage { key } totalCount opportunities { edges { node { title version } } } } } }"
CREATE = 'mutation($t: String!) { createOpportunity(input: {title: $t, accountName: "Acme"}) { opportunity { id } } }'


def titles(data) -> list[str]:
    return [e["node"]["title"] for c in data["board"]["columns"] for e in c["opportunities"]["edges"]]


async def test_repeat_query_is_served_from_cache_until_a_change(app, gql):
    engine = app.state.baton.db.engine
    await gql.ok(CREATE, {"t": "First"})
    first = await gql.ok(BOARD)
    with StatementCounter(engine) as counter:
        again = await gql.ok(BOARD)
    assert again == first
    assert counter.count == 1  # authentication only: the board came from the cache

    await gql.ok(CREATE, {"t": "Second"}, as_="sales_manager")  # another user's change bumps the seq
    with StatementCounter(engine) as counter:
        fresh = await gql.ok(BOARD)
    assert sorted(titles(fresh)) == ["First", "Second"]
    assert counter.count > 1


async def test_the_organization_shares_results_but_personal_fields_are_not_cached(app, gql):
    await gql.ok(CREATE, {"t": "Shared"})
    first = await gql.ok(BOARD, as_="sales_member")
    with StatementCounter(app.state.baton.db.engine) as counter:
        assert await gql.ok(BOARD, as_="legal_member") == first
    assert counter.count == 1  # legal's sign-in only: sales' result served
    assert (await gql.ok("{ viewer { handle } }"))["viewer"]["handle"] == "sales_member"
    assert (await gql.ok("{ viewer { handle } }", as_="legal_member"))["viewer"]["handle"] == "legal_member"


async def test_concurrent_misses_compute_once(app, gql):
    import asyncio

    await gql.ok(CREATE, {"t": "Herd"})
    with StatementCounter(app.state.baton.db.engine) as counter:
        results = await asyncio.gather(*(gql.ok(BOARD, as_=who) for who in ("sales_member", "legal_member", "finance_member", "product_member")))
    assert all(r == results[0] for r in results)
    assert counter.count == 4 + 5  # four sign-ins, one board


async def test_mutations_are_never_replayed_from_cache(gql):
    a = await gql.ok(CREATE, {"t": "Same"})
    b = await gql.ok(CREATE, {"t": "Same"})
    assert a["createOpportunity"]["opportunity"]["id"] != b["createOpportunity"]["opportunity"]["id"]


async def test_time_derived_fields_refresh_with_the_clock(gql, clock):
    opp = (await gql.ok(CREATE, {"t": "Timed"}))["createOpportunity"]["opportunity"]["id"]
    # Due right now: not overdue yet, overdue once the clock moves on (with no new event).
    await gql.ok('mutation($o: ID!, $d: DateTime!) { createTask(input: {opportunityId: $o, title: "Call", dueAt: $d}) { task { id } } }',
                 {"o": opp, "d": (clock.now.replace(microsecond=0)).isoformat()})
    query = "{ opportunities { edges { node { overdueTaskCount } } } }"
    assert (await gql.ok(query))["opportunities"]["edges"][0]["node"]["overdueTaskCount"] == 0
    clock.advance(minutes=2)
    assert (await gql.ok(query))["opportunities"]["edges"][0]["node"]["overdueTaskCount"] == 1


async def test_personal_state_is_never_cached(gql, org):
    from resolvers import comments

    opp = (await gql.ok(CREATE, {"t": "Ping"}))["createOpportunity"]["opportunity"]["id"]
    await comments.add_comment(org.ctx("sales_manager"), {"opportunity_id": opp, "body": "@sales_member look"})
    inbox = "{ notifications { unreadCount } }"
    assert (await gql.ok(inbox))["notifications"]["unreadCount"] == 1
    await gql.ok("mutation { markNotificationsRead(input: {}) { unreadCount } }")  # appends no event
    assert (await gql.ok(inbox))["notifications"]["unreadCount"] == 0


async def test_results_of_an_older_seq_are_dropped_when_a_newer_one_is_kept(app, gql):
    from api.app import BatonGraphQL

    cache = next(r.app for r in app.routes if isinstance(getattr(r, "app", None), BatonGraphQL)).results
    await gql.ok(CREATE, {"t": "One"})
    await gql.ok(BOARD)
    await gql.ok("{ pipelines { name } }")
    assert len(cache._entries) == 2
    first_seq = next(iter(cache._entries))[1]
    await gql.ok(CREATE, {"t": "Two"})
    await gql.ok(BOARD)
    kept = list(cache._entries)
    assert len(kept) == 1 and kept[0][1] > first_seq  # the older board and pipelines are gone
    assert sorted(titles(await gql.ok(BOARD))) == ["One", "Two"]


async def test_what_the_viewer_may_do_is_cached_per_viewer(app, gql):
    """`viewerCan...` fields answer for the asking user: one user's result never serves another."""
    made = await gql.ok('mutation { createOpportunity(input: {title: "Deal", accountName: "Acme"}) { opportunity { id } } }')
    gid = made["createOpportunity"]["opportunity"]["id"]
    asked = await gql.ok('mutation($i: RequestApprovalInput!) { requestApproval(input: $i) { approval { id } } }',
                         {"i": {"opportunityId": gid, "kind": "discount", "departmentKeys": ["finance"]}})
    assert asked["requestApproval"]["approval"]
    query = "{ approvals { viewerCanDecide viewerCanUrge } }"
    assert (await gql.ok(query, as_="finance_member"))["approvals"] == [{"viewerCanDecide": True, "viewerCanUrge": False}]
    assert (await gql.ok(query, as_="legal_member"))["approvals"] == [{"viewerCanDecide": False, "viewerCanUrge": False}]
    assert (await gql.ok(query, as_="sales_member"))["approvals"] == [{"viewerCanDecide": False, "viewerCanUrge": True}]
    with StatementCounter(app.state.baton.db.engine) as counter:
        assert (await gql.ok(query, as_="legal_member"))["approvals"] == [{"viewerCanDecide": False, "viewerCanUrge": False}]
    assert counter.count == 1  # still cached, for legal itself
