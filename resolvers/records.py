"""The records around a deal: contacts (联系人) at a customer, their roles on deals, and
follow-ups (跟进记录) on a card.

Contacts are deduplicated within the organization by `phone_key` (digits only, a leading
+86/0086 dropped) and `email_key` (casefolded): a second contact with either answers
DUPLICATE naming the first. A contact is seen by whoever sees its customer
(accounts.account_clause): a viewer who sees none of the customer's deals, or from whom
accounts are withheld, sees none of its contacts. A card lists only contacts of its own
customer.

A follow-up is written like a comment (a card the viewer sees and may write; VIEWER
refused); it moves the card's `last_contact_at` forward to its time, and, when it is the
latest contact, sets the card's `next_follow_up_at` to its plan. The card's version does
not change: a follow-up edits nothing a form holds."""
import re
import unicodedata
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db import models as m
from resolvers import validate
from resolvers.accounts import account_clause, visible_account
from resolvers.context import Ctx
from resolvers.errors import CONFLICT, DUPLICATE, NOT_FOUND, VALIDATION, UserError, fail
from resolvers.ids import decode, to_global
from resolvers.paging import Page, child_page, page_size
from resolvers.rows import jsonable, locked_opportunity, visible_row
from resolvers.uow import UnitOfWork, mutate
from resolvers.visibility import Access, ensure_access, hidden

ROLES = ("DECISION_MAKER", "INFLUENCER", "USER", "GATEKEEPER")
KINDS = ("CALL", "VISIT", "MEETING", "WECHAT", "EMAIL", "OTHER")
MAX_ACCOUNT_CONTACTS = 100  # Account.contacts, oldest first
MAX_CARD_CONTACTS = 30  # Opportunity.contacts, in the order they were linked

_PHONE = re.compile(r"\(?\+?[0-9 ()\-.]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(2100, 12, 31, tzinfo=timezone.utc)
FUTURE_SLACK = timedelta(minutes=10)  # a follow-up's `at` may be this far ahead (clock skew)


# ---------------------------------------------------------------- keys


def phone_key(phone: str) -> str:
    """Digits only, without a leading +86 or 0086: "+86 138-0013-8000" and "13800138000"
    are one number. Other country codes stay part of the key."""
    value = unicodedata.normalize("NFKC", phone)
    digits = "".join(ch for ch in value if ch.isdigit())
    if "".join(ch for ch in value if ch.isdigit() or ch == "+").startswith("+86"):
        return digits[2:]
    if digits.startswith("0086"):
        return digits[4:]
    return digits


def email_key(email: str) -> str:
    return unicodedata.normalize("NFKC", email).strip().casefold()


def _phone(value: str | None) -> str | None:
    value = validate.text(value, "phone", max_len=40)
    if value is None:
        return None
    value = unicodedata.normalize("NFKC", value)
    if not _PHONE.fullmatch(value) or not 5 <= len(phone_key(value)) <= 20:
        fail(VALIDATION, "phone must be a phone number: digits, spaces, dashes and an optional leading +", "phone")
    return value


def _email(value: str | None) -> str | None:
    value = validate.text(value, "email", max_len=254)
    if value is not None and not _EMAIL.fullmatch(value):
        fail(VALIDATION, "email must be an address such as name@example.com", "email")
    return value


FIELDS = {
    # input key -> cleaner
    "title": lambda v: validate.text(v, "title", max_len=100),
    "phone": _phone,
    "email": _email,
    "wechat": lambda v: validate.text(v, "wechat", max_len=100),
}


# ---------------------------------------------------------------- who sees which contacts


def contact_clause(access: Access | None):
    """The condition on `contacts` rows for "visible to this viewer" (None: all of the
    organization's): their customer is visible."""
    clause = account_clause(access)
    if clause is None:
        return None
    return m.Contact.account_id.in_(select(m.Account.id).where(clause))


async def _visible_contact(ctx: Ctx, session, gid: str, field: str, *, lock: bool = False) -> m.Contact:
    pk = decode(gid, "Contact", field)
    contact = await visible_row(ctx, session, m.Contact, pk, contact_clause(await ensure_access(ctx, session)), lock=lock)
    if contact is None:
        fail(NOT_FOUND, "No contact with id {gid!r}", field, gid=gid)
    return contact


async def _contact_of(ctx: Ctx, session, opp: m.Opportunity, gid: str, field: str) -> m.Contact:
    """A visible contact at the card's customer."""
    contact = await _visible_contact(ctx, session, gid, field)
    if contact.account_id != opp.account_id:
        fail(VALIDATION, "{name} is not a contact of this deal's customer", field, name=contact.name)
    return contact


# ---------------------------------------------------------------- queries


async def account_contacts(ctx: Ctx, account_id: int | None) -> list[m.Contact]:
    """A visible customer's contacts, oldest first (one statement for a list's customers).
    A withheld customer's stand-in has none."""
    if not account_id or "account" in hidden(await ensure_access(ctx)):
        return []
    loaders = ctx.loaders

    async def batch(ids):
        found = {i: [] for i in ids}
        rows = await loaders.all(select(m.Contact).where(m.Contact.account_id.in_(ids)).order_by(m.Contact.id))
        for contact in rows:
            found[contact.account_id].append(contact)
        return [found[i][:MAX_ACCOUNT_CONTACTS] for i in ids]

    return await loaders.custom("account_contacts", batch).load(account_id)


async def card_contacts(ctx: Ctx, opportunity_id: int) -> list[tuple[m.OpportunityContact, m.Contact]]:
    """The card's linked contacts of its own customer, in the order they were linked (one
    statement for every card of a page); none when accounts are withheld."""
    if "account" in hidden(await ensure_access(ctx)):
        return []
    loaders = ctx.loaders

    async def batch(ids):
        found = {i: [] for i in ids}
        rows = await loaders.rows(
            select(m.OpportunityContact, m.Contact)
            .join(m.Contact, m.Contact.id == m.OpportunityContact.contact_id)
            .join(m.Opportunity, m.Opportunity.id == m.OpportunityContact.opportunity_id)
            .where(m.OpportunityContact.opportunity_id.in_(ids), m.Contact.account_id == m.Opportunity.account_id)
            .order_by(m.OpportunityContact.id)
        )
        for link, contact in rows:
            found[link.opportunity_id].append((link, contact))
        return [found[i][:MAX_CARD_CONTACTS] for i in ids]

    return await loaders.custom("card_contacts", batch).load(opportunity_id)


async def contact_by_id(ctx: Ctx, contact_id: int) -> m.Contact | None:
    """A follow-up's contact, when accounts are not withheld (follow-ups are on visible cards)."""
    if "account" in hidden(await ensure_access(ctx)):
        return None
    loaders = ctx.loaders

    async def batch(ids):
        rows = {c.id: c for c in await loaders.all(select(m.Contact).where(m.Contact.id.in_(ids)))}
        return [rows.get(i) for i in ids]

    return await loaders.custom("contact_by_id", batch).load(contact_id)


async def opportunity_follow_ups(ctx: Ctx, opportunity_id: int, first, after) -> Page:
    """A card's follow-ups, newest logged first; every card's load in one statement."""
    size = page_size(first, ctx.max_page_size)
    return await child_page(ctx.loaders, "follow_ups", m.FollowUp, m.FollowUp.opportunity_id, opportunity_id, size, after,
                            newest_first=True)


# ---------------------------------------------------------------- contacts


async def same_contact(session, org_id: int, phone: str | None, email: str | None, *,
                       exclude: int | None = None) -> tuple[m.Contact, str] | None:
    """(another contact of the organization with the same phone or email key, "phone" or
    "email"), or None."""
    for value, key_of, column, field in (
        (phone, phone_key, m.Contact.phone_key, "phone"), (email, email_key, m.Contact.email_key, "email"),
    ):
        if value is None:
            continue
        stmt = select(m.Contact).where(m.Contact.org_id == org_id, column == key_of(value))
        if exclude is not None:
            stmt = stmt.where(m.Contact.id != exclude)
        same = (await session.execute(stmt)).scalars().first()
        if same is not None:
            return same, field
    return None


async def _check_unique(uow: UnitOfWork, phone: str | None, email: str | None, *, exclude: int | None = None) -> None:
    """DUPLICATE, naming the contact, when another contact of the organization has the
    same phone or email key."""
    found = await same_contact(uow.session, uow.org_id, phone, email, exclude=exclude)
    if found is not None:
        same, field = found
        if field == "phone":
            fail(DUPLICATE, "The contact {existing} already has this phone number", field, existing=same.name)
        fail(DUPLICATE, "The contact {existing} already has this email address", field, existing=same.name)


def _duplicate_race(exc: IntegrityError) -> UserError:
    """Another writer saved the same phone or email first: the unique key that refused names
    the field (both databases name the constraint's columns in the error)."""
    field = "email" if "email_key" in str(exc.orig) else "phone"
    return UserError(DUPLICATE, "A contact with this phone number or email address was just added", [field], {})


async def add_contact(ctx: Ctx, uow: UnitOfWork, data: dict, account_lookup) -> m.Contact:
    """createContact's rules inside a unit of work; `account_lookup()` awaits the customer
    (or raises its UserErrors, reported with the form's other problems)."""
    ctx.require_writer()
    with validate.Checks() as check:
        account = await check.lookup(account_lookup())
        name = check(validate.text, data.get("name"), "name", max_len=100, required=True)
        clean = {key: check(cleaner, data.get(key)) for key, cleaner in FIELDS.items()}
    await _check_unique(uow, clean["phone"], clean["email"])
    now = uow.now
    contact = m.Contact(
        org_id=uow.org_id, account_id=account.id, name=name, title=clean["title"], wechat=clean["wechat"],
        phone=clean["phone"], phone_key=phone_key(clean["phone"]) if clean["phone"] else None,
        email=clean["email"], email_key=email_key(clean["email"]) if clean["email"] else None,
        version=1, created_at=now, updated_at=now,
    )
    uow.session.add(contact)
    await uow.session.flush()
    return contact


async def create_contact(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Contact:
        return await add_contact(ctx, uow, data, lambda: visible_account(ctx, uow.session, data["account_id"], "accountId"))

    try:
        return await mutate(ctx, work)
    except IntegrityError as exc:
        return None, [_duplicate_race(exc)]


async def update_contact(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Contact:
        ctx.require_writer()
        contact = await _visible_contact(ctx, uow.session, data["id"], "id", lock=True)
        if contact.version != data["version"]:
            fail(CONFLICT, "Someone else changed this contact (now version {version}); reload and retry", "version",
                 version=contact.version)
        with validate.Checks() as check:
            name = check(validate.text, data.get("name"), "name", max_len=100, required=True) if "name" in data else None
            clean = {key: check(cleaner, data[key]) for key, cleaner in FIELDS.items() if key in data}
        new_phone = clean["phone"] if "phone" in clean and clean["phone"] != contact.phone else None
        new_email = clean["email"] if "email" in clean and clean["email"] != contact.email else None
        await _check_unique(uow, new_phone, new_email, exclude=contact.id)
        changed = False
        if name is not None and name != contact.name:
            contact.name, changed = name, True
        for key, value in clean.items():
            if value != getattr(contact, key):
                setattr(contact, key, value)
                changed = True
        if not changed:
            return contact
        contact.phone_key = phone_key(contact.phone) if contact.phone else None
        contact.email_key = email_key(contact.email) if contact.email else None
        contact.version += 1
        contact.updated_at = uow.now
        return contact

    try:
        return await mutate(ctx, work)
    except IntegrityError as exc:
        return None, [_duplicate_race(exc)]


# ---------------------------------------------------------------- contacts on cards


async def link_contact(ctx: Ctx, data: dict):
    """Put a contact of the card's customer on the card with a role; linking a linked
    contact again changes its role."""

    async def work(uow: UnitOfWork):
        ctx.require_writer()
        s = uow.session
        opp = await locked_opportunity(uow, data["opportunity_id"])
        contact = await _contact_of(ctx, s, opp, data["contact_id"], "contactId")
        await put_on_card(uow, opp, contact, data["role"])
        return opp

    return await mutate(ctx, work)


async def put_on_card(uow: UnitOfWork, opp: m.Opportunity, contact: m.Contact, role: str) -> bool:
    """Link a contact of the card's customer (or change its role) with its CONTACT_LINKED
    event; False when it is already on the card in that role."""
    s = uow.session
    link = (await s.execute(select(m.OpportunityContact).where(
        m.OpportunityContact.opportunity_id == opp.id, m.OpportunityContact.contact_id == contact.id,
    ))).scalar_one_or_none()
    before = link.role if link else None
    if link is None:
        link = m.OpportunityContact(opportunity_id=opp.id, contact_id=contact.id, role=role, created_at=uow.now)
        s.add(link)
    elif link.role == role:
        return False
    link.role = role
    await s.flush()
    await uow.append_event(
        "CONTACT_LINKED", opportunity_id=opp.id,
        changes={"contact": [None if before is None else contact.name, contact.name], "role": [before, role]},
        department_ids=(opp.department_id,),
    )
    return True


async def unlink_contact(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork):
        ctx.require_writer()
        s = uow.session
        opp = await locked_opportunity(uow, data["opportunity_id"])
        contact = await _visible_contact(ctx, s, data["contact_id"], "contactId")
        link = (await s.execute(select(m.OpportunityContact).where(
            m.OpportunityContact.opportunity_id == opp.id, m.OpportunityContact.contact_id == contact.id,
        ))).scalar_one_or_none()
        if link is None:
            fail(NOT_FOUND, "{name} is not on this deal", "contactId", name=contact.name)
        await s.delete(link)
        await uow.append_event(
            "CONTACT_UNLINKED", opportunity_id=opp.id, changes={"contact": [contact.name, None], "role": [link.role, None]},
            department_ids=(opp.department_id,),
        )
        return opp

    return await mutate(ctx, work)


# ---------------------------------------------------------------- follow-ups


def _moment(value: datetime | None, field: str) -> datetime | None:
    if value is not None and not _EARLIEST <= value <= _LATEST:
        fail(VALIDATION, "{field_name} must be between 2000 and 2100", field, field_name=field)
    return value


async def log_follow_up(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.FollowUp:
        ctx.require_writer()
        opp = await locked_opportunity(uow, data["opportunity_id"])
        contact = (lambda: _contact_of(ctx, uow.session, opp, data["contact_id"], "contactId")) if data.get("contact_id") else None
        return await add_follow_up(ctx, uow, opp, data, contact)

    return await mutate(ctx, work)


async def add_follow_up(ctx: Ctx, uow: UnitOfWork, opp: m.Opportunity, data: dict, contact_lookup=None) -> m.FollowUp:
    """logFollowUp's rules inside a unit of work, on a locked card; `contact_lookup()`
    awaits the contact (or raises its UserErrors, reported with the form's other problems)."""
    viewer = ctx.require_writer()
    s = uow.session
    now = uow.now
    with validate.Checks() as check:
        at = check(_moment, data["at"], "at")
        if at is not None and at > now + FUTURE_SLACK:
            check.fail(VALIDATION, "at must not be in the future", "at")
        summary = check(validate.text, data.get("summary"), "summary", max_len=5000, required=True)
        outcome = check(validate.text, data.get("outcome"), "outcome", max_len=1000)
        next_step = check(validate.text, data.get("next_step"), "nextStep", max_len=500)
        next_at = check(_moment, data.get("next_follow_up_at"), "nextFollowUpAt")
        if at is not None and next_at is not None and next_at <= at:
            check.fail(VALIDATION, "nextFollowUpAt must be after at", "nextFollowUpAt")
        contact = await check.lookup(contact_lookup()) if contact_lookup is not None else None
    follow_up = m.FollowUp(
        org_id=uow.org_id, opportunity_id=opp.id, author_id=viewer.id, contact_id=contact.id if contact else None,
        kind=data["kind"], at=at, summary=summary, outcome=outcome, next_step=next_step, next_follow_up_at=next_at,
        created_at=now,
    )
    s.add(follow_up)
    await s.flush()
    changes = {"followUp": [None, to_global("FollowUp", follow_up.id)], "kind": [None, follow_up.kind]}
    if opp.last_contact_at is None or at >= opp.last_contact_at:
        # The latest contact: the card shows it and its plan.
        if at != opp.last_contact_at:
            changes["lastContactAt"] = [jsonable(opp.last_contact_at), jsonable(at)]
            opp.last_contact_at = at
        opp.last_contact_kind = follow_up.kind
        if next_at != opp.next_follow_up_at:
            changes["nextFollowUpAt"] = [jsonable(opp.next_follow_up_at), jsonable(next_at)]
            opp.next_follow_up_at = next_at
    await uow.append_event("FOLLOW_UP_LOGGED", opportunity_id=opp.id, changes=changes,
                           department_ids=(opp.department_id,))
    return follow_up
