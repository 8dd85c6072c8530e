"""Import opportunities from CSV/XLSX spreadsheets and export them back.

Import = parse (headers in English or Chinese mapped to fields) + validate every row
with the same checks as the API (resolvers/validate.py) + write. Without `partial`
an import is all-or-nothing: one rejected row and nothing is written. Written rows
land in ONE transaction, each with its OPPORTUNITY_CREATED event (seqs allocated in
one step from the organization's counter, so they stay gapless and in order).

Stage gates are NOT applied to imports: they load historic data (a card already in
"Won" with its contract approved outside Baton, say). Only the fields' own rules are.
Accounts are deduplicated by normalized name, the rule of resolvers.accounts.account_for
(applied in bulk here); rows on a customer with another owner's open deal raise its
ownership conflict (撞单) in the same transaction, as createOpportunity does.
"""
import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import insert, select, update

from db import models as m
from resolvers import money, validate
from resolvers.board import filter_conditions
from resolvers.context import Ctx, Viewer
from resolvers.errors import VALIDATION, fail
from resolvers.i18n import Msg, msg
from resolvers.ids import to_global
from resolvers.accounts import account_key, raise_ownership_conflicts
from resolvers.opportunities import PRIORITIES
from resolvers.uow import UnitOfWork
from resolvers.visibility import ensure_access, hidden

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
}
API_NAMES = {
    "account_name": "accountName", "title": "title", "amount": "amount", "stage": "stageKey",
    "owner_email": "ownerEmail", "expected_close_date": "expectedCloseDate", "tags": "tags",
    "currency": "currency", "priority": "priority", "probability": "probability", "next_step": "nextStep",
    "lost_reason": "lostReason",
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
    ("priority", "Priority", "优先级"), ("tags", "Tags", "标签"), ("next_step", "Next step", "下一步"),
    ("lost_reason", "Lost reason", "输单原因"), ("department", "Department", "部门"), ("id", "ID", "编号"),
]


EXPORT_WITHHOLDABLE = {
    "amount": "amount", "probability": "probability", "expected_close_date": "expectedCloseDate",
    "next_step": "nextStep", "lost_reason": "lostReason", "account_name": "account",
}


def _norm_header(value) -> str:
    return re.sub(r"[\s_\-:：*]+", "", str(value or "")).casefold()


_ALIASES = {_norm_header(alias): name for name, aliases in HEADERS.items() for alias in aliases}


class SpreadsheetError(ValueError):
    """The file as a whole cannot be read (format, missing columns)."""


@dataclass
class Rejection:
    row: int  # the spreadsheet's row number (the header is row 1)
    reasons: list[str]  # in English (the command line's report)
    texts: list[Msg] = field(default_factory=list)  # the same, to render in a reader's language

    def __str__(self) -> str:
        return f"row {self.row}: {'; '.join(self.reasons)}"


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

    @property
    def ok(self) -> bool:
        return not self.rejected


# ---------------------------------------------------------------- reading


def read_rows(data: bytes, filename: str) -> tuple[list[str], Iterable[tuple[int, list]]]:
    """(header cells, iterator of (row number, cells)) for a CSV or XLSX file."""
    name = (filename or "").lower()
    if name.endswith((".xlsx", ".xlsm")) or data[:2] == b"PK":
        return _read_xlsx(data)
    if name.endswith(".xls"):
        raise SpreadsheetError("Old .xls files are not supported; save as .xlsx or .csv")
    return _read_csv(data)


def _read_csv(data: bytes):
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SpreadsheetError("The CSV file is neither UTF-8 nor GB18030 text")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header = next(reader, None)
    if header is None:
        raise SpreadsheetError("The file is empty")
    return header, ((i, row) for i, row in enumerate(reader, start=2))


def _read_xlsx(data: bytes):
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise SpreadsheetError(f"Not a readable XLSX file ({type(exc).__name__})") from exc
    sheet = workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise SpreadsheetError("The first sheet is empty")
    return [h if h is not None else "" for h in header], ((i, list(row)) for i, row in enumerate(rows, start=2))


def map_header(header: list) -> tuple[dict[str, int], list[str]]:
    """(field -> column index, unknown column names)."""
    columns, unknown = {}, []
    for index, cell in enumerate(header):
        name = _ALIASES.get(_norm_header(cell))
        if name and name not in columns:
            columns[name] = index
        elif str(cell or "").strip():
            unknown.append(str(cell).strip())
    missing = [f for f in ("title", "account_name") if f not in columns]
    if missing:
        wanted = " and ".join(f"{HEADERS[f][0]}/{HEADERS[f][4].title()}" for f in missing)
        raise SpreadsheetError(f"Missing column(s): {wanted}")
    return columns, unknown


# ---------------------------------------------------------------- cleaning one row


def _cell_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


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


def clean_row(cells: list, columns: dict[str, int], lookups: Lookups, default_owner: m.User) -> tuple[dict | None, list[Msg]]:
    """(clean values, []) or (None, reasons). Every problem of the row is reported."""

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
    reasons = [Msg(e.template, e.params) for e in checks.errors]
    stage_text = _cell_text(cell("stage"))
    if stage_text is None:
        out["stage"] = lookups.first_stage
    else:
        stage = lookups.stages.get(stage_text.casefold()) or lookups.stages.get(stage_text)
        if stage is None:
            reasons.append(msg("unknown stage {stage!r}", stage=stage_text))
        out["stage"] = stage
    owner_text = _cell_text(cell("owner_email"))
    if owner_text is None:
        out["owner"] = default_owner
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


async def import_opportunities(
    ctx: Ctx, data: bytes, filename: str, *, dry_run: bool = False, partial: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Parse, validate and (unless dry-run, or rows were rejected without `partial`) write.
    Raises SpreadsheetError when the file itself cannot be read."""
    viewer: Viewer = ctx.require_viewer()
    header, rows = read_rows(data, filename)
    columns, unknown = map_header(header)
    report = ImportReport(dry_run=dry_run, unknown_columns=unknown)
    async with ctx.db.read() as session:
        lookups = await _lookups(session, viewer.org_id)
    good: list[tuple[int, dict]] = []
    rows = [(n, cells) for n, cells in rows if any(_cell_text(c) for c in cells)]
    total = len(rows)
    withheld = hidden(await ensure_access(ctx))
    for done, (number, cells) in enumerate(rows, start=1):
        clean, reasons = clean_row(list(cells), columns, lookups, viewer.user)
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
    report.valid = len(good)
    if dry_run or not good or (report.rejected and not partial):
        return report
    await _write(ctx, viewer, lookups, good, report, progress, total)
    return report


async def _write(ctx: Ctx, viewer: Viewer, lookups: Lookups, good: list, report: ImportReport, progress, total: int) -> None:
    now = ctx.clock()
    org_id = viewer.org_id
    async with ctx.db.write() as session:
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
                next_step=row["next_step"], lost_reason=row["lost_reason"] if stage.kind == "LOST" else None,
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
        # 撞单: its events and alerts take the seqs after the rows' (the counter's lock is held).
        uow = UnitOfWork(ctx, session, org_id, viewer.id)
        await raise_ownership_conflicts(uow, [opp_id for opp_id, _ in opportunities])
        await uow.write_log()
        if uow.events:
            last = uow.events[-1].seq
    report.created = len(opportunities)
    report.written = True
    if progress:
        progress(total * 2, total * 2)
    # A hint only: subscribers read the log for every seq up to the announced head.
    try:
        await ctx.publish(org_id, {"seq": [last], "users": sorted(uow.notified)})
    except Exception:  # noqa: BLE001 - the log holds the events; subscribers catch up
        pass


def _snapshot(row: dict, department_key: str) -> dict:
    """What visibility.card_snapshot records for a card, for an imported row."""
    amount, close = row["amount"], row["expected_close_date"]
    return {
        "title": row["title"], "stage": row["stage"].key, "department": department_key, "account": row["account_name"],
        "amount": str(amount) if amount is not None else None, "currency": row["currency"],
        "probability": row["probability"], "expectedCloseDate": close.isoformat() if close else None,
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
                "tags": ", ".join(opp.tags or []),
                "next_step": opp.next_step, "lost_reason": opp.lost_reason, "department": department,
                "id": to_global("Opportunity", opp.id),
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


def to_xlsx(header: list[str], rows: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Opportunities")
    sheet.append(header)
    for row in rows:
        sheet.append([float(v) if isinstance(v, Decimal) else (_csv_cell(v) if isinstance(v, str) else v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
