"""The stages' card tallies (db/tallies.py): rows appended by triggers as cards come, go and
change stage, currency or amount, added up for the board's column totals and analytics when
the viewer sees every card, folded by the alerts round. Whatever path wrote the cards, the
tallies must equal a count of them, before and after folding, on both databases."""
import asyncio
from decimal import Decimal

from alembic import command
from sqlalchemy import delete, func, select, update

from api.jobs import alerts_round
from db import models as m
from db.migrate import alembic_config, upgrade
from db.tallies import fold
from resolvers.board import stage_totals
from resolvers.visibility import ensure_access
from tests.api.workflow_helpers import UPDATE, create, move, pk

BOARD = "{ board { columns { stage { key } totalCount totals { amount currency } } } }"
FUNNEL = "{ analytics { funnel { stage { key } current amount totals { amount currency } } } }"


def columns(data: dict) -> dict:
    return {c["stage"]["key"]: c for c in data["board"]["columns"]}


async def org_stages(org) -> list[m.Stage]:
    async with org.db.read() as s:
        return list((await s.execute(
            select(m.Stage).join(m.Pipeline).where(m.Pipeline.org_id == org.id).order_by(m.Stage.position))).scalars())


async def stage_ids(org) -> list[int]:
    return [stage.id for stage in await org_stages(org)]


async def tallied_and_counted(org) -> tuple:
    """The stages' figures from their tallies, and from counting the cards."""
    ctx = org.ctx("sales_admin")
    await ensure_access(ctx)
    ids = await stage_ids(org)
    tallied = await stage_totals(ctx, "USD", ids, None)
    counted = await stage_totals(ctx, "USD", ids, [m.Opportunity.org_id == org.id])
    return tallied, counted


async def tally_rows(org) -> int:
    async with org.db.read() as s:
        return await s.scalar(select(func.count()).select_from(m.StageTally).where(m.StageTally.stage_id.in_(await stage_ids(org))))


async def write_every_way(gql, org) -> None:
    """Cards created, re-priced, re-currencied, moved (through the API and straight in the
    table), emptied of their amount and deleted."""
    a = await create(gql, amount="1000.50", currency="USD")
    b = await create(gql, amount="200", currency="CNY")
    c = await create(gql, title="No amount yet")
    await create(gql, amount="75.25", currency="EUR")
    for data in ({"id": a["id"], "version": 1, "amount": "1500.25"},
                 {"id": b["id"], "version": 1, "currency": "EUR"},
                 {"id": c["id"], "version": 1, "amount": "9.99"}):
        assert (await gql.ok(UPDATE, {"input": data}, as_="sales_member"))["updateOpportunity"]["userErrors"] == []
    assert (await move(gql, a["id"], "qualified"))["userErrors"] == []
    async with org.db.write() as s:
        proposal = await s.scalar(select(m.Stage.id).join(m.Pipeline).where(m.Pipeline.org_id == org.id, m.Stage.key == "proposal"))
        await s.execute(update(m.Opportunity).where(m.Opportunity.id == pk(b["id"])).values(stage_id=proposal, amount=None))
        await s.execute(delete(m.Opportunity).where(m.Opportunity.id == pk(c["id"])))


async def test_tallies_equal_a_count_of_the_cards_before_and_after_folding(gql, org):
    await write_every_way(gql, org)
    tallied, counted = await tallied_and_counted(org)
    assert tallied == counted
    counts, sums, _ = counted
    by_key = {st.key: st.id for st in await org_stages(org)}
    assert counts[by_key["lead"]] == (1, 0) and sums[by_key["lead"]] == {"EUR": Decimal("75.25")}
    assert counts[by_key["qualified"]] == (1, 0) and sums[by_key["qualified"]] == {"USD": Decimal("1500.25")}
    assert counts[by_key["proposal"]] == (1, 0) and by_key["proposal"] not in sums  # moved and its amount cleared
    assert await tally_rows(org) > 4  # one row per change until folded

    assert await fold(org.db) > 0
    assert await tallied_and_counted(org) == (tallied, counted)
    # one row per stage and currency still holding cards: lead EUR, qualified USD, proposal EUR
    assert await tally_rows(org) == 3


async def test_an_emptied_stage_and_a_deleted_stage_leave_no_rows(gql, org):
    card = await create(gql, amount="10", currency="USD")
    async with org.db.write() as s:
        await s.execute(delete(m.Opportunity).where(m.Opportunity.id == pk(card["id"])))
    await fold(org.db)
    assert await tally_rows(org) == 0
    async with org.db.write() as s:
        stage = m.Stage(pipeline_id=(await org_stages(org))[0].pipeline_id, key="pilot", name="Pilot", position=99, kind="OPEN")
        s.add(stage)
        await s.flush()
        s.add(m.StageTally(stage_id=stage.id, currency="USD", cards=1, amount=Decimal(5), with_amount=1))
    async with org.db.write() as s:
        await s.execute(delete(m.Stage).where(m.Stage.key == "pilot", m.Stage.pipeline_id == stage.pipeline_id))
    await fold(org.db)
    async with org.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(m.StageTally).where(m.StageTally.stage_id == stage.id)) == 0


async def test_the_board_and_analytics_add_up_tallies_only_for_viewers_who_see_every_card(gql, org):
    """A tally row that no card backs shows where the tallies are read: in the totals of a
    viewer who sees every card, not in a filtered board, nor in an analytics cohort of dates."""
    await create(gql, amount="100", currency="USD")
    lead = (await org_stages(org))[0]
    async with org.db.write() as s:
        s.add(m.StageTally(stage_id=lead.id, currency="USD", cards=1, amount=Decimal("1"), with_amount=1))
    everything = columns(await gql.ok(BOARD, as_="sales_admin"))["lead"]
    assert (everything["totalCount"], everything["totals"]) == (2, [{"amount": "101.00", "currency": "USD"}])
    filtered = await gql.ok("""{ board(filter: {priority: [MEDIUM, HIGH, LOW, URGENT]}) { columns { stage { key } totalCount
      totals { amount currency } } } }""", as_="sales_admin")
    assert columns(filtered)["lead"]["totalCount"] == 1
    funnel = (await gql.ok(FUNNEL, as_="sales_admin"))["analytics"]["funnel"][0]
    assert (funnel["current"], funnel["totals"]) == (2, [{"amount": "101.00", "currency": "USD"}])
    dated = await gql.ok("""{ analytics(from: "2000-01-01") { funnel { current totals { amount currency } } } }""", as_="sales_admin")
    assert dated["analytics"]["funnel"][0] == {"current": 1, "totals": [{"amount": "100.00", "currency": "USD"}]}


async def test_the_alerts_round_folds_the_tallies(gql, org, app):
    for amount in ("1", "2", "3"):
        await create(gql, amount=amount, currency="USD")
    assert await tally_rows(org) == 3
    await alerts_round(app.state.baton)
    assert await tally_rows(org) == 1
    tallied, counted = await tallied_and_counted(org)
    assert tallied == counted and counted[0][(await org_stages(org))[0].id] == (3, 0)


async def test_folding_beside_writers_loses_no_change(gql, org):
    cards = [await create(gql, amount="1", currency="USD") for _ in range(6)]

    async def reprice(card, rounds=5):
        version = card["version"]
        for i in range(rounds):
            result = (await gql.ok(UPDATE, {"input": {"id": card["id"], "version": version, "amount": f"{i + 2}"}},
                                   as_="sales_member"))["updateOpportunity"]
            assert result["userErrors"] == []
            version = result["opportunity"]["version"]

    async def keep_folding():
        for _ in range(10):
            await fold(org.db)
            await asyncio.sleep(0)

    await asyncio.gather(*(reprice(card) for card in cards), keep_folding())
    tallied, counted = await tallied_and_counted(org)
    assert tallied == counted
    assert counted[1][(await org_stages(org))[0].id] == {"USD": Decimal(6 * 6)}


async def test_the_migration_tallies_the_cards_already_there(gql, org):
    await write_every_way(gql, org)
    before = await tallied_and_counted(org)
    url = org.db.url
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0023_events_removed_through")
    await upgrade(url)
    assert await tallied_and_counted(org) == before
    assert before[0] == before[1]
