"""A deal's source (线索来源, issue 18): validated at the edge, filtered on, recorded in
events, matched by assignment rules, imported and exported (SQLite and PostgreSQL)."""
import asyncio
import csv
import io
import uuid

from sqlalchemy import func, select

from db import models as m
from db.engine import Database
from resolvers.assignment import set_assignment_rules
from resolvers.context import Ctx, Viewer
from resolvers.ids import to_global
from resolvers.spreadsheets import export_rows, import_opportunities, to_csv
from tests.api.test_assignment import SET_RULES, add_users, events_of, new_deal, rule, set_rules
from tests.api.test_cli import baton
from tests.api.test_import_export import csv_bytes

CREATE = """mutation($input: CreateOpportunityInput!) { createOpportunity(input: $input) {
  opportunity { id version source } userErrors { field code message } } }"""
UPDATE = """mutation($input: UpdateOpportunityInput!) { updateOpportunity(input: $input) {
  opportunity { id version source } userErrors { field code message } } }"""
LIST = """query($f: OpportunityFilter) { opportunities(filter: $f, first: 50) { totalCount edges { node { title source } } } }"""
TOO_LONG = "展" * 101


async def counts(org) -> tuple[int, int]:
    async with org.db.read() as s:
        opps = await s.scalar(select(func.count()).select_from(m.Opportunity).where(m.Opportunity.org_id == org.id))
        events = await s.scalar(select(func.count()).select_from(m.Event).where(m.Event.org_id == org.id))
    return opps, events


async def create(gql, title="Deal", **fields) -> dict:
    return (await gql.ok(CREATE, {"input": {"title": title, "accountName": f"Customer {uuid.uuid4().hex[:6]}", **fields}}))[
        "createOpportunity"]


async def sources_of(org) -> dict[str, str | None]:
    async with org.db.read() as s:
        return dict((await s.execute(select(m.Opportunity.title, m.Opportunity.source)
                                     .where(m.Opportunity.org_id == org.id))).all())


# ---------------------------------------------------------------- the field


async def test_source_is_trimmed_blank_is_null_and_too_long_is_refused(gql, org):
    made = await create(gql, "Show", source="  展会 ")
    assert made["userErrors"] == [] and made["opportunity"]["source"] == "展会"
    assert (await create(gql, "Blank", source="   "))["opportunity"]["source"] is None
    assert (await create(gql, "None"))["opportunity"]["source"] is None
    assert (await create(gql, "Exactly 100", source="w" * 100))["opportunity"]["source"] == "w" * 100
    [created, *_] = await events_of(org, "OPPORTUNITY_CREATED")
    assert (created.changes, created.snapshot["source"]) == (None, "展会")  # the event's card carries it

    before = await counts(org)
    refused = await create(gql, "Too long", source=TOO_LONG)
    assert refused["opportunity"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("VALIDATION", ["source"])]
    update = (await gql.ok(UPDATE, {"input": {"id": made["opportunity"]["id"], "version": 1, "source": TOO_LONG}}))[
        "updateOpportunity"]
    assert [(e["code"], e["field"]) for e in update["userErrors"]] == [("VALIDATION", ["source"])]
    assert await counts(org) == before  # nothing written, no event
    assert (await sources_of(org))["Show"] == "展会"


async def test_update_records_a_source_change(gql, org):
    made = (await create(gql, "Pilot", source="展会"))["opportunity"]

    async def update(version, **fields):
        result = (await gql.ok(UPDATE, {"input": {"id": made["id"], "version": version, **fields}}))["updateOpportunity"]
        assert result["userErrors"] == [], result
        return result["opportunity"]

    assert await update(1, source=" 官网 ") == {"id": made["id"], "version": 2, "source": "官网"}
    assert await update(2, source="官网") == {"id": made["id"], "version": 2, "source": "官网"}  # unchanged: no event
    assert await update(2, source="") == {"id": made["id"], "version": 3, "source": None}
    assert await update(3, title="Pilot 2") == {"id": made["id"], "version": 4, "source": None}  # omitted: kept
    assert [e.changes for e in await events_of(org, "OPPORTUNITY_UPDATED")] == [
        {"source": ["展会", "官网"]}, {"source": ["官网", None]}, {"title": ["Pilot", "Pilot 2"]}]
    history = await gql.ok("""query($id: ID!) { node(id: $id) { ... on Opportunity { history(first: 10) {
        edges { node { type fieldChanges { field before after } } } } } } }""", {"id": made["id"]})
    changes = [e["node"]["fieldChanges"] for e in history["node"]["history"]["edges"] if e["node"]["type"] == "OPPORTUNITY_UPDATED"]
    assert {"field": "source", "before": "展会", "after": "官网"} in [c for cs in changes for c in cs]


async def test_the_filter_matches_any_source_case_insensitively(gql, org):
    for title, source in (("A", "展会"), ("B", "Website"), ("C", "website"), ("D", "广告"), ("E", None)):
        assert (await create(gql, title, source=source))["userErrors"] == []

    async def titles(sources):
        found = (await gql.ok(LIST, {"f": {"sources": sources}}))["opportunities"]
        assert found["totalCount"] == len(found["edges"])
        return sorted((e["node"]["title"], e["node"]["source"]) for e in found["edges"])

    assert await titles(["WEBSITE", " 展会 "]) == [("A", "展会"), ("B", "Website"), ("C", "website")]
    assert await titles(["广告"]) == [("D", "广告")]
    assert await titles(["转介绍"]) == []
    assert len(await titles([])) == 5  # an empty list sets no condition
    board = await gql.ok("""query($f: OpportunityFilter) { board(filter: $f) { columns { totalCount } } }""",
                         {"f": {"sources": ["website"]}})
    assert sum(c["totalCount"] for c in board["board"]["columns"]) == 2


# ---------------------------------------------------------------- assignment rules


async def test_a_rule_with_sources_assigns_only_deals_from_them(org):
    shows, web = await add_users(org, 2)
    await set_rules(org, rule("Trade shows", [shows], sources=["展会"]), rule("Web", [web], sources=["website"]))
    cases = [("展会", shows.id, "Trade shows"), (" 展会 ", shows.id, "Trade shows"), ("Website", web.id, "Web"),
             ("WEBSITE", web.id, "Web")]
    for source, owner, _ in cases:
        deal = await new_deal(org, source=source)
        assert (deal.owner_id, deal.source, deal.pooled_at) == (owner, source.strip(), None)
    assert [e.changes for e in await events_of(org, "OPPORTUNITY_ASSIGNED")] == [
        {"owner": [None, owner], "rule": [None, name]} for _, owner, name in cases]
    manager = org.users["sales_manager"].id
    for source in ("广告", None):  # another source, or none: no rule matches, the pool takes it
        deal = await new_deal(org, source=source)
        assert (deal.owner_id, deal.pooled_at is not None) == (manager, True)
    assert [e.changes["reason"] for e in await events_of(org, "OPPORTUNITY_POOLED")] == [[None, "NO_MATCH"]] * 2
    assert len(await events_of(org, "OPPORTUNITY_ASSIGNED")) == len(cases)


async def test_rule_sources_round_trip_and_are_validated(gql, org):
    base = {"name": "Shows", "strategy": "ROUND_ROBIN", "departmentKey": "sales"}
    saved = (await gql.ok(SET_RULES.replace("tags amountMin", "tags sources amountMin"),
                          {"input": {"rules": [{**base, "sources": [" 展会 ", "Website", "website"]}, {**base, "name": "Any"}]}},
                          as_="sales_admin"))["setAssignmentRules"]
    assert saved["userErrors"] == []
    assert [(r["name"], r["sources"]) for r in saved["assignmentRules"]] == [("Shows", ["展会", "Website"]), ("Any", [])]
    listed = await gql.ok("{ assignmentRules { name sources } }", as_="sales_manager")
    assert listed["assignmentRules"] == [{"name": "Shows", "sources": ["展会", "Website"]}, {"name": "Any", "sources": []}]
    async with org.db.read() as s:
        match = await s.scalar(select(m.AssignmentRule.match).where(m.AssignmentRule.org_id == org.id, m.AssignmentRule.name == "Shows"))
    assert match["sources"] == ["展会", "Website"]

    before = await counts(org)
    bad = [{**base, "sources": ["  "]}, {**base, "name": "Long", "sources": ["w" * 101]},
           {**base, "name": "Many", "sources": [f"s{i}" for i in range(51)]}]
    refused = (await gql.ok(SET_RULES, {"input": {"rules": bad}}, as_="sales_admin"))["setAssignmentRules"]
    assert refused["assignmentRules"] == []
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("VALIDATION", ["rules", "0", "sources"]), ("VALIDATION", ["rules", "1", "sources"]),
        ("VALIDATION", ["rules", "2", "sources"])]
    assert await counts(org) == before
    assert [r["name"] for r in (await gql.ok("{ assignmentRules { name } }", as_="sales_admin"))["assignmentRules"]] == ["Shows", "Any"]


# ---------------------------------------------------------------- spreadsheets


async def test_import_reads_source_assigns_by_it_and_export_writes_it(org, clock):
    shows, = await add_users(org, 1)
    await set_rules(org, rule("Trade shows", [shows], sources=["展会"]))
    admin = org.ctx("sales_admin", clock)
    chinese = csv_bytes([["商机名称", "客户", "来源"], ["A", "Acme", " 展会 "], ["B", "Beta", "官网"], ["C", "Gamma", ""]])
    report = await import_opportunities(admin, chinese, "deals.csv", default_owner=None, assign=True)
    assert (report.created, report.rejected, report.unknown_columns) == (3, [], [])
    english = csv_bytes([["Title", "Account", "Source", "Owner email"],
                         ["D", "Delta", "展会", ""], ["E", "Epsilon", "w" * 101, ""]])
    refused = await import_opportunities(admin, english, "deals.csv", default_owner=None, assign=True)
    assert [(r.row, r.reasons) for r in refused.rejected] == [(3, ["source is longer than 100 characters"])]
    assert refused.created == 0  # all-or-nothing
    report = await import_opportunities(admin, english, "deals.csv", default_owner=None, assign=True, partial=True)
    assert (report.created, len(report.rejected)) == (1, 1)

    assert await sources_of(org) == {"A": "展会", "B": "官网", "C": None, "D": "展会"}
    async with org.db.read() as s:
        owners = dict((await s.execute(select(m.Opportunity.title, m.Opportunity.owner_id).where(m.Opportunity.org_id == org.id))).all())
    manager = org.users["sales_manager"].id
    assert owners == {"A": shows.id, "B": manager, "C": manager, "D": shows.id}
    assert [e.changes["rule"] for e in await events_of(org, "OPPORTUNITY_ASSIGNED")] == [[None, "Trade shows"]] * 2
    created = await events_of(org, "OPPORTUNITY_CREATED")
    assert [(e.changes, e.snapshot["source"]) for e in created] == [
        ({"source": [None, "import"]}, "展会"), ({"source": [None, "import"]}, "官网"), ({"source": [None, "import"]}, None),
        ({"source": [None, "import"]}, "展会")]

    # Export: the Source column (来源 under Chinese headers); filtered by source too.
    header, rows = await export_rows(admin, None)
    column = header.index("Source")
    assert sorted((r[0], r[column]) for r in rows) == [("A", "展会"), ("B", "官网"), ("C", None), ("D", "展会")]
    zh_header, _ = await export_rows(admin, None, chinese=True)
    assert zh_header[column] == "来源"
    _, shows_only = await export_rows(admin, {"sources": ["展会"]})
    assert sorted(r[0] for r in shows_only) == ["A", "D"]

    # Round trip: a changed Source updates the deal (one event); an unchanged file changes nothing.
    edited = [[("广告" if r[0] == "B" else v) if i == column else v for i, v in enumerate(r)] for r in rows]
    report = await import_opportunities(admin, to_csv(header, edited), "export.csv")
    assert (report.rejected, report.updated, report.unchanged) == ([], 1, 3)
    [updated] = await events_of(org, "OPPORTUNITY_UPDATED")
    assert updated.changes == {"source": ["官网", "广告"]}
    assert (await sources_of(org))["B"] == "广告"
    again = await import_opportunities(admin, to_csv(header, edited), "export.csv")
    assert (again.updated, again.unchanged) == (0, 4)


async def test_http_export_filters_on_sources(client, gql, org):
    for title, source in (("A", "展会"), ("B", "Website"), ("C", None)):
        assert (await create(gql, title, source=source))["userErrors"] == []
    response = await client.get("/export/opportunities.csv", params={"sources": "website,展会"},
                                headers={"authorization": f"Bearer {org.tokens['sales_member']}"})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    column = rows[0].index("Source")
    assert sorted((r[0], r[column]) for r in rows[1:]) == [("A", "展会"), ("B", "Website")]


def test_cli_import_assign_matches_on_source(tmp_path):
    """`baton import opportunities --assign`: a rule naming a source takes the rows from it."""
    assert baton(tmp_path, "demo").returncode == 0
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    async def set_demo_rules():
        db = Database(url)
        try:
            async with db.read() as s:
                admin = await s.scalar(select(m.User).where(m.User.email == "admin@demo.baton"))
                sales = await s.scalar(select(m.User).where(m.User.email == "sales@demo.baton"))
            _, errors = await set_assignment_rules(Ctx(db=db, viewer=Viewer(user=admin)), {"rules": [
                {"name": "Trade shows", "strategy": "ROUND_ROBIN", "sources": ["展会"], "user_ids": [to_global("User", sales.id)]}]})
            assert errors == []
            return sales.id
        finally:
            await db.dispose()

    async def imported():
        db = Database(url)
        try:
            async with db.read() as s:
                return {title: (source, owner, pooled is not None) for title, source, owner, pooled in (await s.execute(
                    select(m.Opportunity.title, m.Opportunity.source, m.User.email, m.Opportunity.pooled_at)
                    .join(m.User, m.User.id == m.Opportunity.owner_id)
                    .where(m.Opportunity.title.in_(["Expo lead", "Web lead"])))).all()}
        finally:
            await db.dispose()

    asyncio.run(set_demo_rules())
    deals = tmp_path / "leads.csv"
    deals.write_bytes(csv_bytes([["Title", "Account", "来源"], ["Expo lead", "Expo Co", "展会"], ["Web lead", "Web Co", "官网"]]))
    result = baton(tmp_path, "import", "opportunities", str(deals), "--assign", "--as", "admin@demo.baton")
    assert result.returncode == 0 and "Imported 2 opportunities" in result.stdout, result.stdout + result.stderr
    # 官网 matches no rule: the pool of the importer's department (sales has no manager: the admin holds it).
    assert asyncio.run(imported()) == {"Expo lead": ("展会", "sales@demo.baton", False),
                                       "Web lead": ("官网", "admin@demo.baton", True)}
    out = baton(tmp_path, "export", "opportunities", "--search", "Expo")
    rows = list(csv.reader(io.StringIO(out.stdout.lstrip("\ufeff"))))
    assert out.returncode == 0 and rows[1][rows[0].index("Source")] == "展会"
