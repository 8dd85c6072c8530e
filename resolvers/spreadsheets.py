"""Import opportunities from CSV/XLSX spreadsheets and export them back, so a file
round-trips.

Import = parse (headers in English or Chinese mapped to fields) + validate every row
with the same checks as the API (resolvers/validate.py) + plan + write. A row with an
`ID`/`编号` (the export's global id, or the numeric one) updates that deal: only the
fields whose values differ, through the edit form's rules (opportunities.EDITABLE, who
may edit, approval locks); a row that would change a deal whose `Version`/`版本` is no
longer the file's is a CONFLICT and is not applied (one equal to the deal as it is now
is unchanged, so importing a file twice is no conflict). A row without an id that matches a deal the importer
sees on (customer name key, title without case and spaces) already exists and is
skipped, unless duplicates are allowed. A new row without an owner goes to the owner the
importer names, else it is refused. Without `partial` an import is all-or-nothing: one
rejected row (conflicts included) and nothing is written. Written rows land in ONE
transaction, each with its OPPORTUNITY_CREATED or OPPORTUNITY_UPDATED event.

A workbook's `Contacts`/`联系人` and `Follow-ups`/`跟进记录` sheets import in the same
transaction after the deals (resolvers/spreadsheet_records.py).

Stage gates are NOT applied to imports: they load historic data (a card already in
"Won" with its contract approved outside Baton, say). Only the fields' own rules are.
An update does not move a card: a changed stage (or customer, lost reason) is refused.
Accounts are deduplicated by normalized name, the rule of resolvers.accounts.account_for
(applied in bulk here); rows on a customer with another owner's open deal raise its
ownership conflict (撞单) in the same transaction, as createOpportunity does.
"""
import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import insert, select, update

from db import models as m
from resolvers import money, spreadsheet_records, validate
from resolvers.access import ensure_can_edit
from resolvers.accounts import account_key, raise_ownership_conflicts
from resolvers.assignment import assign_new_deal
from resolvers.approvals import ensure_unlocked, reopen_superseded, supersede_changed
from resolvers.board import filter_conditions
from resolvers.context import Ctx, Viewer
from resolvers.errors import CONFLICT, NOT_FOUND, VALIDATION, UserErrors, fail
from resolvers.i18n import Msg, msg
from resolvers.ids import parse_global, to_global
from resolvers.opportunities import EDITABLE, PRIORITIES
from resolvers.rows import jsonable, org_user
from resolvers.sheet_reading import (  # noqa: F401 - SpreadsheetError, Rejection: this module's API too
    Rejection, SpreadsheetError, aliases, cell_text, map_columns, non_blank, read_sheets, sheet_kind, title_key,
)
from resolvers.uow import UnitOfWork
from resolvers.visibility import conditions, ensure_access, hidden, opportunity_clause

# field -> accepted headers (compared case-insensitively, spaces/underscores ignored)
HEADERS = {
    "account_name": ["客户", "客户名称", "公司", "公司名称", "account", "account name", "customer", "company"],
    "title": ["商机名称", "商机", "标题", "名称", "title", "opportunity", "opportunity name", "deal", "deal name", "name"],
    "amount": ["金额", "预计金额", "合同金额", "amount", "value", "deal value"],
    "stage": ["阶段", "销售阶段", "stage", "stage key", "stage name"],
    "owner_email": ["负责人", "负责人邮箱", "负责人email", "owner", "owner email", "owner e-mail", "email"],
    "expected_close_date": ["预计成交日期", "成交日期", "预计成交", "expected close date", "close date", "expected close"],
    "tags": ["标签", "tags", "tag"],
    "currency": ["币种", "货币", "currency"],
    "priority": ["优先级", "priority"],
    "probability": ["概率", "赢率", "成交概率", "probability", "win probability"],
    "next_step": ["下一步", "下一步计划", "next step", "next steps"],
    "lost_reason": ["输单原因", "丢单原因", "lost reason"],
    "id": ["编号", "id", "商机编号", "opportunity id", "deal id"],
    "version": ["版本", "version"],
    "source": ["来源", "线索来源", "客户来源", "商机来源", "source", "lead source"],
}
API_NAMES = {
    "account_name": "accountName", "title": "title", "amount": "amount", "stage": "stageKey",
    "owner_email": "ownerEmail", "expected_close_date": "expectedCloseDate", "tags": "tags",
    "currency": "currency", "priority": "priority", "probability": "probability", "next_step": "nextStep",
    "lost_reason": "lostReason", "source": "source",
}
CHINESE_STAGES = {
    "线索获取": "lead", "线索": "lead", "需求分析": "qualified", "方案报价": "proposal", "商务谈判": "negotiation",
    "合同签署": "contract", "赢单": "won", "输单": "lost",
}
PRIORITY_WORDS = {"低": "LOW", "中": "MEDIUM", "高": "HIGH", "紧急": "URGENT", "普通": "MEDIUM"}
# Values written under Chinese headers (the import reads them back).
CHINESE_STAGE_NAMES = {key: word for word, key in reversed(CHINESE_STAGES.items())}
CHINESE_PRIORITIES = {"LOW": "低", "MEDIUM": "中", "HIGH": "高", "URGENT": "紧急"}
# The export's headers (English; `chinese=True` for the Chinese ones). The import reads both.
EXPORT_COLUMNS = [
    ("title", "Title", "商机名称"), ("account_name", "Account", "客户"), ("amount", "Amount", "金额"),
    ("currency", "Currency", "币种"), ("stage", "Stage", "阶段"), ("owner_email", "Owner email", "负责人"),
    ("expected_close_date", "Expected close date", "预计成交日期"), ("probability", "Probability", "概率"),
    ("priority", "Priority", "优先级"), ("tags", "Tags", "标签"), ("source", "Source", "来源"), ("next_step", "Next step", "下一步"),
    ("lost_reason", "Lost reason", "输单原因"), ("department", "Department", "部门"), ("id", "ID", "编号"),
    ("version", "Version", "版本"),
]


EXPORT_WITHHOLDABLE = {
    "amount": "amount", "probability": "probability", "expected_close_date": "expectedCloseDate",
    "next_step": "nextStep", "lost_reason": "lostReason", "account_name": "account",
}
# Row field -> opportunities.EDITABLE key an update writes through (same name).
UPDATABLE = ("title", "amount", "currency", "probability", "expected_close_date", "priority", "tags", "next_step", "source")

_ALIASES = aliases(HEADERS)
_cell_text = cell_text  # the cleaners below predate sheet_reading


class _Importer:
    """Rows without an owner go to the importing user (in-process callers: tests, benchmarks).
    The command line and the API pass the owner they were given, or None (refused)."""


IMPORTER = _Importer()


@dataclass
class ImportReport:
    rows: int = 0
    valid: int = 0
    created: int = 0
    accounts_created: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    unknown_columns: list[str] = field(default_factory=list)
    updated: int = 0
    unchanged: int = 0
    existing: list[tuple[int, int]] = field(default_factory=list)  # (row, deal id) matched without an ID: skipped
    owner_given: int = 0  # new rows without an owner given to `default_owner`
    default_owner: m.User | None = None
    contacts_created: int = 0
    contacts_existing: int = 0  # same phone or email key as a contact already there
    contacts_linked: int = 0
    follow_ups_created: int = 0
    follow_ups_existing: int = 0  # same deal, time and summary as one already logged

    @property
    def ok(self) -> bool:
        return not self.rejected

    @property
    def conflicts(self) -> int:
        return sum(1 for r in self.rejected if r.code == CONFLICT)

    @property
    def errors(self) -> int:
        return len(self.rejected) - self.conflicts

    def reject(self, row: int, text: Msg, code: str = VALIDATION, sheet: str = "") -> None:
        self.rejected.append(Rejection(row, [str(text)], [text], code, sheet))


# ---------------------------------------------------------------- reading


def map_header(header: list) -> tuple[dict[str, int], list[str]]:
    """(field -> column index, unknown column names)."""
    columns, unknown = map_columns(header, _ALIASES)
    missing = [f for f in ("title", "account_name") if f not in columns]
    if missing:
        wanted = " and ".join(f"{HEADERS[f][0]}/{HEADERS[f][4].title()}" for f in missing)
        raise SpreadsheetError(f"Missing column(s): {wanted}")
    return columns, unknown


# ---------------------------------------------------------------- cleaning one row


_DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


def _date(value):
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return validate.close_date(value.date())
    if isinstance(value, date):
        return validate.close_date(value)
    text = str(value).strip()
    match = _DATE_RE.match(text.split("T")[0].split(" ")[0])
    if not match:
        _fail("expectedCloseDate", "expectedCloseDate {text!r} is not a date (use YYYY-MM-DD)", text=text)
    try:
        return validate.close_date(date(*map(int, match.groups())))
    except ValueError:
        _fail("expectedCloseDate", "expectedCloseDate {text!r} is not a valid date", text=text)


def _probability(value):
    if value is None or value == "":
        return None
    text = str(value).strip().rstrip("%").strip()
    try:
        number = Decimal(text)
    except ArithmeticError:
        _fail("probability", "probability {value!r} is not a number", value=value)
    if isinstance(value, float) and 0 < number < 1 and "%" not in str(value):
        number *= 100  # a spreadsheet percentage cell (0.6 shown as 60%)
    if number != number.to_integral_value():
        _fail("probability", "probability must be a whole number between 0 and 100")
    return validate.probability(int(number))


def _tags(value):
    text = _cell_text(value)
    if not text:
        return []
    return validate.tags([t for t in re.split(r"[,，;；|、]", text) if t.strip()])


def _priority(value):
    text = _cell_text(value)
    if not text:
        return "MEDIUM"
    key = PRIORITY_WORDS.get(text, text.upper())
    if key not in PRIORITIES:
        _fail("priority", "priority {text!r} is not one of LOW, MEDIUM, HIGH, URGENT (低/中/高/紧急)", text=text)
    return key


def _fail(field: str, message: str, **params):
    fail(VALIDATION, message, field, **params)


@dataclass
class Lookups:
    stages: dict[str, m.Stage]  # any accepted spelling (casefolded) -> stage
    first_stage: m.Stage
    users: dict[str, m.User]  # lowercased email -> user
    departments: dict[int, str]  # id -> key
    base_currency: str = "USD"  # a row that names no currency and has no symbol is in it


def stage_lookup(stages: list[m.Stage]) -> dict[str, m.Stage]:
    by_key = {st.key: st for st in stages}
    table = {}
    for st in stages:
        table[st.key.casefold()] = st
        table[st.name.casefold()] = st
    for word, key in CHINESE_STAGES.items():
        if key in by_key:
            table[word] = by_key[key]
    return table


def clean_row(cells: list, columns: dict[str, int], lookups: Lookups) -> tuple[dict | None, list[Msg]]:
    """(clean values, []) or (None, reasons). Every problem of the row is reported. A blank
    owner is None: an update keeps the deal's, a new deal gets the import's default owner."""

    def cell(name):
        index = columns.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    out, checks = {}, validate.Checks()

    def check(name, fn):
        out[name] = checks(fn, cell(name))

    check("title", lambda v: validate.text(_cell_text(v), "title", max_len=200, required=True))
    check("account_name", lambda v: validate.text(_cell_text(v), "accountName", max_len=200, required=True))
    # The amount's symbol (¥, $, €, RMB, ...) and the currency column must agree.
    written = checks(money.read_amount, cell("amount"))
    out["amount"] = written.amount if written else None
    column = checks(money.column_currency, _cell_text(cell("currency")))
    amount_ok = written is not None or _cell_text(cell("amount")) is None
    currency_ok = column is not None or _cell_text(cell("currency")) is None
    out["currency"] = checks(money.row_currency, written, column, lookups.base_currency) if amount_ok and currency_ok else None
    check("probability", _probability)
    check("expected_close_date", _date)
    check("priority", _priority)
    check("tags", _tags)
    check("next_step", lambda v: validate.text(_cell_text(v), "nextStep", max_len=500))
    check("lost_reason", lambda v: validate.text(_cell_text(v), "lostReason", max_len=500))
    check("source", lambda v: validate.text(_cell_text(v), "source", max_len=validate.MAX_SOURCE))
    reasons = [Msg(e.template, e.params) for e in checks.errors]
    out["id"] = _cell_text(cell("id"))
    version = _cell_text(cell("version"))
    out["version"] = int(version) if version and version.isdigit() else None
    if version is not None and out["version"] is None:
        reasons.append(msg("version {value!r} is not a whole number", value=version))
    stage_text = _cell_text(cell("stage"))
    out["stage_given"] = stage_text is not None
    if stage_text is None:
        out["stage"] = lookups.first_stage
    else:
        stage = lookups.stages.get(stage_text.casefold()) or lookups.stages.get(stage_text)
        if stage is None:
            reasons.append(msg("unknown stage {stage!r}", stage=stage_text))
        out["stage"] = stage
    owner_text = _cell_text(cell("owner_email"))
    if owner_text is None:
        out["owner"] = None
    else:
        owner = lookups.users.get(owner_text.lower())
        if owner is None:
            reasons.append(msg("no user with email {email!r} in this organization", email=owner_text))
        out["owner"] = owner
    return (None, reasons) if reasons else (out, [])


# ---------------------------------------------------------------- importing


async def _lookups(session, org_id: int) -> Lookups:
    pipeline = (
        await session.execute(
            select(m.Pipeline).where(m.Pipeline.org_id == org_id).order_by(m.Pipeline.position, m.Pipeline.id).limit(1)
        )
    ).scalar_one()
    stages = list((await session.execute(select(m.Stage).where(
        m.Stage.pipeline_id == pipeline.id, m.Stage.archived_at.is_(None)).order_by(m.Stage.position))).scalars())  # not archived ones
    users = {u.email.lower(): u for u in (await session.execute(select(m.User).where(m.User.org_id == org_id))).scalars()}
    departments = dict((await session.execute(select(m.Department.id, m.Department.key).where(m.Department.org_id == org_id))).all())
    return Lookups(stage_lookup(stages), stages[0], users, departments, await money.base_currency(session, org_id))


Progress = Callable[[int, int], None]


async def import_owner(ctx: Ctx, gid: str) -> m.User:
    """The API's `owner` input: an active user of the organization (UserErrors otherwise)."""
    async with ctx.db.read() as session:
        return await org_user(session, ctx.require_viewer().org_id, gid, "owner")


class _RollBack(Exception):
    """A dry run, or rejected rows without `partial`: the transaction writes nothing."""


async def import_opportunities(
    ctx: Ctx, data: bytes, filename: str, *, dry_run: bool = False, partial: bool = False,
    progress: Progress | None = None, default_owner: "m.User | None | _Importer" = IMPORTER,
    allow_duplicates: bool = False, sheet: str = "opportunities", assign: bool = False,
) -> ImportReport:
    """Parse, validate, plan and (unless dry-run, or rows were rejected without `partial`)
    write. `sheet` says what a CSV file holds (opportunities, contacts, follow_ups); a
    workbook's sheets say it by their names. Raises SpreadsheetError when the file itself
    cannot be read."""
    viewer: Viewer = ctx.require_viewer()
    deals, records = _pick_sheets(read_sheets(data, filename), sheet)
    owner = viewer.user if isinstance(default_owner, _Importer) else default_owner
    if assign and owner is None:
        owner = viewer.user  # until the assignment rules choose (below)
    report = ImportReport(dry_run=dry_run, default_owner=owner)
    async with ctx.db.read() as session:
        lookups = await _lookups(session, viewer.org_id)
    good: list[tuple[int, dict]] = []
    columns: dict[str, int] = {}
    withheld = hidden(await ensure_access(ctx))
    if deals is not None:
        header, rows = deals
        columns, report.unknown_columns = map_header(header)
        rows = non_blank(rows)
        total = len(rows)
        for done, (number, cells) in enumerate(rows, start=1):
            clean, reasons = clean_row(cells, columns, lookups)
            if clean is not None:
                # A write into a field the importer's access rule withholds is refused, as in the API.
                refused = [api for name, api in EXPORT_WITHHOLDABLE.items()
                           if api in withheld and api != "account" and clean.get(name) is not None]
                if refused:
                    clean, reasons = None, [msg("your access rule withholds {fields}", fields=", ".join(refused))]
            if clean is None:
                report.rejected.append(Rejection(number, [str(reason) for reason in reasons], reasons))
            else:
                good.append((number, clean))
            if progress and (done % 500 == 0 or done == total):
                progress(done, total * 2 if not dry_run else total)
        report.rows = total
    parsed = [(kind, spreadsheet_records.parse(kind, header, rows, report)) for kind, (header, rows) in records]
    plan_args = (ctx, viewer, lookups, columns, good, report, withheld, owner, allow_duplicates)
    if not parsed and (dry_run or not good or (report.rejected and not partial)):
        # Nothing will be written: plan without locks, for the report.
        async with ctx.db.read() as session:
            await _plan(session, *plan_args, lock=False)
        report.valid = report.rows - sum(1 for r in report.rejected if not r.sheet)
        return report
    try:
        async with ctx.db.write() as session:
            uow = UnitOfWork(ctx, session, viewer.org_id, viewer.id)
            creates, updates = await _plan(session, *plan_args, lock=True)
            report.valid = report.rows - sum(1 for r in report.rejected if not r.sheet)
            if report.rejected and not partial and not parsed:
                raise _RollBack
            created, last_created = await _create(ctx, session, viewer, lookups, creates, report) if creates else ([], 0)
            await _update(uow, viewer, lookups, updates, report)
            if assign:  # new rows without an owner: the first matching assignment rule chooses (or the pool)
                for opp_id, _ in [c for c, (_, row) in zip(created, creates, strict=True) if row.get("unowned")]:
                    await assign_new_deal(uow, await session.get(m.Opportunity, opp_id))
            for kind, rows in parsed:
                await spreadsheet_records.write(ctx, uow, kind, rows, report)
            if dry_run or (report.rejected and not partial):
                raise _RollBack
            # 撞单: its events and alerts take the seqs after the rows' (the counter's lock is held).
            await raise_ownership_conflicts(uow, [opp_id for opp_id, _ in created])
            await uow.write_log()
    except _RollBack:
        report.created = report.updated = report.accounts_created = 0
        report.contacts_created = report.contacts_linked = report.follow_ups_created = 0
        return report
    report.written = True
    if progress and deals is not None:
        progress(report.rows * 2, report.rows * 2)
    seqs = [e.seq for e in uow.events] + ([last_created] if created else [])
    if seqs:
        # A hint only: subscribers read the log for every seq up to the announced head.
        try:
            await ctx.publish(viewer.org_id, {"seq": [max(seqs)], "users": sorted(uow.notified)})
        except Exception:  # noqa: BLE001 - the log holds the events; subscribers catch up
            pass
    return report


def _pick_sheets(sheets: dict, kind: str):
    """(the deals' (header, rows) or None, [(kind, (header, rows)) of contacts and follow-ups])."""
    if kind not in ("opportunities", *spreadsheet_records.KINDS):
        raise SpreadsheetError(f"Unknown sheet kind {kind!r}")
    if "" in sheets:  # a CSV file holds what `kind` says
        return (sheets[""], []) if kind == "opportunities" else (None, [(kind, sheets[""])])
    if kind != "opportunities":  # that kind only: its sheet by name, else the first one
        named = [content for name, content in sheets.items() if sheet_kind(name) == kind]
        return None, [(kind, named[0] if named else next(iter(sheets.values())))]
    deals, records = None, []
    for name, content in sheets.items():
        found = sheet_kind(name)
        if found == "opportunities":
            deals = content if deals is None else deals  # the first such sheet; others are not read
        else:
            records.append((found, content))
    records.sort(key=lambda item: spreadsheet_records.KINDS.index(item[0]))  # contacts before their follow-ups
    return deals, records


def _deal_pk(text: str) -> int | None:
    """The deal's id as the export writes it (global) or its number."""
    if text.isdigit():
        return int(text)
    parsed = parse_global(text)
    return parsed[1] if parsed and parsed[0] == "Opportunity" else None


async def _plan(session, ctx: Ctx, viewer: Viewer, lookups: Lookups, columns: dict, good: list, report: ImportReport,
                withheld, owner: m.User | None, allow_duplicates: bool, *, lock: bool):
    """Sort the clean rows into creates [(row, values)] and updates [(row, card, changes,
    new owner)]; unchanged, existing, conflicting and refused rows go to the report."""
    visible = conditions(opportunity_clause(await ensure_access(ctx, session)))
    wanted = {pk for _, row in good if row["id"] for pk in [_deal_pk(row["id"])] if pk is not None}
    cards: dict[int, tuple[m.Opportunity, str]] = {}
    if wanted:
        stmt = (select(m.Opportunity, m.Account.normalized_name).join(m.Account, m.Account.id == m.Opportunity.account_id)
                .where(m.Opportunity.org_id == viewer.org_id, m.Opportunity.id.in_(wanted), *visible))
        if lock:
            stmt = stmt.with_for_update(of=m.Opportunity)
        cards = {opp.id: (opp, key) for opp, key in (await session.execute(stmt)).all()}
    known: dict[tuple[str, str], int] | None = None
    users_by_id = {u.id: u for u in lookups.users.values()}
    creates, updates = [], []
    for number, row in good:
        if row["id"]:
            pk = _deal_pk(row["id"])
            card = cards.get(pk) if pk is not None else None
            if card is None:
                report.reject(number, msg("no deal with id {id!r} that you can see", id=row["id"]), NOT_FOUND)
                continue
            opp, account = card
            stale = row["version"] is not None and row["version"] != opp.version
            try:
                changes, values, new_owner = await _changes(session, viewer, opp, account, row, columns, withheld, users_by_id)
            except UserErrors as exc:
                if not stale:
                    report.rejected.append(Rejection(number, [e.message for e in exc.errors],
                                                     [Msg(e.template, e.params) for e in exc.errors], exc.errors[0].code))
                    continue
                changes = {"": None}
            if stale and changes:
                # The row would overwrite what someone changed since the export. (A row equal to
                # the deal as it is now is unchanged: importing a file twice is no conflict.)
                report.reject(number, msg("the deal changed since the export (version {exported}, now {version}); "
                                          "export it again", exported=row["version"], version=opp.version), CONFLICT)
                continue
            if changes:
                updates.append((number, opp, changes, values, new_owner))
            else:
                report.unchanged += 1
            continue
        if known is None:
            known = {}
            stmt = (select(m.Account.normalized_name, m.Opportunity.title, m.Opportunity.id)
                    .join(m.Account, m.Account.id == m.Opportunity.account_id)
                    .where(m.Opportunity.org_id == viewer.org_id, *visible).order_by(m.Opportunity.id))
            for key, title, pk in (await session.execute(stmt)).all():
                known.setdefault((key, title_key(title)), pk)
        match = known.get((account_key(row["account_name"]), title_key(row["title"])))
        if match is not None and not allow_duplicates:
            report.existing.append((number, match))
            continue
        if row["owner"] is None:
            if owner is None:
                report.reject(number, msg("row {row} has no owner; name one in its owner column or choose who owns "
                                          "rows without one", row=number))
                continue
            row["owner"] = owner
            row["unowned"] = True
            report.owner_given += 1
        creates.append((number, row))
    return creates, updates


async def _changes(session, viewer: Viewer, opp: m.Opportunity, account: str, row: dict, columns: dict, withheld,
                   users_by_id: dict) -> tuple[dict, dict, m.User | None]:
    """An update's `field -> [old, new]` (as updateOpportunity records them), the new
    values by attribute and its new owner; UserErrors when the row would change what an import does not, or the viewer
    may not edit the card."""
    present = set(columns)
    fixed = []
    if account_key(row["account_name"]) != account and "account" not in withheld:
        fixed.append("accountName")
    if row["stage_given"] and row["stage"] is not None and row["stage"].id != opp.stage_id:
        fixed.append("stageKey")
    if "lost_reason" in columns and "lostReason" not in withheld and row["lost_reason"] != opp.lost_reason:
        fixed.append("lostReason")
    if fixed:
        fail(VALIDATION, "an import does not change {fields} of an existing deal; move or edit the card instead",
             fixed, fields=", ".join(fixed))
    changes, values = {}, {}
    with validate.Checks() as check:
        for name in UPDATABLE:
            attr, api_name, cleaner = EDITABLE[name]
            if name not in present or api_name in withheld:
                continue
            new = check(cleaner, row[name])
            old = getattr(opp, attr)
            if new != old:
                changes[api_name] = [jsonable(old), jsonable(new)]
                values[attr] = new
    new_owner = row["owner"] if row["owner"] is not None and row["owner"].id != opp.owner_id else None
    if new_owner is not None:
        if new_owner.deactivated_at is not None:
            fail(VALIDATION, "{name} is deactivated; reactivate them first", "ownerEmail", name=new_owner.name)
        changes["owner"] = [opp.owner_id, new_owner.id]
    if changes:
        ensure_can_edit(viewer, opp, users_by_id[opp.owner_id])
        await ensure_unlocked(session, opp, [name for name in changes if name != "owner"])
    return changes, values, new_owner


async def _update(uow: UnitOfWork, viewer: Viewer, lookups: Lookups, updates: list, report: ImportReport) -> None:
    """Each changed card as updateOpportunity writes it: its fields, version, one event."""
    users_by_id = {u.id: u for u in lookups.users.values()}
    for _, opp, changes, values, new_owner in updates:
        old_owner = users_by_id[opp.owner_id]
        for attr, new in values.items():
            setattr(opp, attr, new)
        if new_owner is not None:
            opp.owner_id = new_owner.id
        opp.version += 1
        opp.updated_at = uow.now
        event = await uow.append_event(
            "OPPORTUNITY_UPDATED", opportunity_id=opp.id, changes=changes,
            department_ids=(opp.department_id, old_owner.department_id),
        )
        if new_owner is not None:
            uow.notify([new_owner.id], "assigned", "{user} made you owner of {opp}", opportunity_id=opp.id, event=event,
                       user=viewer.user.name, opp=opp.title)
        await reopen_superseded(uow, opp, await supersede_changed(uow, opp))
        report.updated += 1


async def _create(ctx: Ctx, session, viewer: Viewer, lookups: Lookups, good: list, report: ImportReport):
    """Bulk inserts of the new cards and their OPPORTUNITY_CREATED events: ([(id, department
    id)], the last seq taken)."""
    now = ctx.clock()
    org_id = viewer.org_id
    # Accounts: the same dedup rule as account_for (normalized name per organization),
    # done in bulk: one read of the existing ones, one batched insert of the new ones.
    accounts: dict[str, int] = dict(
        (await session.execute(select(m.Account.normalized_name, m.Account.id).where(m.Account.org_id == org_id))).all()
    )
    new_accounts: dict[str, m.Account] = {}
    for _, row in good:
        key = account_key(row["account_name"])
        if key not in accounts and key not in new_accounts:
            new_accounts[key] = m.Account(org_id=org_id, name=row["account_name"], normalized_name=key, tags=[],
                                          version=1, created_at=now, updated_at=now)
    session.add_all(new_accounts.values())
    await session.flush()
    accounts.update({key: account.id for key, account in new_accounts.items()})
    report.accounts_created = len(new_accounts)
    values = []
    for _, row in good:
        owner, stage = row["owner"], row["stage"]
        values.append(dict(
            org_id=org_id, pipeline_id=stage.pipeline_id, stage_id=stage.id,
            account_id=accounts[account_key(row["account_name"])],
            owner_id=owner.id, department_id=owner.department_id, created_by_id=viewer.id,
            title=row["title"], amount=row["amount"], currency=row["currency"], probability=row["probability"],
            expected_close_date=row["expected_close_date"], priority=row["priority"], tags=row["tags"],
            next_step=row["next_step"], lost_reason=row["lost_reason"] if stage.kind == "LOST" else None, source=row["source"],
            client_mutation_id=None, stage_entered_at=now, last_activity_at=now, created_at=now, updated_at=now,
            version=1,
        ))
    # Core bulk inserts (batched INSERT ... RETURNING), in chunks to bound memory.
    opportunities: list[tuple[int, int]] = []  # (id, department id)
    for chunk in range(0, len(values), 2000):
        part = values[chunk:chunk + 2000]
        ids = (
            await session.execute(
                insert(m.Opportunity).returning(m.Opportunity.id, sort_by_parameter_order=True), part
            )
        ).scalars().all()
        opportunities.extend(zip(ids, (v["department_id"] for v in part), strict=True))
    # All seqs at once from the organization's counter (its row lock is held to commit).
    last = (
        await session.execute(
            update(m.Organization)
            .where(m.Organization.id == org_id)
            .values(event_seq=m.Organization.event_seq + len(opportunities))
            .returning(m.Organization.event_seq)
        )
    ).scalar_one()
    first = last - len(opportunities) + 1
    events = [
        dict(
            org_id=org_id, seq=first + i, type="OPPORTUNITY_CREATED", occurred_at=now, actor_id=viewer.id,
            opportunity_id=opp_id, task_id=None, comment_id=None, handoff_id=None, approval_id=None,
            department_keys=[lookups.departments[department_id]], changes={"source": [None, "import"]},
            snapshot=_snapshot(row, lookups.departments[department_id]),
        )
        for i, ((opp_id, department_id), (_, row)) in enumerate(zip(opportunities, good, strict=True))
    ]
    for chunk in range(0, len(events), 2000):
        await session.execute(insert(m.Event), events[chunk:chunk + 2000])
    report.created = len(opportunities)
    return opportunities, last


def _snapshot(row: dict, department_key: str) -> dict:
    """What the snapshot of visibility.card_context records for a card, for an imported row."""
    amount, close = row["amount"], row["expected_close_date"]
    return {
        "title": row["title"], "stage": row["stage"].key, "department": department_key, "account": row["account_name"],
        "amount": str(amount) if amount is not None else None, "currency": row["currency"],
        "probability": row["probability"], "expectedCloseDate": close.isoformat() if close else None,
        "source": row["source"],
    }


# ---------------------------------------------------------------- exporting


async def export_rows(ctx: Ctx, flt: dict | None, *, chinese: bool = False) -> tuple[list[str], list[list]]:
    """(header, rows) of the opportunities matching an OpportunityFilter dict, oldest first."""
    conds = await filter_conditions(ctx, flt)  # only cards the viewer sees
    # Export columns of fields an access rule may withhold -> their API names.
    withheld = [name for name, api in EXPORT_WITHHOLDABLE.items() if api in hidden(await ensure_access(ctx))]
    stmt = (
        select(m.Opportunity, m.Account.name, m.Stage.name, m.Stage.key, m.User.email, m.Department.key)
        .join(m.Account, m.Account.id == m.Opportunity.account_id)
        .join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
        .join(m.User, m.User.id == m.Opportunity.owner_id)
        .join(m.Department, m.Department.id == m.Opportunity.department_id)
        .where(*conds)
        .order_by(m.Opportunity.id)
    )
    header = [zh if chinese else en for _, en, zh in EXPORT_COLUMNS]
    out = []
    async with ctx.db.read() as session:
        for opp, account, stage, stage_key, email, department in (await session.execute(stmt)).all():
            values = {
                "title": opp.title, "account_name": account, "amount": opp.amount, "currency": opp.currency,
                "stage": CHINESE_STAGE_NAMES.get(stage_key, stage) if chinese else stage, "owner_email": email,
                "expected_close_date": opp.expected_close_date, "probability": opp.probability,
                "priority": CHINESE_PRIORITIES.get(opp.priority, opp.priority) if chinese else opp.priority,
                "tags": ", ".join(opp.tags or []), "source": opp.source,
                "next_step": opp.next_step, "lost_reason": opp.lost_reason, "department": department,
                "id": to_global("Opportunity", opp.id), "version": opp.version,
            }
            values.update(dict.fromkeys(withheld))
            out.append([values[name] for name, _, _ in EXPORT_COLUMNS])
    return header, out


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    # Spreadsheet formula injection: a cell starting with = + - @ is shown as text.
    if text[:1] in ("=", "+", "-", "@") and not re.fullmatch(r"-?\d+(\.\d+)?", text):
        return "'" + text
    return text


def to_csv(header: list[str], rows: list[list]) -> bytes:
    """UTF-8 with a BOM, so Excel shows Chinese text correctly."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([_csv_cell(v) for v in row] for row in rows)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


async def record_sheets(ctx: Ctx, header: list[str], rows: list[list], *, chinese: bool = False) -> list[tuple[str, list, list]]:
    """The contacts and follow-ups sheets of the exported deals, for `to_xlsx(..., sheets=)`."""
    column = header.index("编号" if chinese else "ID")
    ids = [parsed[1] for row in rows if row[column] for parsed in [parse_global(row[column])] if parsed]
    return await spreadsheet_records.export_sheets(ctx, ids, chinese=chinese)


def to_xlsx(header: list[str], rows: list[list], sheets: list[tuple[str, list, list]] = ()) -> bytes:
    """The deals' sheet, then `sheets` [(title, header, rows)] (contacts, follow-ups)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, head, body in [("Opportunities", header, rows), *sheets]:
        sheet = workbook.create_sheet(title)
        sheet.append(head)
        for row in body:
            sheet.append([float(v) if isinstance(v, Decimal) else (_csv_cell(v) if isinstance(v, str) else v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
