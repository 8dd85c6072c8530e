"""People: invitations, users, passwords and departments, managed through the API.

Admins manage everyone; a MANAGER may invite people into their own department and
edit its MEMBER and VIEWER users (name, email, role between MEMBER and VIEWER), nothing
wider. Every change is a CONFIGURATION_CHANGED event (resolvers/audit.py), never with a
password or a link's token in it.

Invitations and password resets are single-use, expiring links (`OneTimeLink`): the
token (`secrets.token_urlsafe(32)`) is shown once, only its SHA-256 is kept, and using
it is one conditional UPDATE (`used_at IS NULL`), so two uses of one link never both
succeed. A deactivated user cannot sign in, their sessions are revoked and their API
tokens sign nobody in until they are reactivated (resolvers/auth.py)."""
import logging
import re
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from db import models as m
from db.loaders import MAX_DEPARTMENTS, MAX_USERS
from resolvers import validate
from resolvers.audit import record_change
from resolvers.auth import hash_password, revoke_sessions, start_session, token_hash, verify_password
from resolvers.context import Ctx, Viewer
from resolvers.errors import CONFLICT, DUPLICATE, FORBIDDEN, NOT_FOUND, VALIDATION, UserError, UserErrors, fail
from resolvers.i18n import DEFAULT, supported, translate
from resolvers.ids import decode, to_global
from resolvers.locales import _locale
from resolvers.paging import BadInput
from resolvers.setup import ROLES, handle_for
from resolvers.tokens import Forbidden
from resolvers.uow import UnitOfWork, mutate, run_in_transaction

log = logging.getLogger("baton.people")

SETUP, INVITE, RESET = "SETUP", "INVITE", "RESET"
RESET_HOURS = 24
MIN_PASSWORD = 8
MAX_PASSWORD = 200
MAX_INVITES = 500  # the `invites` list, newest first
INVITE_STATUSES = ("PENDING", "ACCEPTED", "EXPIRED", "REVOKED")
MANAGED_ROLES = ("MEMBER", "VIEWER")  # the roles a manager may give in their department
_EMAIL = re.compile(r"[^@\s<>\",;]+@[^@\s<>\",;]+\.[^@\s<>\",;]+")
_KEY = re.compile(r"[a-z0-9_-]+")
# The users department API tokens act as (resolvers/tokens.department_member): not people.
INTEGRATION_EMAIL = "integration+%@baton.invalid"


# ------------------------------------------------------------------ field checks


def email_address(value: str | None, field: str = "email") -> str:
    address = validate.text(value, field, max_len=320, required=True).lower()
    if not _EMAIL.fullmatch(address):
        fail(VALIDATION, "{field_name} must be an email address such as ana@example.com", field, field_name=field)
    return address


def person_name(value: str | None, field: str = "name", required: bool = True) -> str | None:
    return validate.text(value, field, max_len=200, required=required)


def password(value: str | None, field: str = "password") -> str:
    if not value or len(value) < MIN_PASSWORD:
        fail(VALIDATION, "{field_name} must have at least {min} characters", field, field_name=field, min=MIN_PASSWORD)
    if len(value) > MAX_PASSWORD:
        fail(VALIDATION, "{field_name} is longer than {max_len} characters", field, field_name=field, max_len=MAX_PASSWORD)
    return value


def role(value: str | None, field: str = "role") -> str:
    chosen = value or "MEMBER"
    if chosen not in ROLES:
        fail(VALIDATION, "role must be ADMIN, MANAGER, MEMBER or VIEWER", field)
    return chosen


def department_key(value: str | None) -> str:
    key = validate.text(value, "key", max_len=40, required=True).lower()
    if not _KEY.fullmatch(key):
        fail(VALIDATION, "key may hold lowercase letters, digits, - and _", "key")
    return key


# ------------------------------------------------------------------ one-time links


def new_link_token() -> tuple[str, str]:
    """(token for the link, hash to store): 256 random bits, only the SHA-256 kept."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def link_url(ctx: Ctx, path: str, token: str) -> str:
    """"<public url>/#/<path>/<token>", relative ("/#/...") when no public URL is set."""
    return f"{ctx.base_url.rstrip('/')}/#/{path}/{token}"


def link_status(link: m.OneTimeLink, now) -> str:
    if link.used_at is not None:
        return "ACCEPTED"
    if link.revoked_at is not None:
        return "REVOKED"
    if link.expires_at <= now:
        return "EXPIRED"
    return "PENDING"


async def find_link(session, token: str | None, kind: str | None) -> m.OneTimeLink | None:
    """The link of this token (of this kind, when given), or None."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    stmt = select(m.OneTimeLink).where(m.OneTimeLink.token_hash == token_hash(token))
    if kind is not None:
        stmt = stmt.where(m.OneTimeLink.kind == kind)
    return (await session.execute(stmt)).scalar_one_or_none()


def usable(link: m.OneTimeLink | None, now) -> m.OneTimeLink:
    """The link, or the user error saying why it cannot be used (field "token")."""
    if link is None:
        fail(NOT_FOUND, "This link is not valid; ask for a new one", "token")
    status = link_status(link, now)
    if status == "ACCEPTED":
        fail(VALIDATION, "This link has already been used", "token")
    if status == "REVOKED":
        fail(VALIDATION, "This link has been revoked; ask for a new one", "token")
    if status == "EXPIRED":
        fail(VALIDATION, "This link has expired; ask for a new one", "token")
    return link


async def claim(session, link: m.OneTimeLink, now) -> None:
    """Mark the link used, once: of concurrent uses only the first UPDATE matches."""
    result = await session.execute(
        update(m.OneTimeLink)
        .where(m.OneTimeLink.id == link.id, m.OneTimeLink.used_at.is_(None), m.OneTimeLink.revoked_at.is_(None),
               m.OneTimeLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        fail(VALIDATION, "This link has already been used", "token")
    link.used_at = now


async def revoke_links(session, now, *where) -> None:
    await session.execute(
        update(m.OneTimeLink).where(*where, m.OneTimeLink.used_at.is_(None), m.OneTimeLink.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)
    )


async def link_info(ctx: Ctx, token: str) -> tuple[m.OneTimeLink, str | None, str | None, str | None] | None:
    """(link, email, name, organization name) of a usable link of any kind; None when the
    token is unknown, used, revoked or expired. Public: it says nothing more than the
    link's holder is meant to see."""
    now = ctx.clock()
    async with ctx.db.read() as session:
        link = await find_link(session, token, None)
        if link is None or link_status(link, now) != "PENDING":
            return None
        org = await session.get(m.Organization, link.org_id) if link.org_id else None
        email, name = link.email, link.name
        if link.kind == RESET:
            user = await session.get(m.User, link.user_id)
            email, name = user.email, user.name
    return link, email, name, org.name if org else None


# ------------------------------------------------------------------ who may do what


def _admin(ctx: Ctx) -> Viewer:
    viewer = ctx.require_writer()
    if not viewer.is_admin:
        fail(FORBIDDEN, "Only an admin can manage users and departments")
    return viewer


def _admin_or_manager(ctx: Ctx) -> Viewer:
    viewer = ctx.require_writer()
    if viewer.role not in ("ADMIN", "MANAGER"):
        fail(FORBIDDEN, "Only an admin, or a manager for their own department, can manage users")
    return viewer


def _within_managed(viewer: Viewer, department_id: int, role_: str | None, field: str) -> None:
    """A manager acts only on their own department, and only on MEMBER and VIEWER roles."""
    if viewer.is_admin:
        return
    if department_id != viewer.user.department_id:
        fail(FORBIDDEN, "A manager can manage only their own department's people", field)
    if role_ is not None and role_ not in MANAGED_ROLES:
        fail(FORBIDDEN, "A manager can give only the roles MEMBER and VIEWER", "role")


def require_people_reader(ctx: Ctx) -> Viewer:
    viewer = ctx.require_viewer()
    if viewer.role not in ("ADMIN", "MANAGER"):
        raise Forbidden("Only an admin, or a manager for their own department, can see this")
    return viewer


# ------------------------------------------------------------------ rows


async def department_for(session, org_id: int, key: str | None, field: str = "departmentKey") -> m.Department:
    """An unarchived department of the organization by key (NOT_FOUND / VALIDATION)."""
    key = validate.text(key, field, max_len=40, required=True)
    dept = (await session.execute(
        select(m.Department).where(m.Department.org_id == org_id, m.Department.key == key.lower())
    )).scalar_one_or_none()
    if dept is None:
        fail(NOT_FOUND, "No department {key!r}", field, key=key)
    if dept.archived_at is not None:
        fail(VALIDATION, "The department {key!r} is archived; restore it first", field, key=dept.key)
    return dept


async def _department(uow: UnitOfWork, gid: str) -> m.Department:
    dept = (await uow.session.execute(
        select(m.Department).where(m.Department.id == decode(gid, "Department", "id"), m.Department.org_id == uow.org_id)
        .with_for_update()
    )).scalar_one_or_none()
    if dept is None:
        fail(NOT_FOUND, "No department with id {gid!r}", "id", gid=gid)
    return dept


async def _email_free(session, email: str, field: str = "email", except_id: int | None = None) -> str:
    taken = await session.scalar(select(m.User.id).where(func.lower(m.User.email) == email, m.User.id != (except_id or 0)))
    if taken is not None:
        fail(DUPLICATE, "Someone already signs in with {email}", field, email=email)
    return email


async def free_handle(session, org_id: int, email: str) -> str:
    """The @mention handle from the email, numbered when someone in the organization has it."""
    base = handle_for(email)[:50]
    taken = set((await session.execute(
        select(m.User.handle).where(m.User.org_id == org_id, m.User.handle.like(f"{base}%"))
    )).scalars())
    handle, n = base, 1
    while handle in taken:
        n += 1
        handle = f"{base}_{n}"
    return handle


async def add_user(session, org_id: int, *, email: str, name: str, department: m.Department, role_: str,
                    password_: str | None, locale: str | None = None, field: str = "email") -> m.User:
    user = m.User(
        org_id=org_id, department_id=department.id, name=name, email=email,
        handle=await free_handle(session, org_id, email), role=role_, locale=locale,
        password_hash=hash_password(password_) if password_ else None,
    )
    try:
        async with session.begin_nested():  # a savepoint: a concurrent sign-up of the same address loses here
            session.add(user)
            await session.flush()
    except IntegrityError:
        await _email_free(session, email, field)  # DUPLICATE when the address was taken meanwhile
        fail(CONFLICT, "Someone else was added at the same moment; try again", field)
    return user


def _gid(type_name: str, row) -> str:
    return to_global(type_name, row.id)


async def _user_fields(session, user: m.User) -> dict:
    key = await session.scalar(select(m.Department.key).where(m.Department.id == user.department_id))
    return {"name": user.name, "email": user.email, "department": key, "role": user.role}


async def _lock_active_admins(session, org_id: int) -> list[int]:
    """Ids of the organization's active admins, locked: concurrent demotions and
    deactivations queue here, so the last admin cannot be removed by two at once."""
    return list((await session.execute(
        select(m.User.id).where(m.User.org_id == org_id, m.User.role == "ADMIN", m.User.deactivated_at.is_(None))
        .order_by(m.User.id).with_for_update()
    )).scalars())


def _keep_an_admin(admins: list[int], user: m.User, field: str) -> None:
    """`admins`: _lock_active_admins, taken before the user's own row (one lock order)."""
    if user.role == "ADMIN" and user.deactivated_at is None and admins == [user.id]:
        fail(VALIDATION, "{name} is the last active admin; make someone else an admin first", field, name=user.name)


# ------------------------------------------------------------------ invitations


async def invite_user(ctx: Ctx, data: dict) -> tuple[m.OneTimeLink | None, str | None, bool, list[UserError]]:
    """(invite, link shown once, emailed, errors). The email goes out when SMTP is
    configured and the board's public URL is known (an emailed link must be absolute)."""
    token, digest = new_link_token()

    async def work(uow: UnitOfWork):
        viewer = _admin_or_manager(ctx)
        s = uow.session
        with validate.Checks() as check:
            email = check(email_address, data.get("email"))
            if email:
                email = await check.lookup(_email_free(s, email))
            name = check(person_name, data.get("name"), required=False)
            role_ = check(role, data.get("role"))
            dept = await check.lookup(department_for(s, uow.org_id, data.get("department_key")))
            if dept is not None and role_ is not None:
                check(_within_managed, viewer, dept.id, role_, "departmentKey")
        now = uow.now
        # A new invitation replaces the email's earlier pending ones.
        await revoke_links(s, now, m.OneTimeLink.org_id == uow.org_id, m.OneTimeLink.kind == INVITE,
                           func.lower(m.OneTimeLink.email) == email)
        invite = m.OneTimeLink(
            org_id=uow.org_id, kind=INVITE, token_hash=digest, email=email, name=name, department_id=dept.id, role=role_,
            created_by_id=viewer.id, created_at=now, expires_at=now + timedelta(hours=ctx.invite_ttl_hours),
        )
        s.add(invite)
        await s.flush()
        await record_change(uow, "invite", _gid("Invite", invite), "created", None,
                            {"email": email, "name": name, "department": dept.key, "role": role_})
        org = await s.get(m.Organization, uow.org_id)
        return invite, org

    done, errors = await mutate(ctx, work)
    if errors:
        return None, None, False, errors
    invite, org = done
    link = link_url(ctx, "join", token)
    return invite, link, await _email_invitation(ctx, invite, org, link), []


async def _email_invitation(ctx: Ctx, invite: m.OneTimeLink, org: m.Organization, link: str) -> bool:
    if ctx.send_mail is None or not ctx.base_url:
        return False
    locale = supported(org.locale) or DEFAULT
    inviter = ctx.viewer.user.name
    subject = translate(locale, "{inviter} invited you to {organization} on Baton", inviter=inviter, organization=org.name)
    text = translate(
        locale, "{inviter} invited you to join {organization} on Baton. Open this link to choose your password and "
        "sign in; it works once, until {expires} (UTC):", inviter=inviter, organization=org.name,
        expires=invite.expires_at.strftime("%Y-%m-%d %H:%M"),
    )
    try:
        await ctx.send_mail(invite.email, subject, f"{text}\n\n{link}\n")
    except Exception:  # noqa: BLE001 - the invitation stands; the link is shown to copy instead
        log.warning("emailing the invitation %s failed", invite.id, exc_info=True)
        return False
    return True


async def _invite(uow: UnitOfWork, gid: str) -> m.OneTimeLink:
    invite = (await uow.session.execute(
        select(m.OneTimeLink).where(m.OneTimeLink.id == decode(gid, "Invite", "id"), m.OneTimeLink.org_id == uow.org_id,
                                    m.OneTimeLink.kind == INVITE).with_for_update()
    )).scalar_one_or_none()
    if invite is None:
        fail(NOT_FOUND, "No invitation with id {gid!r}", "id", gid=gid)
    return invite


async def revoke_invite(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.OneTimeLink:
        viewer = _admin_or_manager(ctx)
        invite = await _invite(uow, data.get("id"))
        _within_managed(viewer, invite.department_id, None, "id")
        status = link_status(invite, uow.now)
        if status != "PENDING":
            fail(VALIDATION, "Only a pending invitation can be revoked", "id")
        invite.revoked_at = uow.now
        await record_change(uow, "invite", _gid("Invite", invite), "revoked", {"status": status}, {"status": "REVOKED"})
        return invite

    return await mutate(ctx, work)


async def list_invites(ctx: Ctx, status: str | None) -> list[m.OneTimeLink]:
    """Admins: the organization's invitations, newest first; managers: their department's."""
    viewer = require_people_reader(ctx)
    if status is not None and status not in INVITE_STATUSES:
        raise BadInput("status must be PENDING, ACCEPTED, EXPIRED or REVOKED")
    now = ctx.clock()
    link = m.OneTimeLink
    stmt = select(link).where(link.org_id == viewer.org_id, link.kind == INVITE)
    if not viewer.is_admin:
        stmt = stmt.where(link.department_id == viewer.user.department_id)
    if status == "ACCEPTED":
        stmt = stmt.where(link.used_at.is_not(None))
    elif status == "REVOKED":
        stmt = stmt.where(link.used_at.is_(None), link.revoked_at.is_not(None))
    elif status == "EXPIRED":
        stmt = stmt.where(link.used_at.is_(None), link.revoked_at.is_(None), link.expires_at <= now)
    elif status == "PENDING":
        stmt = stmt.where(link.used_at.is_(None), link.revoked_at.is_(None), link.expires_at > now)
    async with ctx.db.read() as session:
        return list((await session.execute(stmt.order_by(link.id.desc()).limit(MAX_INVITES))).scalars())


async def _public_sign_in(ctx: Ctx, token: str | None, kind: str, checks, work):
    """A public mutation through a one-time link: find it (and run the input's `checks`,
    reporting every problem at once), then `work(uow, link)` in one transaction that
    claims the link first. (token, user, errors), the user signed in by a new session."""
    try:
        now = ctx.clock()
        async with ctx.db.read() as session:
            link = await find_link(session, token, kind)
        with validate.Checks() as check:
            check(usable, link, now)
            clean = checks(check)
        signed_in = {}

        async def transaction(uow: UnitOfWork):
            await claim(uow.session, link, uow.now)
            user = await work(uow, link, clean)
            signed_in["token"], signed_in["access"] = await start_session(ctx, uow.session, user)
            return user

        user = await run_in_transaction(ctx, transaction, actor_id=None, org_id=link.org_id)
        ctx.viewer = Viewer(user=user, access=signed_in["access"])
        return signed_in["token"], user, []
    except UserErrors as exc:
        return None, None, exc.errors


async def accept_invite(ctx: Ctx, data: dict):
    """Public: the invited person chooses their name and password; signed in at once."""

    def checks(check):
        return {"name": check(person_name, data.get("name")), "password": check(password, data.get("password")),
                "locale": check(_locale, data["locale"]) if data.get("locale") is not None else None}

    async def work(uow: UnitOfWork, invite: m.OneTimeLink, clean: dict) -> m.User:
        s = uow.session
        await _email_free(s, invite.email.lower(), "token")
        dept = await s.get(m.Department, invite.department_id)
        if dept.archived_at is not None:
            fail(VALIDATION, "The department {key!r} is archived; restore it first", "token", key=dept.key)
        user = await add_user(s, uow.org_id, email=invite.email.lower(), name=clean["name"], department=dept,
                               role_=invite.role or "MEMBER", password_=clean["password"], locale=clean["locale"], field="token")
        await record_change(uow, "invite", _gid("Invite", invite), "accepted", {"status": "PENDING"},
                            {"status": "ACCEPTED", "user": _gid("User", user), "email": user.email}, actor_id=user.id)
        return user

    return await _public_sign_in(ctx, data.get("token"), INVITE, checks, work)


# ------------------------------------------------------------------ users


async def create_user(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.User:
        _admin(ctx)
        s = uow.session
        with validate.Checks() as check:
            email = check(email_address, data.get("email"))
            if email:
                email = await check.lookup(_email_free(s, email))
            name = check(person_name, data.get("name"))
            role_ = check(role, data.get("role"))
            dept = await check.lookup(department_for(s, uow.org_id, data.get("department_key")))
            secret = check(password, data["password"]) if data.get("password") is not None else None
        user = await add_user(s, uow.org_id, email=email, name=name, department=dept, role_=role_, password_=secret)
        await record_change(uow, "user", _gid("User", user), "created", None, await _user_fields(s, user))
        return user

    return await mutate(ctx, work)


async def _locked_user(uow: UnitOfWork, gid: str | None, field: str = "id") -> m.User:
    user = (await uow.session.execute(
        select(m.User).where(m.User.id == decode(gid, "User", field), m.User.org_id == uow.org_id).with_for_update()
    )).scalar_one_or_none()
    if user is None:
        fail(NOT_FOUND, "No user with id {gid!r}", field, gid=gid)
    return user


async def update_user(ctx: Ctx, data: dict):
    """Admins edit anyone; a manager edits their department's MEMBER and VIEWER users."""

    async def work(uow: UnitOfWork) -> m.User:
        viewer = _admin_or_manager(ctx)
        s = uow.session
        admins = await _lock_active_admins(s, uow.org_id)
        user = await _locked_user(uow, data.get("id"))
        _within_managed(viewer, user.department_id, user.role, "id")
        with validate.Checks() as check:
            name = check(person_name, data["name"]) if data.get("name") is not None else user.name
            email = check(email_address, data["email"]) if data.get("email") is not None else user.email
            if email and email != user.email:
                email = await check.lookup(_email_free(s, email, except_id=user.id))
            role_ = check(role, data["role"]) if data.get("role") is not None else user.role
            dept = None
            if data.get("department_key") is not None:
                dept = await check.lookup(department_for(s, uow.org_id, data["department_key"]))
            if role_ is not None:
                check(_within_managed, viewer, dept.id if dept else user.department_id, role_, "departmentKey")
            if role_ is not None and role_ != user.role and user.id == viewer.id:
                check.fail(VALIDATION, "You cannot change your own role", "role")
        if role_ != "ADMIN":
            _keep_an_admin(admins, user, "role")
        before = await _user_fields(s, user)
        user.name, user.email, user.role = name, email, role_
        if dept is not None:
            user.department_id = dept.id
        after = await _user_fields(s, user)
        if before != after:
            await record_change(uow, "user", _gid("User", user), "updated", before, after)
        return user

    return await mutate(ctx, work)


async def _live_token_ids(session, user_id: int) -> list[int]:
    return list((await session.execute(
        select(m.ApiToken.id).where(m.ApiToken.user_id == user_id, m.ApiToken.revoked_at.is_(None))
    )).scalars())


async def deactivate_user(ctx: Ctx, data: dict):
    """Admins: the user can no longer sign in; their sessions are revoked and every open
    websocket of theirs (sessions and API tokens) closes; their API tokens sign nobody in
    until they are reactivated. Not yourself, not the last active admin."""
    closed: list[int] = []

    async def work(uow: UnitOfWork) -> m.User:
        viewer = _admin(ctx)
        s = uow.session
        admins = await _lock_active_admins(s, uow.org_id)
        user = await _locked_user(uow, data.get("id"))
        if user.id == viewer.id:
            fail(VALIDATION, "You cannot deactivate yourself", "id")
        if user.deactivated_at is not None:
            return user
        _keep_an_admin(admins, user, "id")
        user.deactivated_at = uow.now
        closed.extend(await _live_token_ids(s, user.id))  # API tokens' sockets close too
        await revoke_sessions(s, user.id, uow.now)
        await revoke_links(s, uow.now, m.OneTimeLink.user_id == user.id, m.OneTimeLink.kind == RESET)
        await record_change(uow, "user", _gid("User", user), "deactivated", {"active": True}, {"active": False})
        return user

    user, errors = await mutate(ctx, work)
    if closed:
        await ctx.announce_revoked(closed)
    return user, errors


async def reactivate_user(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.User:
        _admin(ctx)
        user = await _locked_user(uow, data.get("id"))
        if user.deactivated_at is not None:
            dept = await uow.session.get(m.Department, user.department_id)
            if dept.archived_at is not None:
                fail(VALIDATION, "The department {key!r} is archived; restore it first", "id", key=dept.key)
            user.deactivated_at = None
            await record_change(uow, "user", _gid("User", user), "reactivated", {"active": False}, {"active": True})
        return user

    return await mutate(ctx, work)


async def update_my_profile(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.User:
        viewer = ctx.require_viewer()
        if viewer.scope != "write":
            fail(FORBIDDEN, "This token is read-only")
        user = await _locked_user(uow, to_global("User", viewer.id))
        with validate.Checks() as check:
            name = check(person_name, data["name"]) if data.get("name") is not None else user.name
        if name != user.name:
            await record_change(uow, "user", _gid("User", user), "updated", {"name": user.name}, {"name": name})
            user.name = viewer.user.name = name
        return user

    return await mutate(ctx, work)


# ------------------------------------------------------------------ passwords


async def change_my_password(ctx: Ctx, data: dict) -> tuple[bool, list[UserError]]:
    """The viewer's own password; their other sessions are revoked (this one stays)."""
    revoked: list[int] = []

    async def work(uow: UnitOfWork) -> bool:
        viewer = ctx.require_viewer()
        if viewer.scope != "write":
            fail(FORBIDDEN, "This token is read-only")
        user = await _locked_user(uow, to_global("User", viewer.id))
        with validate.Checks() as check:
            if not verify_password(user.password_hash, data.get("current_password") or ""):
                check.fail(VALIDATION, "The current password is wrong", "currentPassword")
            new = check(password, data.get("new_password"), "newPassword")
        user.password_hash = hash_password(new)
        others = [m.ApiToken.id != viewer.token_id] if viewer.token_id is not None else []
        revoked.extend((await uow.session.execute(
            update(m.ApiToken).where(m.ApiToken.user_id == user.id, m.ApiToken.kind == "session", m.ApiToken.revoked_at.is_(None), *others)
            .values(revoked_at=uow.now).returning(m.ApiToken.id)
        )).scalars())
        await record_change(uow, "user", _gid("User", user), "passwordChanged")
        return True

    changed, errors = await mutate(ctx, work)
    await ctx.announce_revoked(revoked)
    return bool(changed), errors


async def create_password_reset(ctx: Ctx, data: dict) -> tuple[str | None, m.OneTimeLink | None, list[UserError]]:
    """Admins: a reset link for a user, valid 24 hours; the user's earlier unused ones are revoked."""
    token, digest = new_link_token()

    async def work(uow: UnitOfWork) -> m.OneTimeLink:
        viewer = _admin(ctx)
        user = await _locked_user(uow, data.get("id"))
        if user.deactivated_at is not None:
            fail(VALIDATION, "{name} is deactivated; reactivate them first", "id", name=user.name)
        await revoke_links(uow.session, uow.now, m.OneTimeLink.user_id == user.id, m.OneTimeLink.kind == RESET)
        link = m.OneTimeLink(org_id=uow.org_id, kind=RESET, token_hash=digest, user_id=user.id, created_by_id=viewer.id,
                             created_at=uow.now, expires_at=uow.now + timedelta(hours=RESET_HOURS))
        uow.session.add(link)
        await uow.session.flush()
        await record_change(uow, "user", _gid("User", user), "passwordResetCreated")
        return link

    link, errors = await mutate(ctx, work)
    return (link_url(ctx, "reset", token) if link else None), link, errors


async def reset_password(ctx: Ctx, data: dict):
    """Public: a new password through a reset link; signed in, every other session revoked."""
    revoked: list[int] = []

    def checks(check):
        return {"password": check(password, data.get("new_password"), "newPassword")}

    async def work(uow: UnitOfWork, link: m.OneTimeLink, clean: dict) -> m.User:
        user = await _locked_user(uow, to_global("User", link.user_id), "token")
        if user.deactivated_at is not None:
            fail(VALIDATION, "This account has been deactivated; ask an administrator", "token")
        user.password_hash = hash_password(clean["password"])
        revoked.extend(await revoke_sessions(uow.session, user.id, uow.now))
        await record_change(uow, "user", _gid("User", user), "passwordReset", actor_id=user.id)
        return user

    result = await _public_sign_in(ctx, data.get("token"), RESET, checks, work)
    await ctx.announce_revoked(revoked)
    return result


# ------------------------------------------------------------------ departments


async def create_department(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Department:
        _admin(ctx)
        s = uow.session
        existing = list((await s.execute(
            select(m.Department.key).where(m.Department.org_id == uow.org_id).with_for_update()
        )).scalars())
        with validate.Checks() as check:
            key = check(department_key, data.get("key"))
            if key in existing:
                check.fail(DUPLICATE, "The organization already has a department {key!r}", "key", key=key)
            name = check(validate.text, data.get("name"), "name", max_len=100, required=True)
        if len(existing) >= MAX_DEPARTMENTS:
            fail(VALIDATION, "An organization has at most {max_departments} departments", "key", max_departments=MAX_DEPARTMENTS)
        dept = m.Department(org_id=uow.org_id, key=key, name=name)
        s.add(dept)
        await s.flush()
        await record_change(uow, "department", _gid("Department", dept), "created", None, {"key": key, "name": name})
        return dept

    return await mutate(ctx, work)


async def update_department(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Department:
        _admin(ctx)
        dept = await _department(uow, data.get("id"))
        with validate.Checks() as check:
            name = check(validate.text, data["name"], "name", max_len=100, required=True) if data.get("name") is not None else dept.name
        if name != dept.name:
            await record_change(uow, "department", _gid("Department", dept), "updated", {"name": dept.name}, {"name": name})
            dept.name = name
        return dept

    return await mutate(ctx, work)


async def archive_department(ctx: Ctx, data: dict):
    """Refused while the department has active members (integration members of its API
    tokens aside) or holds cards in an OPEN stage."""

    async def work(uow: UnitOfWork) -> m.Department:
        _admin(ctx)
        s = uow.session
        dept = await _department(uow, data.get("id"))
        if dept.archived_at is not None:
            return dept
        with validate.Checks() as check:
            members = await s.scalar(select(func.count()).select_from(m.User).where(
                m.User.department_id == dept.id, m.User.deactivated_at.is_(None), ~m.User.email.like(INTEGRATION_EMAIL)))
            if members:
                check.fail(VALIDATION, "{department} still has {count} active members; move or deactivate them first",
                           "id", department=dept.name, count=members)
            cards = await s.scalar(select(func.count()).select_from(m.Opportunity)
                                   .join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
                                   .where(m.Opportunity.department_id == dept.id, m.Stage.kind == "OPEN"))
            if cards:
                check.fail(VALIDATION, "{department} still holds {count} open cards; hand them to another department first",
                           "id", department=dept.name, count=cards)
        dept.archived_at = uow.now
        await record_change(uow, "department", _gid("Department", dept), "archived", {"archived": False}, {"archived": True})
        return dept

    return await mutate(ctx, work)


async def restore_department(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Department:
        _admin(ctx)
        dept = await _department(uow, data.get("id"))
        if dept.archived_at is not None:
            dept.archived_at = None
            await record_change(uow, "department", _gid("Department", dept), "restored", {"archived": True}, {"archived": False})
        return dept

    return await mutate(ctx, work)


async def department_managers(ctx: Ctx, department_id: int) -> list[m.User]:
    """A department's active MANAGER-role users, by name."""
    async with ctx.db.read() as session:
        return list((await session.execute(
            select(m.User).where(m.User.department_id == department_id, m.User.role == "MANAGER", m.User.deactivated_at.is_(None))
            .order_by(m.User.name, m.User.id).limit(MAX_USERS)
        )).scalars())

