"""Spreadsheet import (CSV/XLSX, English and Chinese headers) and export (CSV with BOM, XLSX)."""
import base64
import csv
import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, update

from db import models as m
from resolvers.ids import to_global
from resolvers.spreadsheets import SpreadsheetError, import_opportunities
from tests.api.test_cli import baton

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pipeline.csv"


async def counts(org) -> tuple[int, int, int]:
    async with org.db.read() as s:
        opps = await s.scalar(select(func.count()).select_from(m.Opportunity).where(m.Opportunity.org_id == org.id))
        events = await s.scalar(select(func.count()).select_from(m.Event).where(m.Event.org_id == org.id))
        accounts = await s.scalar(select(func.count()).select_from(m.Account).where(m.Account.org_id == org.id))
    return opps, events, accounts


async def cards(org) -> dict[str, tuple]:
    async with org.db.read() as s:
        rows = (
            await s.execute(
                select(m.Opportunity, m.Account.name, m.Stage.key, m.User.handle)
                .join(m.Account, m.Account.id == m.Opportunity.account_id)
                .join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
                .join(m.User, m.User.id == m.Opportunity.owner_id)
                .where(m.Opportunity.org_id == org.id)
            )
        ).all()
    return {o.title: (account, o.amount, o.currency, stage, handle, o.expected_close_date, o.probability, o.priority, o.tags, o.next_step) for o, account, stage, handle in rows}


def csv_bytes(rows: list[list], bom: bool = True) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode()


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def test_chinese_csv_example_imports_with_stage_mapping_and_account_dedup(org, clock):
    ctx = org.ctx("sales_admin", clock)
    report = await import_opportunities(ctx, EXAMPLE.read_bytes(), EXAMPLE.name)
    assert report.rejected == [] and report.written
    assert (report.rows, report.created, report.accounts_created) == (5, 5, 4)
    got = await cards(org)
    assert got["智能工厂一期"] == (
        "华东制造有限公司", Decimal("1200000.00"), "CNY", "proposal", "sales_admin", date(2026, 12, 31), 40, "HIGH",
        ["制造", "华东"], "安排现场演示",
    )
    assert got["备件年度框架"][3] == "qualified" and got["车队调度试点"][3] == "lead"
    assert got["EU expansion"][3:5] == ("negotiation", "sales_admin") and got["EU expansion"][8] == ["eu", "retail"]
    # Stage gates are bypassed for historic data: "won" without an approval is fine.
    assert got["会员系统升级"][3] == "won"
    # The two 华东 rows share one account.
    assert len({got["智能工厂一期"][0], got["备件年度框架"][0]}) == 1
    assert (await counts(org)) == (5, 5, 4)
    async with org.db.read() as s:
        events = list((await s.execute(select(m.Event).where(m.Event.org_id == org.id).order_by(m.Event.seq))).scalars())
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert {e.type for e in events} == {"OPPORTUNITY_CREATED"} and all(e.department_keys == ["sales"] for e in events)
    assert all(e.actor_id == org.users["sales_admin"].id for e in events)


async def test_english_xlsx_with_owner_emails_dates_and_percentages(org, clock):
    member = org.users["sales_member"]
    data = xlsx_bytes([
        ["Account", "Title", "Amount", "Stage", "Owner email", "Expected close date", "Tags", "Currency", "Priority", "Probability", "Next step", "Notes"],
        ["Contoso", "Renewal", 12000.5, "Qualified", member.email.upper(), datetime(2026, 5, 1), "saas; renewal", "usd", "low", 0.25, "Call CFO", "ignored"],
        ["contoso ", "Upsell", 3000, "proposal", None, "2026/06/30", None, None, None, "60%", None, None],
        [None, None, None, None, None, None, None, None, None, None, None, None],  # blank rows are skipped
    ])
    report = await import_opportunities(org.ctx("sales_admin", clock), data, "deals.xlsx")
    assert report.rejected == [], report.rejected
    assert report.unknown_columns == ["Notes"]
    got = await cards(org)
    assert got["Renewal"] == ("Contoso", Decimal("12000.50"), "USD", "qualified", "sales_member", date(2026, 5, 1), 25, "LOW", ["saas", "renewal"], "Call CFO")
    assert got["Upsell"][1:] == (Decimal("3000.00"), "USD", "proposal", "sales_admin", date(2026, 6, 30), 60, "MEDIUM", [], None)
    assert report.accounts_created == 1


async def test_account_dedup_against_existing_accounts(gql, org, clock):
    await gql.ok('mutation { createOpportunity(input: {title: "Pilot", accountName: "Acme  Corp"}) { opportunity { id } } }')
    data = csv_bytes([["Account", "Title"], ["ACME CORP", "Second deal"], ["acme corp ", "Third deal"]])
    report = await import_opportunities(org.ctx("sales_admin", clock), data, "x.csv")
    assert report.created == 2 and report.accounts_created == 0
    assert (await counts(org))[2] == 1


BAD_ROWS = [
    ["客户", "商机名称", "金额", "阶段", "负责人", "概率", "预计成交日期"],
    ["好客户", "好商机", "100", "线索获取", "", "10", "2026-01-01"],
    ["", "缺客户", "100", "线索获取", "", "", ""],                      # row 3: no account
    ["客户乙", "坏金额", "abc", "需求分析", "", "", ""],                 # row 4: amount
    ["客户丙", "坏阶段", "5", "不存在", "nobody@example.test", "150", "2026-13-40"],  # row 5: several
    ["客户丁", "另一个好商机", "200", "合同签署", "", "", ""],
]


async def test_rejected_rows_are_reported_and_nothing_is_written(org, clock):
    before = await counts(org)
    report = await import_opportunities(org.ctx("sales_admin", clock), csv_bytes(BAD_ROWS), "bad.csv")
    assert not report.written and report.created == 0
    assert [r.row for r in report.rejected] == [3, 4, 5]
    assert "accountName is required" in report.rejected[0].reasons
    assert report.rejected[1].reasons == ["amount is not a number"]
    reasons = " | ".join(report.rejected[2].reasons)
    assert "unknown stage '不存在'" in reasons and "nobody@example.test" in reasons
    assert "probability" in reasons and "expectedCloseDate" in reasons
    assert (await counts(org)) == before


async def test_partial_imports_the_valid_rows(org, clock):
    report = await import_opportunities(org.ctx("sales_admin", clock), csv_bytes(BAD_ROWS), "bad.csv", partial=True)
    assert report.written and report.created == 2 and [r.row for r in report.rejected] == [3, 4, 5]
    got = await cards(org)
    assert set(got) == {"好商机", "另一个好商机"} and got["另一个好商机"][3] == "contract"
    assert (await counts(org))[:2] == (2, 2)


async def test_dry_run_writes_nothing(org, clock):
    before = await counts(org)
    report = await import_opportunities(org.ctx("sales_admin", clock), EXAMPLE.read_bytes(), "pipeline.csv", dry_run=True)
    assert report.valid == 5 and report.created == 0 and not report.written
    assert (await counts(org)) == before


async def test_unreadable_files(org, clock):
    with pytest.raises(SpreadsheetError, match="Missing column"):
        await import_opportunities(org.ctx("sales_admin", clock), csv_bytes([["Foo", "Bar"], ["1", "2"]]), "x.csv")
    with pytest.raises(SpreadsheetError, match="XLSX"):
        await import_opportunities(org.ctx("sales_admin", clock), b"PK\x03\x04 not really", "x.xlsx")


async def test_graphql_multipart_import(client, org):
    query = """mutation($input: ImportOpportunitiesInput!) { importOpportunities(input: $input) {
        rows valid created accountsCreated dryRun rejected { row reasons } userErrors { code message } } }"""

    async def upload(data: bytes, name: str, as_: str, **flags):
        operations = {"query": query, "variables": {"input": {"file": None, **flags}}}
        response = await client.post(
            "/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
            files={"0": (name, data, "text/csv")},
            headers={"authorization": f"Bearer {org.tokens[as_]}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]["importOpportunities"]

    forbidden = await upload(EXAMPLE.read_bytes(), "pipeline.csv", "sales_member")
    assert forbidden["userErrors"][0]["code"] == "FORBIDDEN" and forbidden["created"] == 0
    owner = to_global("User", org.users["sales_admin"].id)  # the example's rows name no owner
    dry = await upload(EXAMPLE.read_bytes(), "pipeline.csv", "sales_admin", dryRun=True, owner=owner)
    assert (dry["valid"], dry["created"], dry["dryRun"]) == (5, 0, True)
    bad = await upload(csv_bytes(BAD_ROWS), "bad.csv", "sales_admin", owner=owner)
    assert bad["created"] == 0 and [r["row"] for r in bad["rejected"]] == [3, 4, 5]
    assert bad["userErrors"][0]["message"] == "3 row(s) rejected; nothing was imported"
    ok = await upload(EXAMPLE.read_bytes(), "pipeline.csv", "sales_admin", owner=owner)
    assert (ok["created"], ok["accountsCreated"], ok["userErrors"]) == (5, 4, [])
    assert (await counts(org))[0] == 5

    # A spreadsheet larger than any query body (256 KiB) still uploads.
    header, *lines = EXAMPLE.read_bytes().decode("utf-8-sig").splitlines()
    big = "\n".join([header] + lines * 600).encode()
    assert len(big) > 256 * 1024
    large = await upload(big, "big.csv", "sales_admin", dryRun=True, owner=owner)
    assert (large["rows"], large["valid"], large["created"]) == (3000, 3000, 0)


async def test_export_csv_has_bom_honours_filters_and_round_trips(client, org, clock):
    await import_opportunities(org.ctx("sales_admin", clock), EXAMPLE.read_bytes(), "pipeline.csv")
    unauthenticated = await client.get("/export/opportunities.csv")
    assert unauthenticated.status_code == 401
    response = await client.get("/export/opportunities.csv", headers={"authorization": f"Bearer {org.tokens['sales_viewer']}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["Title", "Account", "Amount", "Currency", "Stage", "Owner email"]
    assert len(rows) == 6 and {r[0] for r in rows[1:]} == {"智能工厂一期", "备件年度框架", "车队调度试点", "EU expansion", "会员系统升级"}

    member = {"authorization": f"Bearer {org.tokens['sales_member']}"}
    filtered = await client.get("/export/opportunities.csv", params={"stageKeys": "proposal,qualified", "headers": "zh"}, headers=member)
    rows_zh = list(csv.reader(io.StringIO(filtered.content.decode("utf-8-sig"))))
    assert rows_zh[0][:3] == ["商机名称", "客户", "金额"] and {r[0] for r in rows_zh[1:]} == {"智能工厂一期", "备件年度框架"}
    searched = await client.get("/export/opportunities.csv", params={"search": "北辰"}, headers=member)
    assert [r[0] for r in list(csv.reader(io.StringIO(searched.content.decode("utf-8-sig"))))[1:]] == ["车队调度试点"]

    # Round trip: the export carries each deal's id, so importing it again changes nothing.
    before = await cards(org)
    report = await import_opportunities(org.ctx("sales_admin", clock), response.content, "export.csv")
    assert report.rejected == [] and (report.created, report.updated, report.unchanged) == (0, 0, 5)
    async with org.db.read() as s:
        rows = (await s.execute(select(m.Opportunity).where(m.Opportunity.org_id == org.id).order_by(m.Opportunity.id))).scalars().all()
    assert len(rows) == 5
    assert await cards(org) == before


async def test_export_query_parameters_mirror_the_silent_and_stuck_filters(client, gql, org, clock):
    """A script's bearer-token download takes silentOnly and stuckForHours as the board's filter does."""
    await import_opportunities(org.ctx("sales_admin", clock), EXAMPLE.read_bytes(), "pipeline.csv")
    async with org.db.write() as s:  # in their stages for 50 hours: past the silence limit (48 h from proposal on)
        await s.execute(update(m.Opportunity).where(m.Opportunity.org_id == org.id)
                        .values(stage_entered_at=clock.now - timedelta(hours=50)))
    member = {"authorization": f"Bearer {org.tokens['sales_member']}"}
    titles_query = "query($f: OpportunityFilter){ opportunities(filter: $f, first: 100){ edges{ node{ title } } } }"

    async def listed(flt):
        return sorted(e["node"]["title"] for e in (await gql.ok(titles_query, {"f": flt}))["opportunities"]["edges"])

    async def exported(params):
        response = await client.get("/export/opportunities.csv", params=params, headers=member)
        assert response.status_code == 200, response.text
        return sorted(r[0] for r in list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:])

    silent = await listed({"silentOnly": True})
    assert 0 < len(silent) < len(await listed({})), silent
    assert await exported({"silentOnly": "true"}) == silent
    assert await exported({"stuckForHours": "49"}) == await listed({"stuckForHours": 49})
    assert await exported({"stuckForHours": "100"}) == await listed({"stuckForHours": 100}) == []
    bad = await client.get("/export/opportunities.csv", params={"stuckForHours": "soon"}, headers=member)
    assert bad.status_code == 400 and bad.json() == {"error": "stuckForHours must be a whole number of hours"}


EXPORT_LINK = """mutation($input: CreateExportLinkInput!) { createExportLink(input: $input) { url expiresAt userErrors { code } } }"""


async def test_export_links_are_signed_short_lived_and_single_use(client, gql, org, clock):
    await import_opportunities(org.ctx("sales_admin", clock), EXAMPLE.read_bytes(), "pipeline.csv")
    link = (await gql.ok(EXPORT_LINK, {"input": {"filter": {"stageKeys": ["proposal", "qualified"]}, "chineseHeaders": True}},
                         as_="sales_viewer"))["createExportLink"]
    assert link["userErrors"] == [] and link["url"].startswith("/export/opportunities.csv?ticket=")
    assert datetime.fromisoformat(link["expiresAt"]) == clock.now + timedelta(seconds=60)
    assert org.tokens["sales_viewer"] not in link["url"]
    first = await client.get(link["url"])  # no Authorization header: the ticket is the credential
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(first.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["商机名称", "客户", "金额"] and {r[0] for r in rows[1:]} == {"智能工厂一期", "备件年度框架"}
    again = await client.get(link["url"])
    assert again.status_code == 401 and "already used" in again.json()["error"]

    async def new_link(**fields):
        return (await gql.ok(EXPORT_LINK, {"input": fields}))["createExportLink"]["url"]

    xlsx = await new_link(format="XLSX")
    workbook = await client.get(xlsx)
    assert workbook.status_code == 200 and len(list(load_workbook(io.BytesIO(workbook.content)).active.iter_rows())) == 6
    other_format = (await new_link()).replace(".csv?", ".xlsx?")
    assert (await client.get(other_format)).status_code == 401
    payload, signature = (await new_link()).split("ticket=")[1].split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "==="))
    forged["u"] = org.users["sales_admin"].id
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    assert (await client.get(f"/export/opportunities.csv?ticket={forged_payload}.{signature}")).status_code == 401
    expiring = await new_link()
    clock.advance(seconds=61)
    late = await client.get(expiring)
    assert late.status_code == 401 and "expired" in late.json()["error"]


async def test_bearer_tokens_are_refused_in_urls(client, org):
    for name in ("token", "access_token"):
        r = await client.get("/export/opportunities.csv", params={name: org.tokens["sales_member"]})
        assert r.status_code == 401 and "not accepted in URLs" in r.json()["error"]
    # The header still works for scripts.
    r = await client.get("/export/opportunities.csv", headers={"authorization": f"Bearer {org.tokens['sales_member']}"})
    assert r.status_code == 200


def test_cli_import_and_export(tmp_path):
    assert baton(tmp_path, "demo").returncode == 0
    dry = baton(tmp_path, "import", "opportunities", str(EXAMPLE), "--dry-run", "--owner", "sales@demo.baton")
    assert dry.returncode == 0 and "Dry run: 5 rows, 5 valid, 0 rejected" in dry.stdout, dry.stderr
    bad_file = tmp_path / "bad.csv"
    bad_file.write_bytes(csv_bytes(BAD_ROWS))
    bad = baton(tmp_path, "import", "opportunities", str(bad_file))
    assert bad.returncode == 1 and "Nothing imported" in bad.stdout
    assert "rejected row 3: accountName is required" in bad.stderr and "rejected row 4: amount is not a number" in bad.stderr
    partial = baton(tmp_path, "import", "opportunities", str(bad_file), "--partial", "--as", "sales@demo.baton")
    assert partial.returncode == 0 and "Imported 2 opportunities" in partial.stdout, partial.stdout + partial.stderr
    ok = baton(tmp_path, "import", "opportunities", str(EXAMPLE), "--owner", "sales@demo.baton")
    assert ok.returncode == 0 and "Imported 5 opportunities" in ok.stdout, ok.stderr

    out = baton(tmp_path, "export", "opportunities", "--search", "华东")
    assert out.returncode == 0
    text = out.stdout.lstrip("\ufeff")
    assert {r[0] for r in list(csv.reader(io.StringIO(text)))[1:]} == {"智能工厂一期", "备件年度框架"}
    xlsx = tmp_path / "out.xlsx"
    exported = baton(tmp_path, "export", "opportunities", "--format", "xlsx", "--output", str(xlsx), "--stage", "won")
    assert exported.returncode == 0, exported.stderr
    sheet = load_workbook(xlsx).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "Title" and "会员系统升级" in [v[0] for v in values[1:]]
    assert all(v[4] == "Won" for v in values[1:])
