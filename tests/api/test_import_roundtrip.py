"""Spreadsheets that round-trip: an export imported again updates its deals (by ID, with
version conflicts), rows without an ID match existing deals, owners are explicit, and
contacts and follow-ups import from their own sheets."""
import io
import json
from decimal import Decimal

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from db import models as m
from resolvers import opportunities as rules
from resolvers.ids import to_global
from resolvers.spreadsheets import export_rows, import_opportunities, record_sheets, to_xlsx
from tests.api.test_cli import baton
from tests.api.test_import_export import EXAMPLE, csv_bytes


async def count(org, model) -> int:
    async with org.db.read() as s:
        return await s.scalar(select(func.count()).select_from(model).where(model.org_id == org.id))


async def events_after(org, seq: int) -> list[m.Event]:
    async with org.db.read() as s:
        return list((await s.execute(select(m.Event).where(m.Event.org_id == org.id, m.Event.seq > seq)
                                     .order_by(m.Event.seq))).scalars())


async def head(org) -> int:
    async with org.db.read() as s:
        return await s.scalar(select(m.Organization.event_seq).where(m.Organization.id == org.id))


async def exported(ctx) -> bytes:
    header, rows = await export_rows(ctx, None)
    return to_xlsx(header, rows, await record_sheets(ctx, header, rows))


def edit(data: bytes, changes: dict[str, dict[str, object]]) -> bytes:
    """The workbook with cells changed: {deal title: {header: new value}}."""
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook["Opportunities"]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        for name, value in changes.get(row[0].value, {}).items():
            row[header.index(name)].value = value
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def seeded(org, clock):
    ctx = org.ctx("sales_admin", clock)
    report = await import_opportunities(ctx, EXAMPLE.read_bytes(), EXAMPLE.name)
    assert report.created == 5
    return ctx


async def test_an_edited_export_updates_exactly_the_edited_deals(org, clock):
    ctx = await seeded(org, clock)
    data = edit(await exported(ctx), {"智能工厂一期": {"Amount": 1300000}, "车队调度试点": {"Title": "车队调度二期"}})
    before, seq = await count(org, m.Opportunity), await head(org)
    report = await import_opportunities(ctx, data, "edited.xlsx")
    assert report.rejected == [] and report.written
    assert (report.created, report.updated, report.unchanged, report.existing) == (0, 2, 3, [])
    assert await count(org, m.Opportunity) == before == 5
    events = await events_after(org, seq)
    assert [(e.type, e.changes) for e in events] == [
        ("OPPORTUNITY_UPDATED", {"amount": ["1200000.00", "1300000.00"]}),
        ("OPPORTUNITY_UPDATED", {"title": ["车队调度试点", "车队调度二期"]}),
    ]
    async with org.db.read() as s:
        card = (await s.execute(select(m.Opportunity).where(m.Opportunity.id == events[0].opportunity_id))).scalar_one()
    assert (card.amount, card.version) == (Decimal("1300000.00"), 2)


async def test_importing_the_same_file_twice_changes_nothing_the_second_time(org, clock):
    ctx = await seeded(org, clock)
    data = edit(await exported(ctx), {"EU expansion": {"Probability": 75}})
    first = await import_opportunities(ctx, data, "edited.xlsx")
    assert (first.created, first.updated, first.unchanged) == (0, 1, 4)
    seq = await head(org)
    second = await import_opportunities(ctx, data, "edited.xlsx")
    # The file's Version is the one before its own update: only a changed value would conflict.
    assert second.rejected == [] and (second.created, second.updated, second.unchanged) == (0, 0, 5)
    assert await events_after(org, seq) == []
    # A file without IDs: the second time every row already exists.
    rows = csv_bytes([["客户", "商机名称", "负责人"], ["新客户", "新商机", org.users["sales_member"].email]])
    assert (await import_opportunities(ctx, rows, "new.csv")).created == 1
    seq = await head(org)
    again = await import_opportunities(ctx, rows, "new.csv")
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 0, [])
    assert [row for row, _ in again.existing] == [2]
    assert await events_after(org, seq) == [] and await count(org, m.Opportunity) == 6


async def test_a_deal_changed_since_the_export_is_a_conflict_and_not_applied(org, clock):
    ctx = await seeded(org, clock)
    data = edit(await exported(ctx), {"智能工厂一期": {"Amount": 1}, "备件年度框架": {"Next step": "签合同"}})
    header, rows = await export_rows(ctx, None)
    changed = next(r for r in rows if r[0] == "智能工厂一期")
    gid, version = changed[header.index("ID")], changed[header.index("Version")]
    _, errors = await rules.update_opportunity(ctx, {"id": gid, "version": version, "probability": 55})
    assert errors == []
    seq = await head(org)
    report = await import_opportunities(ctx, data, "stale.xlsx")
    assert [(r.row, r.code) for r in report.rejected] == [(2, "CONFLICT")] and (report.conflicts, report.errors) == (1, 0)
    assert not report.written and report.updated == 0 and await events_after(org, seq) == []
    partial = await import_opportunities(ctx, data, "stale.xlsx", partial=True)
    assert (partial.updated, partial.conflicts) == (1, 1)
    events = await events_after(org, seq)
    assert [(e.type, e.changes) for e in events] == [("OPPORTUNITY_UPDATED", {"nextStep": ["确认采购流程", "签合同"]})]
    # An ID nobody has (or that the importer may not see) is NOT_FOUND.
    unknown = csv_bytes([["ID", "Title", "Account"], [to_global("Opportunity", 999999), "X", "Y"], ["12x", "X", "Y"]])
    missing = await import_opportunities(ctx, unknown, "unknown.csv")
    assert [(r.row, r.code) for r in missing.rejected] == [(2, "NOT_FOUND"), (3, "NOT_FOUND")]


async def test_numeric_ids_update_and_fixed_fields_are_refused(org, clock):
    ctx = await seeded(org, clock)
    header, rows = await export_rows(ctx, None)
    first = rows[0]
    async with org.db.read() as s:
        pk = (await s.execute(select(m.Opportunity.id).where(m.Opportunity.org_id == org.id).order_by(m.Opportunity.id))).scalars().first()
    data = csv_bytes([["编号", "商机名称", "客户", "阶段"], [str(pk), first[0] + " v2", first[1], ""],
                      [str(pk), first[0], first[1], "赢单"]])
    report = await import_opportunities(ctx, data, "ids.csv", partial=True)
    assert report.updated == 1 and [(r.row, r.code) for r in report.rejected] == [(3, "VALIDATION")]
    assert "stageKey" in report.rejected[0].reasons[0]


async def test_rows_without_an_id_matching_a_deal_already_exist(gql, org, clock):
    await gql.ok('mutation { createOpportunity(input: {title: "Cloud Migration", accountName: "上海星辰科技"}) { opportunity { id } } }')
    ctx = org.ctx("sales_admin", clock)
    data = csv_bytes([
        ["客户", "商机名称"],
        ["上海  星辰科技有限公司", "cloud  migration"],
        ["上海星辰科技股份有限公司", "ＣＬＯＵＤ Migration"],  # full-width letters
        ["上海星辰科技", "Another deal"],
    ])
    report = await import_opportunities(ctx, data, "dupes.csv")
    assert [row for row, _ in report.existing] == [2, 3] and report.created == 1
    assert await count(org, m.Opportunity) == 2
    allowed = await import_opportunities(ctx, data, "dupes.csv", allow_duplicates=True)
    assert allowed.existing == [] and allowed.created == 3
    assert await count(org, m.Opportunity) == 5


IMPORT = """mutation($input: ImportOpportunitiesInput!) { importOpportunities(input: $input) {
    created updated unchanged conflicts ownerGiven existingRows
    rejected { row code sheet reasons } userErrors { code field } } }"""


async def upload(client, org, data: bytes, name: str, **flags) -> dict:
    operations = {"query": IMPORT, "variables": {"input": {"file": None, **flags}}}
    response = await client.post(
        "/graphql", data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": (name, data, "application/octet-stream")},
        headers={"authorization": f"Bearer {org.tokens['sales_admin']}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["importOpportunities"]


async def test_graphql_owner_and_allow_duplicates(client, org):
    rows = csv_bytes([["Title", "Account", "Owner email"], ["Ownerless", "Acme", ""],
                      ["Owned", "Acme", org.users["legal_member"].email]])
    refused = await upload(client, org, rows, "rows.csv")
    assert refused["created"] == 0 and refused["userErrors"] == [{"code": "VALIDATION", "field": ["file"]}]
    assert refused["rejected"] == [{"row": 2, "code": "VALIDATION", "sheet": None,
                                    "reasons": ["row 2 has no owner; name one in its owner column or choose who owns rows without one"]}]
    member = org.users["sales_member"]
    bad_owner = await upload(client, org, rows, "rows.csv", owner=to_global("User", 999999))
    assert bad_owner["userErrors"] == [{"code": "NOT_FOUND", "field": ["owner"]}]
    given = await upload(client, org, rows, "rows.csv", owner=to_global("User", member.id))
    assert (given["created"], given["ownerGiven"], given["rejected"]) == (2, 1, [])
    async with org.db.read() as s:
        owners = dict((await s.execute(select(m.Opportunity.title, m.Opportunity.owner_id).where(m.Opportunity.org_id == org.id))).all())
    assert owners == {"Ownerless": member.id, "Owned": org.users["legal_member"].id}
    again = await upload(client, org, rows, "rows.csv")
    assert again["created"] == 0 and again["existingRows"] == [2, 3] and again["rejected"] == []
    copies = await upload(client, org, rows, "rows.csv", allowDuplicates=True, owner=to_global("User", member.id))
    assert copies["created"] == 2


def workbook(sheets: dict[str, list[list]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


CONTACTS = [["姓名", "职位", "电话", "邮箱", "微信", "客户", "角色", "商机"],
            ["王芳", "采购经理", "+86 138-0013-8000", None, "wangfang", "华东制造", "决策人", "智能工厂一期"],
            ["Li Lei", "CTO", None, "li@huadong.example", None, "华东制造", "INFLUENCER", None]]
FOLLOW_UPS = [["商机", "客户", "方式", "时间", "联系人", "内容", "结果", "下一步", "下次跟进时间"],
              ["智能工厂一期", "华东制造有限公司", "拜访", "2025-03-01 10:00", "王芳", "现场演示", "认可方案", "报价", "2025-03-08 10:00"]]


async def test_contacts_and_follow_ups_sheets_import_once(org, clock):
    ctx = org.ctx("sales_admin", clock)
    deals = [["客户", "商机名称", "负责人"], ["华东制造有限公司", "智能工厂一期", org.users["sales_member"].email]]
    data = workbook({"商机": deals, "联系人": CONTACTS, "跟进记录": FOLLOW_UPS})
    report = await import_opportunities(ctx, data, "book.xlsx")
    assert report.rejected == [] and report.written
    assert (report.created, report.contacts_created, report.contacts_linked, report.follow_ups_created) == (1, 2, 1, 1)
    async with org.db.read() as s:
        follow_up = (await s.execute(select(m.FollowUp).where(m.FollowUp.org_id == org.id))).scalar_one()
        link = (await s.execute(select(m.OpportunityContact))).scalars().all()
        wang = (await s.execute(select(m.Contact).where(m.Contact.org_id == org.id, m.Contact.name == "王芳"))).scalar_one()
    assert (follow_up.kind, follow_up.contact_id, follow_up.summary, follow_up.next_step) == ("VISIT", wang.id, "现场演示", "报价")
    assert [(row.contact_id, row.role) for row in link if row.opportunity_id == follow_up.opportunity_id] == [(wang.id, "DECISION_MAKER")]
    seq = await head(org)
    again = await import_opportunities(ctx, data, "book.xlsx")
    assert again.rejected == [] and (again.created, again.contacts_created, again.contacts_existing) == (0, 0, 2)
    assert (again.contacts_linked, again.follow_ups_created, again.follow_ups_existing) == (0, 0, 1)
    assert await count(org, m.Contact) == 2 and await events_after(org, seq) == []

    # The export writes both sheets; importing it back changes nothing.
    back = await import_opportunities(ctx, await exported(ctx), "export.xlsx")
    assert back.rejected == [], back.rejected
    assert (back.unchanged, back.contacts_created, back.contacts_existing, back.follow_ups_existing) == (1, 0, 2, 1)
    assert await events_after(org, seq) == []


async def test_a_bad_record_row_writes_nothing_unless_partial(org, clock):
    ctx = org.ctx("sales_admin", clock)
    deals = [["客户", "商机名称", "负责人"], ["华东制造", "智能工厂一期", org.users["sales_member"].email]]
    follow_ups = FOLLOW_UPS + [["不存在的商机", "华东制造", "飞鸽", "2025-03-02", None, "", None, None, None]]
    data = workbook({"Opportunities": deals, "Contacts": CONTACTS, "Follow-ups": follow_ups})
    seq = await head(org)
    report = await import_opportunities(ctx, data, "bad.xlsx")
    assert not report.written and [(r.sheet, r.row, r.code) for r in report.rejected] == [("follow_ups", 3, "VALIDATION")]
    assert "kind '飞鸽'" in report.rejected[0].reasons[0]
    assert (report.created, report.contacts_created, report.follow_ups_created) == (0, 0, 0)
    assert await count(org, m.Opportunity) == 0 and await count(org, m.Contact) == 0 and await events_after(org, seq) == []
    partial = await import_opportunities(ctx, data, "bad.xlsx", partial=True)
    assert partial.written and (partial.created, partial.contacts_created, partial.follow_ups_created) == (1, 2, 1)
    # As CSV: one sheet per file, its kind named by the caller (`baton import contacts`).
    more = csv_bytes([["Name", "Phone", "Customer"], ["Zhao", "13900000000", "华东制造"], ["Wang again", "13800138000", "华东制造"]])
    contacts = await import_opportunities(ctx, more, "contacts.csv", sheet="contacts")
    assert (contacts.contacts_created, contacts.contacts_existing, contacts.rejected) == (1, 1, [])


def test_cli_owner_counts_and_round_trip(tmp_path):
    assert baton(tmp_path, "demo").returncode == 0
    rows = tmp_path / "rows.csv"
    rows.write_bytes(csv_bytes([["Title", "Account"], ["Harbor pilot", "Harbor Co"], ["Harbor phase 2", "Harbor Co"]]))
    refused = baton(tmp_path, "import", "opportunities", str(rows))
    assert refused.returncode == 1 and "Nothing imported" in refused.stdout
    assert "rejected row 2: row 2 has no owner" in refused.stderr and "rejected row 3: row 3 has no owner" in refused.stderr
    given = baton(tmp_path, "import", "opportunities", str(rows), "--owner", "sales@demo.baton")
    assert given.returncode == 0, given.stderr
    assert "2 created, 0 updated, 0 unchanged, 0 already exist, 0 conflicts, 0 errors." in given.stdout
    assert "2 deals without an owner were given to Sam Sales <sales@demo.baton>." in given.stdout
    twice = baton(tmp_path, "import", "opportunities", str(rows), "--owner", "sales@demo.baton")
    assert "0 created, 0 updated, 0 unchanged, 2 already exist, 0 conflicts, 0 errors." in twice.stdout
    assert "already exists: row 2" in twice.stderr
    book = tmp_path / "all.xlsx"
    assert baton(tmp_path, "export", "opportunities", "--format", "xlsx", "--output", str(book)).returncode == 0
    assert load_workbook(book).sheetnames == ["Opportunities", "Contacts", "Follow-ups"]
    back = baton(tmp_path, "import", "opportunities", str(book))
    assert back.returncode == 0, back.stderr
    total = len(list(load_workbook(book)["Opportunities"].iter_rows())) - 1
    assert f"0 created, 0 updated, {total} unchanged, 0 already exist, 0 conflicts, 0 errors." in back.stdout
