"""Customers (accounts): their names' normalization and duplicate checks, the accounts
list, create/update/merge, and ownership conflicts (撞单): a customer with open deals of
more than one owner.

Names are compared by `normalize_account_name`: NFKC (full-width to half-width),
casefold, no whitespace, punctuation, symbols or control characters, and no trailing
company-form suffixes (有限公司, Co., Ltd., Inc., GmbH, ...). Equal keys are one
customer (a unique key per organization); near keys (rapidfuzz's WRatio, at least
SIMILARITY) are "did you mean…?" candidates a client confirms with `allowSimilar`.

Who sees an account: everyone whose access rule lets them see every card (unless the
rule withholds accounts); a restricted viewer sees the accounts of the cards they see
and the ones they own."""
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import exists, false, func, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from db import models as m
from resolvers import validate
from resolvers.context import Ctx
from resolvers.errors import CONFLICT, DUPLICATE, FORBIDDEN, NOT_FOUND, POSSIBLE_DUPLICATE, VALIDATION, UserError, UserErrors, fail
from resolvers.i18n import msg
from resolvers.ids import decode, to_global
from resolvers.paging import Page, count_loader, decode_cursor, page_size, to_page, window_pages
from resolvers.rows import jsonable, org_user, visible_row
from resolvers.uow import UnitOfWork, mutate
from resolvers.visibility import Access, conditions, ensure_access, opportunity_clause

# ---------------------------------------------------------------- names

LATIN_SUFFIXES = frozenset({
    "co", "ltd", "inc", "llc", "gmbh", "corp", "corporation", "company", "limited", "plc", "ag", "sa",
})
# Longest first where one ends another (有限责任公司 before 公司).
CJK_SUFFIXES = ("有限责任公司", "股份有限公司", "有限公司", "株式会社", "集团", "公司")
SIMILARITY = 85  # rapidfuzz WRatio (0..100) from which another customer is a possible duplicate
MAX_SIMILAR = 5


def _tokens(text: str) -> list[str]:
    """Runs of letters, marks and digits; whitespace, punctuation (P*), separators (Z*),
    symbols (S*) and control or format characters (C*) separate them."""
    tokens, current = [], []
    for ch in text:
        if ch.isspace() or unicodedata.category(ch)[0] in "PZSC":
            if current:
                tokens.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        tokens.append("".join(current))
    return tokens


def _strip_suffix(tokens: list[str]) -> list[str] | None:
    """`tokens` without one trailing company form, or None when there is none. Latin
    forms are whole tokens ("S.A." is two), so "Costco" keeps its "co"."""
    for k in (1, 2, 3):
        if len(tokens) >= k and "".join(tokens[-k:]) in LATIN_SUFFIXES:
            return tokens[:-k]
    last = tokens[-1]
    for suffix in CJK_SUFFIXES:
        if last.endswith(suffix):
            rest = last[:-len(suffix)]
            return tokens[:-1] + ([rest] if rest else [])
    return None


def normalize_account_name(name: str) -> str:
    """The key customers are matched by (see the module's docstring). A name made only of
    company forms ("集团有限公司") keeps them rather than becoming empty.
    db/migrations/versions/0014_accounts.py holds a frozen copy: change both knowingly."""
    tokens = _tokens(unicodedata.normalize("NFKC", name).casefold())
    whole = "".join(tokens)
    while tokens:
        stripped = _strip_suffix(tokens)
        if stripped is None:
            break
        tokens = stripped
    return "".join(tokens) or whole


def account_key(name: str) -> str:
    return normalize_account_name(name)[:200]


async def account_for(session, org_id: int, name: str, now=None) -> m.Account:
    """The organization's customer of this name (by key), created when there is none."""
    key = account_key(name)
    query = select(m.Account).where(m.Account.org_id == org_id, m.Account.normalized_name == key)
    account = (await session.execute(query)).scalar_one_or_none()
    if account is None:
        account = m.Account(org_id=org_id, name=name, normalized_name=key, tags=[], version=1)
        if now is not None:
            account.created_at = account.updated_at = now
        try:
            async with session.begin_nested():  # a savepoint: losing the race below keeps the transaction
                session.add(account)
                await session.flush()
        except IntegrityError:
            # Another transaction created the same customer since our read, and has committed.
            account = (await session.execute(query)).scalar_one()
    return account


# ---------------------------------------------------------------- who sees which accounts


def account_clause(access: Access | None):
    """The condition on `accounts` rows for "visible to this viewer" (None: all of the
    organization's)."""
    if access is None:
        return None
    if "account" in access.hidden:
        return false()
    visible = opportunity_clause(access)
    if visible is None:
        return None
    return or_(
        m.Account.owner_id == access.user_id,
        exists().where(m.Opportunity.account_id == m.Account.id, m.Opportunity.org_id == m.Account.org_id, visible),
    )


async def account_visible(ctx: Ctx, account_id: int) -> bool:
    """`node(id)`'s check: the account is one `accounts` lists for this viewer."""
    access = await ensure_access(ctx)
    clause = account_clause(access)
    if clause is None:
        return True
    stmt = select(m.Account.id).where(m.Account.id == account_id, m.Account.org_id == ctx.require_viewer().org_id, clause)
    return bool(await ctx.loaders.rows(stmt))


async def visible_account(ctx: Ctx, session, gid: str, field: str, *, lock: bool = False) -> m.Account:
    pk = decode(gid, "Account", field)
    account = await visible_row(ctx, session, m.Account, pk, account_clause(await ensure_access(ctx, session)), lock=lock)
    if account is None:
        fail(NOT_FOUND, "No customer with id {gid!r}", field, gid=gid)
    return account


# ---------------------------------------------------------------- queries


async def list_accounts(ctx: Ctx, search: str | None, first: int | None, after: str | None) -> Page:
    """Accounts by name (their keys: case, spacing, punctuation and company forms do not
    count); `search` matches keys containing the search's key. The cursor is the last
    account's id, whose key the next page starts behind."""
    org_id = ctx.require_viewer().org_id
    access = await ensure_access(ctx)
    conds = [m.Account.org_id == org_id, *conditions(account_clause(access))]
    if search and (key := account_key(search)):
        conds.append(m.Account.normalized_name.contains(key, autoescape=True))
    size = page_size(first, ctx.max_page_size)
    stmt = select(m.Account).where(*conds)
    after_id = decode_cursor(after)
    if after_id is not None:
        anchor = select(m.Account.normalized_name).where(m.Account.id == after_id, m.Account.org_id == org_id).scalar_subquery()
        stmt = stmt.where(tuple_(m.Account.normalized_name, m.Account.id) > tuple_(anchor, after_id))
    rows = await ctx.loaders.all(stmt.order_by(m.Account.normalized_name, m.Account.id).limit(size + 1))

    async def count() -> int:
        return (await ctx.loaders.rows(select(func.count()).select_from(m.Account).where(*conds)))[0][0]

    return to_page(rows, size, after, count=count)


async def get_account(ctx: Ctx, gid: str) -> m.Account | None:
    try:
        async with ctx.db.read() as session:
            return await visible_account(ctx, session, gid, "id")
    except UserErrors:
        return None


async def account_opportunities(ctx: Ctx, account_id: int, first: int | None, after: str | None) -> Page:
    """An account's deals the viewer may see, newest first (every account of a list in one
    statement, as a card's tasks are)."""
    size = page_size(first, ctx.max_page_size)
    decode_cursor(after)  # a bad cursor fails this field alone
    access = await ensure_access(ctx)
    where = (m.Opportunity.org_id == ctx.require_viewer().org_id, *conditions(opportunity_clause(access)))
    loaders = ctx.loaders

    async def batch(keys):
        out = {}
        for page_first, page_after in {k[1:] for k in keys}:
            parents = [k[0] for k in keys if k[1:] == (page_first, page_after)]
            pages = await window_pages(loaders.all, m.Opportunity, m.Opportunity.account_id, parents, list(where),
                                       page_first, page_after, newest_first=True)
            out.update({(p, page_first, page_after): page for p, page in pages.items()})
        return [out[k] for k in keys]

    page = await loaders.custom("account_opportunities", batch).load((account_id, size, after))
    page.count = lambda: count_loader(loaders, "account_opportunities:count", m.Opportunity.account_id, where).load(account_id)
    return page


MAX_OPEN_DEAL_OWNERS = 20  # Account.openDealOwners, the first owners by their first open deal
MAX_CONFLICT_DEALS = 20  # OwnershipConflict.opportunities, the oldest visible ones


def _open_deals(account_ids, *where):
    """(account id, opportunity id, owner id) of the open deals of these accounts."""
    return (
        select(m.Opportunity.account_id, m.Opportunity.id, m.Opportunity.owner_id)
        .join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
        .where(m.Opportunity.account_id.in_(account_ids), m.Stage.kind == "OPEN", *where)
        .order_by(m.Opportunity.id)
    )


async def open_deal_owners(ctx: Ctx, account_id: int) -> list[m.User]:
    """Owners of the account's open deals the viewer sees (one statement for a list's accounts)."""
    access = await ensure_access(ctx)
    loaders = ctx.loaders

    async def batch(ids):
        owners = defaultdict(list)
        for acc, _, owner in await loaders.rows(_open_deals(ids, *conditions(opportunity_clause(access)))):
            if owner not in owners[acc]:
                owners[acc].append(owner)
        return [owners[i][:MAX_OPEN_DEAL_OWNERS] for i in ids]

    owner_ids = await loaders.custom("open_deal_owners", batch).load(account_id)
    return [u for u in await loaders.user.load_many(owner_ids) if u is not None]


# ---------------------------------------------------------------- duplicates


@dataclass
class Match:
    account: m.Account
    score: float


async def similar_accounts(ctx: Ctx, session, org_id: int, key: str, *, exclude: int | None = None) -> list[Match]:
    """Up to MAX_SIMILAR other customers the viewer may see whose keys are near `key`."""
    conds = [m.Account.org_id == org_id, m.Account.normalized_name != key,
             *conditions(account_clause(await ensure_access(ctx, session)))]
    if exclude is not None:
        conds.append(m.Account.id != exclude)
    choices = dict((await session.execute(select(m.Account.id, m.Account.normalized_name).where(*conds))).all())
    found = process.extract(key, choices, scorer=fuzz.WRatio, limit=MAX_SIMILAR, score_cutoff=SIMILARITY)
    if not found:
        return []
    rows = {a.id: a for a in (await session.execute(select(m.Account).where(m.Account.id.in_([f[2] for f in found])))).scalars()}
    for row in rows.values():
        session.expunge(row)  # still readable when a refusal rolls the transaction back
    return [Match(rows[account_id], round(score, 1)) for _, score, account_id in found]


async def _check_name(ctx: Ctx, uow: UnitOfWork, key: str, allow_similar: bool, similar: list, *, exclude: int | None = None) -> None:
    """DUPLICATE for a customer with the same key; POSSIBLE_DUPLICATE for near ones unless
    `allow_similar` (they are put in `similar` either way)."""
    stmt = select(m.Account).where(m.Account.org_id == uow.org_id, m.Account.normalized_name == key)
    if exclude is not None:
        stmt = stmt.where(m.Account.id != exclude)
    same = (await uow.session.execute(stmt)).scalar_one_or_none()
    if same is not None:
        fail(DUPLICATE, "The customer {existing} already exists", "name", existing=same.name)
    similar[:] = await similar_accounts(ctx, uow.session, uow.org_id, key, exclude=exclude)
    if similar and not allow_similar:
        fail(POSSIBLE_DUPLICATE, "Similar customers exist: {names}. Send allowSimilar: true if this is another one",
             "name", names=", ".join(match.account.name for match in similar))


# ---------------------------------------------------------------- create, update, merge

WEBSITE_MAX = 300


def _website(value: str | None) -> str | None:
    value = validate.text(value, "website", max_len=WEBSITE_MAX)
    if value is not None and any(ch.isspace() for ch in value):
        fail(VALIDATION, "website must be a web address without spaces", "website")
    return value


FIELDS = {
    # input key -> (API name, cleaner)
    "industry": ("industry", lambda v: validate.text(v, "industry", max_len=100)),
    "region": ("region", lambda v: validate.text(v, "region", max_len=100)),
    "website": ("website", _website),
    "tags": ("tags", validate.tags),
}


async def _owner(check: validate.Checks, uow: UnitOfWork, data: dict):
    """The input's owner: a user of the organization, None to clear, ... when not sent."""
    if "owner_id" not in data:
        return ...
    if data["owner_id"] is None:
        return None
    return await check.lookup(org_user(uow.session, uow.org_id, data["owner_id"], "ownerId"))


async def create_account(ctx: Ctx, data: dict) -> tuple[m.Account | None, list, list[Match]]:
    similar: list[Match] = []

    async def work(uow: UnitOfWork) -> m.Account:
        ctx.require_writer()
        with validate.Checks() as check:
            name = check(validate.text, data.get("name"), "name", max_len=200, required=True)
            clean = {key: check(cleaner, data.get(key)) for key, (_, cleaner) in FIELDS.items()}
            owner = await _owner(check, uow, data)
        if owner is ...:
            # Who creates a customer owns it unless they name another (or null): a restricted
            # member would otherwise lose sight of a customer with no deal yet.
            owner = ctx.require_viewer()
        key = account_key(name)
        await _check_name(ctx, uow, key, bool(data.get("allow_similar")), similar)
        now = uow.now
        account = m.Account(
            org_id=uow.org_id, name=name, normalized_name=key, industry=clean["industry"], region=clean["region"],
            website=clean["website"], tags=clean["tags"] or [], owner_id=owner.id if owner is not None else None,
            version=1, created_at=now, updated_at=now,
        )
        uow.session.add(account)
        await uow.session.flush()
        changes = {"name": [None, name]}
        changes.update({api: [None, jsonable(clean[key])] for key, (api, _) in FIELDS.items() if clean[key]})
        if account.owner_id:
            changes["owner"] = [None, account.owner_id]
        await uow.append_event("ACCOUNT_CREATED", changes=changes)
        return account

    try:
        account, errors = await mutate(ctx, work)
    except IntegrityError:
        # A concurrent create of the same customer won the unique key.
        return None, [_duplicate_race(data.get("name"))], similar
    return account, errors, similar


def _duplicate_race(name) -> UserError:
    return UserError(DUPLICATE, "The customer {existing} already exists", ["name"], {"existing": (name or "").strip()})


async def update_account(ctx: Ctx, data: dict) -> tuple[m.Account | None, list, list[Match]]:
    similar: list[Match] = []

    async def work(uow: UnitOfWork) -> m.Account:
        ctx.require_writer()
        account = await visible_account(ctx, uow.session, data["id"], "id", lock=True)
        if account.version != data["version"]:
            fail(CONFLICT, "Someone else changed this customer (now version {version}); reload and retry", "version",
                 version=account.version)
        with validate.Checks() as check:
            name = check(validate.text, data.get("name"), "name", max_len=200, required=True) if "name" in data else None
            clean = {key: check(cleaner, data[key]) for key, (_, cleaner) in FIELDS.items() if key in data}
            owner = await _owner(check, uow, data)
        changes = {}
        if name is not None and name != account.name:
            key = account_key(name)
            if key != account.normalized_name:
                await _check_name(ctx, uow, key, bool(data.get("allow_similar")), similar, exclude=account.id)
            changes["name"] = [account.name, name]
            account.name, account.normalized_name = name, key
        for key, value in clean.items():
            if key == "tags":
                value = value or []
            old = getattr(account, key)
            if value != old:
                changes[FIELDS[key][0]] = [jsonable(old), jsonable(value)]
                setattr(account, key, value)
        if owner is not ...:
            owner_id = owner.id if owner is not None else None
            if owner_id != account.owner_id:
                changes["owner"] = [account.owner_id, owner_id]
                account.owner_id = owner_id
        if not changes:
            return account
        account.version += 1
        account.updated_at = uow.now
        await uow.append_event("ACCOUNT_UPDATED", changes=changes)
        return account

    try:
        account, errors = await mutate(ctx, work)
    except IntegrityError:
        return None, [_duplicate_race(data.get("name"))], similar
    return account, errors, similar


async def merge_accounts(ctx: Ctx, data: dict):
    """Move the source's deals (and its conflicts) to the target and delete the source,
    in one transaction: admins and managers. The target keeps its own values and takes
    the source's where it has none; tags are joined."""

    async def work(uow: UnitOfWork) -> m.Account:
        viewer = ctx.require_writer()
        if viewer.role not in ("ADMIN", "MANAGER"):
            fail(FORBIDDEN, "Only admins and managers can merge customers")
        s = uow.session
        with validate.Checks() as check:
            source = await check.lookup(visible_account(ctx, s, data["source_id"], "sourceId", lock=True))
            target = await check.lookup(visible_account(ctx, s, data["target_id"], "targetId", lock=True))
        if source.id == target.id:
            fail(VALIDATION, "A customer cannot be merged into itself", "targetId")
        changes = {"mergedFrom": [source.name, None]}
        for attr, api in (("industry", "industry"), ("region", "region"), ("website", "website"), ("owner_id", "owner")):
            if getattr(target, attr) is None and getattr(source, attr) is not None:
                changes[api] = [None, getattr(source, attr)]
                setattr(target, attr, getattr(source, attr))
        tags = list(dict.fromkeys([*(target.tags or []), *(source.tags or [])]))[:validate.MAX_TAGS]
        if tags != (target.tags or []):
            changes["tags"] = [target.tags or [], tags]
            target.tags = tags
        deals = list((await s.execute(
            select(m.Opportunity).where(m.Opportunity.account_id == source.id).order_by(m.Opportunity.id).with_for_update()
        )).scalars())
        changes["opportunities"] = [None, len(deals)]
        for opp in deals:
            opp.account_id = target.id
            opp.version += 1
            opp.updated_at = uow.now
        await s.flush()
        for opp in deals:
            await uow.append_event(
                "OPPORTUNITY_UPDATED", opportunity_id=opp.id, changes={"account": [source.name, target.name]},
                department_ids=(opp.department_id,),
            )
        # Conflicts: the target's open one stays; the source's history moves along.
        open_on_target = await _open_conflict(s, target.id)
        for conflict in (await s.execute(select(m.OwnershipConflict).where(m.OwnershipConflict.account_id == source.id))).scalars():
            if conflict.resolved_at is None and open_on_target is not None:
                await s.delete(conflict)
            else:
                conflict.account_id = target.id
        # Its contacts (people, deduplicated organization-wide) now belong to the target.
        moved_contacts = (await s.execute(
            update(m.Contact).where(m.Contact.account_id == source.id).values(account_id=target.id)
        )).rowcount
        if moved_contacts:
            changes["contacts"] = [None, moved_contacts]
        await s.flush()
        await s.delete(source)
        target.version += 1
        target.updated_at = uow.now
        await uow.append_event("ACCOUNT_MERGED", changes=changes)
        await raise_ownership_conflicts(uow, [opp.id for opp in deals], "merged")  # 撞单: the two customers' owners meet
        return target

    return await mutate(ctx, work)


# ---------------------------------------------------------------- ownership conflicts (撞单)


async def _open_conflict(session, account_id: int) -> m.OwnershipConflict | None:
    return (await session.execute(
        select(m.OwnershipConflict).where(m.OwnershipConflict.account_id == account_id, m.OwnershipConflict.resolved_at.is_(None))
        .order_by(m.OwnershipConflict.id).limit(1)
    )).scalar_one_or_none()


async def _managers(session, department_ids) -> dict[int, list[int]]:
    """Active managers per department."""
    out = defaultdict(list)
    rows = await session.execute(select(m.User.department_id, m.User.id).where(
        m.User.department_id.in_(set(department_ids)), m.User.role == "MANAGER", m.User.deactivated_at.is_(None)))
    for department_id, user_id in rows:
        out[department_id].append(user_id)
    return out


# What brought the deals onto a customer with another owner's open deal: the alert says it
# (msg() marks each template for the catalog).
CONFLICT_TEXTS = {
    "created": msg("Ownership conflict (撞单) on {account}: {owner} opened {opp} while it has open deals of {others}"),
    "owner": msg("Ownership conflict (撞单) on {account}: {owner} took over {opp} while it has open deals of {others}"),
    "reopened": msg("Ownership conflict (撞单) on {account}: {owner} reopened {opp} while it has open deals of {others}"),
    "merged": msg("Ownership conflict (撞单) on {account}: a merge brought {owner}'s {opp} while it has open deals of {others}"),
}


async def raise_ownership_conflicts(uow: UnitOfWork, new_ids: list[int], cause: str = "created") -> None:
    """After deals `new_ids` were created, given an owner, reopened or merged (`cause`, a key
    of CONFLICT_TEXTS): each open one on a customer that
    has an open deal of another owner raises the customer's conflict (opening it if none
    is open), with an OWNERSHIP_CONFLICT_RAISED event per card it concerns and an alert
    to the owners and the managers of their departments."""
    if not new_ids:
        return
    s = uow.session
    await s.flush()  # the deals' owners and stages as they now are
    new_ids = set(new_ids)
    accounts = select(m.Opportunity.account_id).where(m.Opportunity.id.in_(new_ids))
    deals = defaultdict(list)  # account id -> open deals (id, owner id)
    for account_id, opp_id, owner_id in await s.execute(_open_deals(accounts)):
        deals[account_id].append((opp_id, owner_id))
    for account_id, open_deals in deals.items():
        owners = {owner for _, owner in open_deals}
        fresh = [(o, owner) for o, owner in open_deals if o in new_ids]
        if len(owners) < 2 or not any(any(other != owner for _, other in open_deals) for _, owner in fresh):
            continue
        await _raise(uow, account_id, open_deals, fresh, CONFLICT_TEXTS[cause].template)


async def _raise(uow: UnitOfWork, account_id: int, open_deals: list, fresh: list, text: str) -> None:
    s = uow.session
    account = await s.get(m.Account, account_id)
    conflict = await _open_conflict(s, account_id)
    opening = conflict is None
    if opening:
        conflict = m.OwnershipConflict(org_id=uow.org_id, account_id=account_id, opened_at=uow.now)
        s.add(conflict)
        await s.flush()
    fresh_ids = {o for o, _ in fresh}
    # A new conflict concerns every open card of the customer; an open one only the new cards.
    concerned = [o for o, _ in open_deals] if opening else sorted(fresh_ids)
    cards = {o.id: o for o in (await s.execute(select(m.Opportunity).where(m.Opportunity.id.in_([o for o, _ in open_deals])))).scalars()}
    users = {u.id: u for u in (await s.execute(select(m.User).where(m.User.id.in_({owner for _, owner in open_deals})))).scalars()}
    events = {}
    for opp_id in concerned:
        card = cards[opp_id]
        events[opp_id] = await uow.append_event(
            "OWNERSHIP_CONFLICT_RAISED", opportunity_id=opp_id,
            changes={"ownershipConflict": [None, "open"], "owners": [None, sorted({users[o].name for _, o in open_deals})]},
            department_ids=(card.department_id,),
        )
    new_owners = {owner for _, owner in fresh}
    others = sorted({users[o].name for _, o in open_deals if o not in new_owners})
    first_new = cards[min(fresh_ids)]
    params = dict(account=account.name, owner=", ".join(sorted({users[o].name for o in new_owners})),
                  opp=", ".join(cards[o].title for o in sorted(fresh_ids))[:200], others=", ".join(others))
    managers = await _managers(s, {u.department_id for u in users.values()})
    # Each recipient's alert points at a card they are likely to see: their own (the new
    # one first), or for a manager one of their department's people's.
    by_card: dict[int, set[int]] = defaultdict(set)
    for owner_id in users:
        own = sorted(o for o, owner in open_deals if owner == owner_id)
        card_id = next((o for o in own if o in fresh_ids), own[0])
        by_card[card_id].add(owner_id)
        for manager in managers.get(users[owner_id].department_id, []):
            if manager not in users:
                by_card[card_id].add(manager)
    told = set()
    for card_id in sorted(by_card, key=lambda c: (c not in fresh_ids, c)):
        recipients = by_card[card_id] - told
        told |= recipients
        event = events.get(card_id) or events[first_new.id]
        uow.notify(recipients, "alert", text, opportunity_id=card_id, event=event, **params)


async def resolve_ownership_conflict(ctx: Ctx, data: dict):
    """A manager of an involved owner's department, or an admin, closes the customer's open
    conflict; deals stay as they are."""

    async def work(uow: UnitOfWork) -> m.Account:
        viewer = ctx.require_writer()
        s = uow.session
        if viewer.role not in ("ADMIN", "MANAGER"):
            fail(FORBIDDEN, "Only a manager or an admin can resolve an ownership conflict")
        account = await visible_account(ctx, s, data["account_id"], "accountId")
        conflicts = (await s.execute(
            select(m.OwnershipConflict).where(m.OwnershipConflict.account_id == account.id, m.OwnershipConflict.resolved_at.is_(None))
            .with_for_update()
        )).scalars().all()
        if not conflicts:
            fail(NOT_FOUND, "{account} has no open ownership conflict", "accountId", account=account.name)
        open_deals = list(await s.execute(_open_deals([account.id])))
        owner_departments = set((await s.execute(
            select(m.User.department_id).where(m.User.id.in_({owner for _, _, owner in open_deals}))
        )).scalars())
        if viewer.role == "MANAGER" and viewer.user.department_id not in owner_departments:
            fail(FORBIDDEN, "Only a manager of an owner's department or an admin can resolve this conflict")
        with validate.Checks() as check:
            note = check(validate.text, data.get("note"), "note", max_len=500)
            keep = None
            if data.get("keep_opportunity_id"):
                keep = check(decode, data["keep_opportunity_id"], "Opportunity", "keepOpportunityId")
                if keep is not None and keep not in {o for _, o, _ in open_deals}:
                    check.fail(VALIDATION, "keepOpportunityId must be one of the customer's open deals", "keepOpportunityId")
        for row in conflicts:
            row.resolved_at, row.resolved_by_id, row.note, row.kept_opportunity_id = uow.now, viewer.id, note, keep
        cards = {o.id: o for o in (await s.execute(select(m.Opportunity).where(m.Opportunity.id.in_([o for _, o, _ in open_deals])))).scalars()}
        changes = {"ownershipConflict": ["open", "resolved"]}
        if keep:
            changes["kept"] = [None, to_global("Opportunity", keep)]
        if note:
            changes["note"] = [None, note]
        for _, opp_id, _ in open_deals:
            await uow.append_event("OWNERSHIP_CONFLICT_RESOLVED", opportunity_id=opp_id, changes=changes,
                                   department_ids=(cards[opp_id].department_id,))
        if not open_deals:
            await uow.append_event("OWNERSHIP_CONFLICT_RESOLVED", changes=changes)
        return account

    return await mutate(ctx, work)


@dataclass
class ConflictView:
    """What a card shows of its customer's open conflict."""

    opportunities: list
    since: object


async def card_conflict(ctx: Ctx, opp: m.Opportunity) -> ConflictView | None:
    """The open conflict of the card's customer, when the card is open and the customer
    has open deals of other owners; those deals listed as far as the viewer sees them.
    One statement for every card of a page, one more for the other deals."""
    loaders = ctx.loaders
    if "account" in ctx.access.hidden:
        return None
    stage = await loaders.stage.load(opp.stage_id)
    if stage is None or stage.kind != "OPEN":
        return None

    async def batch(account_ids):
        found = {}
        rows = await loaders.rows(
            select(m.OwnershipConflict.account_id, m.OwnershipConflict.opened_at, m.Opportunity.id, m.Opportunity.owner_id)
            .join(m.Opportunity, m.Opportunity.account_id == m.OwnershipConflict.account_id)
            .join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
            .where(m.OwnershipConflict.account_id.in_(account_ids), m.OwnershipConflict.resolved_at.is_(None),
                   m.Stage.kind == "OPEN")
            .order_by(m.Opportunity.id)
        )
        for account_id, opened_at, opp_id, owner_id in rows:
            since, deals = found.setdefault(account_id, (opened_at, []))
            deals.append((opp_id, owner_id))
        return [found.get(i) for i in account_ids]

    open_conflict = await loaders.custom("ownership_conflicts", batch).load(opp.account_id)
    if open_conflict is None:
        return None
    since, deals = open_conflict
    others = [o for o, owner in deals if owner != opp.owner_id and o != opp.id]
    if not others:
        return None
    seen = [card for card in await loaders.opportunity.load_many(others) if card is not None]
    return ConflictView(opportunities=seen[:MAX_CONFLICT_DEALS], since=since)
