"""Concurrency on SQLite and PostgreSQL: one version, one winner; one clientMutationId,
one opportunity; concurrent handoff responses / approval decisions, one outcome;
concurrent writers keep seqs gapless and in commit order."""
import asyncio

from sqlalchemy import func, select

from db import models as m
from tests.api.workflow_helpers import CREATE, DECIDE, MOVE, REQUEST_APPROVAL, REQUEST_HANDOFF, RESPOND_HANDOFF, create
from tests.invariants import check_invariants

N = 8


async def test_concurrent_moves_with_one_version_one_wins(gql, org):
    opp = await create(gql)
    results = await asyncio.gather(*[
        gql.ok(MOVE, {"input": {"id": opp["id"], "version": opp["version"], "stageKey": "qualified"}},
               as_=("sales_member", "sales_manager", "sales_admin")[i % 3])
        for i in range(N)
    ])
    outcomes = [r["moveOpportunity"]["userErrors"][0]["code"] if r["moveOpportunity"]["userErrors"] else "OK" for r in results]
    # The losers sent version 1 after the winner made it 2: every one of them is a CONFLICT.
    assert sorted(outcomes) == ["CONFLICT"] * (N - 1) + ["OK"], outcomes
    await check_invariants(org.db, [org.id])


async def test_concurrent_first_deals_of_a_new_customer_share_one_account(gql, org):
    """Creates racing to add the same new customer: every one succeeds (the loser of the
    insert takes the winner's account, no server error) and there is one account."""
    results = await asyncio.gather(*[
        gql(CREATE, {"input": {"title": f"首单 {i}", "accountName": "  上海星辰科技  "}}) for i in range(N)
    ])
    assert all("errors" not in r and not r["data"]["createOpportunity"]["userErrors"] for r in results), results
    async with org.db.read() as s:
        accounts = await s.scalar(select(func.count()).select_from(m.Account).where(m.Account.org_id == org.id))
        deals = await s.scalar(select(func.count(func.distinct(m.Opportunity.account_id))).where(m.Opportunity.org_id == org.id))
    assert (accounts, deals) == (1, 1)
    await check_invariants(org.db, [org.id])


async def test_concurrent_creates_with_one_client_mutation_id(gql, org):
    data = {"title": "Retry me", "accountName": "Acme", "clientMutationId": "req-42"}
    results = await asyncio.gather(*[gql(CREATE, {"input": data}) for _ in range(N)])
    assert all("errors" not in r for r in results), results
    ids = {r["data"]["createOpportunity"]["opportunity"]["id"] for r in results}
    assert len(ids) == 1
    async with org.db.read() as s:
        count = await s.scalar(select(func.count()).select_from(m.Opportunity).where(
            m.Opportunity.org_id == org.id, m.Opportunity.client_mutation_id == "req-42"))
    assert count == 1
    await check_invariants(org.db, [org.id])


async def test_concurrent_handoff_responses_one_outcome(gql, org):
    opp = await create(gql)
    handoff = (await gql.ok(REQUEST_HANDOFF, {"input": {"opportunityId": opp["id"], "toDepartmentKey": "legal"}}))["requestHandoff"]["handoff"]
    results = await asyncio.gather(*[
        gql.ok(RESPOND_HANDOFF, {"input": {"id": handoff["id"], "accept": i % 2 == 0}}, as_=("legal_member", "legal_manager")[i % 2])
        for i in range(N)
    ])
    oks = [r for r in results if not r["respondHandoff"]["userErrors"]]
    assert len(oks) == 1
    assert {r["respondHandoff"]["userErrors"][0]["code"] for r in results if r not in oks} == {"INVALID_TRANSITION"}
    await check_invariants(org.db, [org.id])


async def test_concurrent_approval_decisions_one_outcome(gql, org):
    opp = await create(gql)
    approval = (await gql.ok(REQUEST_APPROVAL, {"input": {"opportunityId": opp["id"], "kind": "discount", "departmentKeys": ["finance"]}}))["requestApproval"]["approval"]
    results = await asyncio.gather(*[
        gql.ok(DECIDE, {"input": {"id": approval["id"], "approve": i % 2 == 0}}, as_=("finance_member", "sales_admin")[i % 2])
        for i in range(N)
    ])
    oks = [r for r in results if not r["decideApproval"]["userErrors"]]
    assert len(oks) == 1, results
    await check_invariants(org.db, [org.id])


async def test_concurrent_writers_keep_seq_gapless_and_ordered(gql, org):
    opps = [await create(gql) for _ in range(3)]
    work = []
    for i in range(4 * N):
        o = opps[i % 3]
        work.append(gql.ok("mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } userErrors { code } } }",
                           {"input": {"opportunityId": o["id"], "body": f"note {i}"}}, as_=("sales_member", "legal_member", "finance_member")[i % 3]))
    snapshots = []
    done = asyncio.Event()

    async def observe():
        # Committed in order: any snapshot a reader takes is a gapless prefix 1..max.
        while not done.is_set():
            async with org.db.read() as s:
                seqs = list((await s.execute(select(m.Event.seq).where(m.Event.org_id == org.id).order_by(m.Event.seq))).scalars())
            snapshots.append(seqs)
            await asyncio.sleep(0)

    observer = asyncio.create_task(observe())
    results = await asyncio.gather(*work)
    done.set()
    await observer
    assert all(not r["addComment"]["userErrors"] for r in results)
    assert len(snapshots) > 1
    for seqs in snapshots:
        assert seqs == list(range(1, len(seqs) + 1)), seqs
    await check_invariants(org.db, [org.id])


async def test_event_counter_is_locked_last(app, gql, org):
    """Writers of one organization queue on its counter row until commit, so nothing but
    the log's own inserts may run between taking it and committing."""
    from sqlalchemy import event as sa_event

    opp = await create(gql)
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()[:3]).upper())

    def committed(conn):
        statements.append("COMMIT")

    engine = app.state.baton.db.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", seen)
    sa_event.listen(engine, "commit", committed)
    try:
        await gql.ok(MOVE, {"input": {"id": opp["id"], "version": opp["version"], "stageKey": "qualified"}}, as_="sales_member")
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)
        sa_event.remove(engine, "commit", committed)
    counter = next(i for i, s in enumerate(statements) if s.startswith("UPDATE ORGANIZATIONS"))
    window = statements[counter + 1:statements.index("COMMIT", counter)]
    assert window and all(s.startswith(("INSERT INTO EVENTS", "INSERT INTO NOTIFICATIONS")) for s in window), statements
    assert any(s.startswith("UPDATE OPPORTUNITIES") for s in statements[:counter]), statements
