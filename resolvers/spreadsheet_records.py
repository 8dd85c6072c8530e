"""Contacts (联系人) and follow-ups (跟进记录) from spreadsheet sheets, written by
resolvers/spreadsheets.py in the deal import's transaction, after its deals.

Each row goes through resolvers/records.py's own rules (add_contact, put_on_card,
add_follow_up), in a savepoint, so a refused row leaves nothing behind under `partial`.
A deal is named by its id (the export's global id or the number) or by its title with
the row's customer. A contact with the phone or email key of one already there (or,
without either, the same name at the same customer) is not created again; a follow-up
with the same deal, time and summary as one already logged is not logged again, so
importing a file twice changes nothing the second time."""
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from db import models as m
from resolvers import records
from resolvers.accounts import account_for, account_key
from resolvers.context import Ctx
from resolvers.errors import NOT_FOUND, VALIDATION, UserErrors, fail
from resolvers.i18n import Msg, msg
from resolvers.ids import parse_global, to_global
from resolvers.rows import locked_opportunity
from resolvers.sheet_reading import Rejection, SpreadsheetError, aliases, cell_text, map_columns, non_blank, title_key
from resolvers.uow import UnitOfWork
from resolvers.visibility import conditions, ensure_access, hidden, opportunity_clause

KINDS = ("contacts", "follow_ups")
_ACCOUNT = ["客户", "客户名称", "公司", "account", "account name", "customer", "company"]
_DEAL = ["商机", "商机编号", "商机名称", "deal", "deal id", "opportunity", "opportunity id"]
HEADERS = {
    "contacts": {
        "name": ["姓名", "联系人", "name", "contact", "contact name"],
        "title": ["职位", "职务", "title", "job title", "position"],
        "phone": ["电话", "手机", "手机号", "phone", "mobile"],
        "email": ["邮箱", "电子邮件", "email", "e-mail"],
        "wechat": ["微信", "微信号", "wechat"],
        "account_name": _ACCOUNT,
        "role": ["角色", "role"],
        "deal": _DEAL,
    },
    "follow_ups": {
        "deal": _DEAL,
        "account_name": _ACCOUNT,
        "kind": ["方式", "类型", "跟进方式", "kind", "type"],
        "at": ["时间", "跟进时间", "日期", "at", "date", "time"],
        "contact": ["联系人", "contact"],
        "summary": ["内容", "摘要", "跟进内容", "summary"],
        "outcome": ["结果", "outcome"],
        "next_step": ["下一步", "next step"],
        "next_follow_up_at": ["下次跟进", "下次跟进时间", "next follow-up at", "next follow up", "next follow-up"],
    },
}
REQUIRED = {"contacts": ("name",), "follow_ups": ("deal", "at", "summary")}
_ALIASES = {kind: aliases(headers) for kind, headers in HEADERS.items()}
KIND_WORDS = {"电话": "CALL", "拜访": "VISIT", "会议": "MEETING", "微信": "WECHAT", "邮件": "EMAIL", "其他": "OTHER"}
ROLE_WORDS = {"决策人": "DECISION_MAKER", "决策者": "DECISION_MAKER", "影响者": "INFLUENCER", "影响人": "INFLUENCER",
              "使用者": "USER", "用户": "USER", "把关人": "GATEKEEPER", "把关者": "GATEKEEPER"}
SAME_TIME = timedelta(seconds=1)
DEFAULT_ROLE = "USER"  # a contact row naming a deal but no role
# The export's headers (English, Chinese) in order, per sheet.
EXPORT_COLUMNS = {
    "contacts": [("name", "Name", "姓名"), ("title", "Title", "职位"), ("phone", "Phone", "电话"), ("email", "Email", "邮箱"),
                 ("wechat", "WeChat", "微信"), ("account_name", "Customer", "客户"), ("role", "Role", "角色"),
                 ("deal", "Deal", "商机")],
    "follow_ups": [("deal", "Deal", "商机"), ("account_name", "Customer", "客户"), ("kind", "Kind", "方式"),
                   ("at", "At", "时间"), ("contact", "Contact", "联系人"), ("summary", "Summary", "内容"),
                   ("outcome", "Outcome", "结果"), ("next_step", "Next step", "下一步"),
                   ("next_follow_up_at", "Next follow-up at", "下次跟进时间")],
}
SHEET_TITLES = {"contacts": ("Contacts", "联系人"), "follow_ups": ("Follow-ups", "跟进记录")}


# ---------------------------------------------------------------- parsing (no database)


def parse(kind: str, header: list, rows, report) -> list[tuple[int, dict, list[Msg]]]:
    """[(row number, cell texts and datetimes, problems found without the database)]."""
    columns, _ = map_columns(header, _ALIASES[kind])
    missing = [f for f in REQUIRED[kind] if f not in columns]
    if kind == "contacts" and "account_name" not in columns and "deal" not in columns:
        missing.append("account_name")
    if missing:
        wanted = " and ".join(f"{HEADERS[kind][f][0]}/{HEADERS[kind][f][-1].title()}" for f in missing)
        raise SpreadsheetError(f"{SHEET_TITLES[kind][0]}: missing column(s): {wanted}")
    parsed = []
    for number, cells in non_blank(rows):
        values = {name: cells[index] if index < len(cells) else None for name, index in columns.items()}
        problems = []
        if kind == "follow_ups":
            word = cell_text(values.get("kind"))
            values["kind"] = KIND_WORDS.get(word, (word or "OTHER").upper())
            if values["kind"] not in records.KINDS:
                problems.append(msg("kind {value!r} is not one of CALL, VISIT, MEETING, WECHAT, EMAIL, OTHER "
                                    "(电话/拜访/会议/微信/邮件/其他)", value=word))
        else:
            word = cell_text(values.get("role"))
            values["role"] = ROLE_WORDS.get(word, word.upper().replace(" ", "_")) if word else None
            if values["role"] is not None and values["role"] not in records.ROLES:
                problems.append(msg("role {value!r} is not one of DECISION_MAKER, INFLUENCER, USER, GATEKEEPER "
                                    "(决策人/影响者/使用者/把关人)", value=word))
        for name, value in values.items():
            if name not in ("at", "next_follow_up_at", "kind", "role"):
                values[name] = cell_text(value)
        parsed.append((number, values, problems))
    return parsed


# ---------------------------------------------------------------- writing


async def write(ctx: Ctx, uow: UnitOfWork, kind: str, rows: list, report) -> None:
    """Each row in its own savepoint; a refused one is reported (and, without `partial`,
    the caller rolls the whole import back)."""
    org = await uow.session.get(m.Organization, uow.org_id)
    zone = _zone(org.time_zone)
    for number, values, problems in rows:
        if problems:
            report.rejected.append(Rejection(number, [str(p) for p in problems], problems, VALIDATION, kind))
            continue
        events = len(uow.events)
        try:
            async with uow.session.begin_nested():
                if kind == "contacts":
                    await _contact_row(ctx, uow, values, report)
                else:
                    await _follow_up_row(ctx, uow, values, report, zone)
        except UserErrors as exc:
            del uow.events[events:]
            report.rejected.append(Rejection(number, [e.message for e in exc.errors],
                                             [Msg(e.template, e.params) for e in exc.errors], exc.errors[0].code, kind))


async def _deal(ctx: Ctx, uow: UnitOfWork, values: dict) -> m.Opportunity | None:
    """The row's deal, locked (None when the row names none): by id, else by title at the row's customer."""
    text = values.get("deal")
    if not text:
        return None
    parsed = None if text.isdigit() else parse_global(text)
    pk = int(text) if text.isdigit() else (parsed[1] if parsed and parsed[0] == "Opportunity" else None)
    if pk is None:
        customer = values.get("account_name")
        if customer:
            visible = conditions(opportunity_clause(await ensure_access(ctx, uow.session)))
            stmt = (select(m.Opportunity.id, m.Opportunity.title).join(m.Account, m.Account.id == m.Opportunity.account_id)
                    .where(m.Opportunity.org_id == uow.org_id, m.Account.normalized_name == account_key(customer), *visible)
                    .order_by(m.Opportunity.id))
            wanted = title_key(text)
            pk = next((i for i, title in (await uow.session.execute(stmt)).all() if title_key(title) == wanted), None)
        if pk is None:
            fail(NOT_FOUND, "no deal {deal!r} at customer {customer!r} that you can see", "deal",
                 deal=text, customer=customer or "")
    return await locked_opportunity(uow, to_global("Opportunity", pk))


async def _contact_row(ctx: Ctx, uow: UnitOfWork, values: dict, report) -> None:
    ctx.require_writer()
    s = uow.session
    opp = await _deal(ctx, uow, values)
    contact = None
    found = await records.same_contact(s, uow.org_id, values.get("phone"), values.get("email"))
    if found is not None:
        contact = found[0]
    elif not values.get("phone") and not values.get("email") and values.get("name"):
        account_id = opp.account_id if opp and not values.get("account_name") else None
        if values.get("account_name"):
            account_id = (await s.execute(select(m.Account.id).where(
                m.Account.org_id == uow.org_id, m.Account.normalized_name == account_key(values["account_name"])))).scalar()
        if account_id is not None:
            contact = (await s.execute(select(m.Contact).where(
                m.Contact.account_id == account_id, m.Contact.name == values["name"]).limit(1))).scalar_one_or_none()
    if contact is not None:
        report.contacts_existing += 1
    else:
        async def customer():
            if values.get("account_name"):
                return await account_for(s, uow.org_id, values["account_name"], uow.now)
            if opp is None:
                fail(VALIDATION, "{field_name} is required", "accountName", field_name="accountName")
            return await s.get(m.Account, opp.account_id)

        contact = await records.add_contact(ctx, uow, values, customer)
        report.contacts_created += 1
    if opp is not None:
        if contact.account_id != opp.account_id:
            fail(VALIDATION, "{name} is not a contact of this deal's customer", "deal", name=contact.name)
        if await records.put_on_card(uow, opp, contact, values.get("role") or DEFAULT_ROLE):
            report.contacts_linked += 1


async def _follow_up_row(ctx: Ctx, uow: UnitOfWork, values: dict, report, zone) -> None:
    ctx.require_writer()
    s = uow.session
    opp = await _deal(ctx, uow, values)
    with_zone = {}
    for name in ("at", "next_follow_up_at"):
        with_zone[name] = _moment(values.get(name), zone, name)
    data = {**values, **with_zone}
    if data["at"] is None:
        fail(VALIDATION, "{field_name} is required", "at", field_name="at")
    if values.get("summary"):
        # Within a second: a workbook keeps times to the second (or less exactly).
        same = (await s.execute(select(m.FollowUp.id).where(
            m.FollowUp.opportunity_id == opp.id, m.FollowUp.at >= data["at"] - SAME_TIME,
            m.FollowUp.at <= data["at"] + SAME_TIME,
            m.FollowUp.summary == values["summary"].strip()).limit(1))).scalar()
        if same is not None:
            report.follow_ups_existing += 1
            return
    lookup = None
    if values.get("contact"):
        async def lookup():
            return await _card_contact(s, opp, values["contact"])
    await records.add_follow_up(ctx, uow, opp, data, lookup)
    report.follow_ups_created += 1


async def _card_contact(session, opp: m.Opportunity, text: str) -> m.Contact:
    """A contact of the card's customer named by name, phone or email."""
    rows = (await session.execute(select(m.Contact).where(m.Contact.account_id == opp.account_id)
                                  .order_by(m.Contact.id))).scalars().all()
    phone, email = records.phone_key(text), records.email_key(text)
    for contact in rows:
        if contact.name == text or (phone and contact.phone_key == phone) or contact.email_key == email:
            return contact
    fail(NOT_FOUND, "no contact {name!r} at this deal's customer", "contact", name=text)


_MOMENT = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def _moment(value, zone: ZoneInfo, field: str) -> datetime | None:
    """A cell's date or date and time, in the organization's time zone when it names none."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            match = _MOMENT.match(text)
            if not match:
                fail(VALIDATION, "{field_name} {text!r} is not a date and time (use YYYY-MM-DD HH:MM)", field,
                     field_name=field, text=text)
            try:
                moment = datetime(*(int(g or 0) for g in match.groups()))
            except ValueError:
                fail(VALIDATION, "{field_name} {text!r} is not a date and time (use YYYY-MM-DD HH:MM)", field,
                     field_name=field, text=text)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# ---------------------------------------------------------------- exporting


async def export_sheets(ctx: Ctx, opportunity_ids: list[int], *, chinese: bool = False) -> list[tuple[str, list, list]]:
    """[(sheet title, header, rows)] of the contacts and follow-ups of these (visible) deals,
    written as the import reads them back."""
    viewer = ctx.require_viewer()
    if "account" in hidden(await ensure_access(ctx)) or not opportunity_ids:
        return []
    async with ctx.db.read() as s:
        org = await s.get(m.Organization, viewer.org_id)
        zone = _zone(org.time_zone)
        links = (await s.execute(
            select(m.Contact, m.OpportunityContact.role, m.OpportunityContact.opportunity_id, m.Account.name)
            .join(m.Account, m.Account.id == m.Contact.account_id)
            .outerjoin(m.OpportunityContact, m.OpportunityContact.contact_id == m.Contact.id)
            .where(m.Contact.org_id == viewer.org_id,
                   m.Contact.account_id.in_(select(m.Opportunity.account_id).where(m.Opportunity.id.in_(opportunity_ids))))
            .order_by(m.Contact.id, m.OpportunityContact.id)
        )).all()
        follow_ups = (await s.execute(
            select(m.FollowUp, m.Account.name, m.Contact.name)
            .join(m.Opportunity, m.Opportunity.id == m.FollowUp.opportunity_id)
            .join(m.Account, m.Account.id == m.Opportunity.account_id)
            .outerjoin(m.Contact, m.Contact.id == m.FollowUp.contact_id)
            .where(m.FollowUp.opportunity_id.in_(opportunity_ids)).order_by(m.FollowUp.id)
        )).all()
    wanted = set(opportunity_ids)
    contact_rows = []
    for contact, role, opp_id, account in links:
        deal = to_global("Opportunity", opp_id) if opp_id in wanted else None
        if opp_id is not None and deal is None:
            continue  # linked to a deal outside the export
        contact_rows.append({"name": contact.name, "title": contact.title, "phone": contact.phone, "email": contact.email,
                             "wechat": contact.wechat, "account_name": account, "role": role if deal else None, "deal": deal})

    def local(moment):
        return moment.astimezone(zone).replace(tzinfo=None, microsecond=0) if moment else None

    follow_up_rows = [
        {"deal": to_global("Opportunity", f.opportunity_id), "account_name": account, "kind": f.kind, "at": local(f.at),
         "contact": contact, "summary": f.summary, "outcome": f.outcome, "next_step": f.next_step,
         "next_follow_up_at": local(f.next_follow_up_at)}
        for f, account, contact in follow_ups
    ]
    out = []
    for kind, rows in (("contacts", contact_rows), ("follow_ups", follow_up_rows)):
        columns = EXPORT_COLUMNS[kind]
        out.append((SHEET_TITLES[kind][1 if chinese else 0], [zh if chinese else en for _, en, zh in columns],
                    [[row[name] for name, _, _ in columns] for row in rows]))
    return out
