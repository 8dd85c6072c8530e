"""Passwords, bearer tokens and sign-in. Tokens are random secrets; only their
SHA-256 is stored, so a leaked database yields no usable token."""
import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import aliased

from db import models as m
from db.engine import Database
from resolvers.context import Ctx, Viewer
from resolvers.errors import VALIDATION, UserError
from resolvers.visibility import access_of, load_access

_hasher = PasswordHasher()
# Verified against when the email is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> tuple[str, str]:
    """(token for the client, hash to store)."""
    token = "bt_" + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    session, user: m.User, *, kind: str, now, hours: int | None = None, name: str = "",
    scope: str = "write", department_id: int | None = None, expires_at=None,
) -> tuple[str, m.ApiToken]:
    token, digest = new_token()
    row = m.ApiToken(
        org_id=user.org_id, user_id=user.id, kind=kind, name=name, token_hash=digest, scope=scope,
        department_id=department_id, created_at=now,
        expires_at=expires_at or (now + timedelta(hours=hours) if hours else None),
    )
    session.add(row)
    await session.flush()
    return token, row


async def login(ctx: Ctx, email: str, password: str) -> tuple[str | None, m.User | None, list[UserError]]:
    async with ctx.db.write() as session:
        user = (
            await session.execute(select(m.User).where(func.lower(m.User.email) == email.strip().lower()))
        ).scalar_one_or_none()
        if not verify_password(user.password_hash if user else None, password):
            return None, None, [UserError(VALIDATION, "Email or password is wrong", ["password"])]
        if user.deactivated_at is not None:
            return None, None, [UserError(VALIDATION, "This account has been deactivated; ask an administrator", ["email"])]
        token, access = await start_session(ctx, session, user)
    # The rest of this request (the payload's nested fields) sees the new session.
    ctx.viewer = Viewer(user=user, access=access)
    return token, user, []


async def start_session(ctx: Ctx, session, user: m.User):
    """(token, access) of a new sign-in session for `user` (login, accepted invitations,
    password resets, the first run); the caller sets ctx.viewer once it has committed."""
    token, _ = await issue_token(session, user, kind="session", now=ctx.clock(), hours=ctx.session_hours)
    return token, await load_access(session, user)


# Every request runs this statement: built once, not per request. It also brings the
# user's access rules (their role's rule for their department and for every department),
# so reading with rules on costs no statement more.
_DEPARTMENT_RULE, _ROLE_RULE = aliased(m.AccessRule), aliased(m.AccessRule)
_SIGN_IN = (
    select(
        m.ApiToken, m.User, m.Organization.event_seq, m.Organization.events_removed_through, m.Organization.locale, m.Department.key,
        _DEPARTMENT_RULE.scope, _DEPARTMENT_RULE.hidden_fields, _ROLE_RULE.scope, _ROLE_RULE.hidden_fields,
    )
    .join(m.User, m.User.id == m.ApiToken.user_id)
    .join(m.Organization, m.Organization.id == m.User.org_id)
    .join(m.Department, m.Department.id == m.User.department_id)
    .outerjoin(_DEPARTMENT_RULE, and_(
        _DEPARTMENT_RULE.org_id == m.User.org_id, _DEPARTMENT_RULE.role == m.User.role,
        _DEPARTMENT_RULE.department_key == m.Department.key,
    ))
    .outerjoin(_ROLE_RULE, and_(
        _ROLE_RULE.org_id == m.User.org_id, _ROLE_RULE.role == m.User.role, _ROLE_RULE.department_key == "",
    ))
    # A deactivated user's sessions are revoked; their API tokens stay but sign nobody in.
    .where(m.ApiToken.token_hash == bindparam("token_hash"), m.ApiToken.revoked_at.is_(None), m.User.deactivated_at.is_(None))
)


# A token's last use is written at most this often, not on every request: admins see
# an API token's (minute precision); a session needs it only for its idle expiry (hours).
_TOUCH_EVERY = {"api": timedelta(minutes=1), "session": timedelta(minutes=5)}


async def viewer_for_token(ctx: Ctx, token: str) -> Viewer | None:
    """The viewer a bearer token stands for, or None if it is unknown, expired, revoked
    or (a session) idle for longer than `ctx.session_idle_hours`."""
    now = ctx.clock()
    async with ctx.db.read_one() as session:
        row = (await session.execute(_SIGN_IN, {"token_hash": token_hash(token)})).first()
    if row is None:
        return None
    api_token, user, org_seq, log_floor, org_locale, department_key, department_scope, department_hidden, role_scope, role_hidden = row
    if api_token.expires_at is not None and api_token.expires_at <= now:
        return None
    # A session counts as used when it is issued; an API token shows "never used" until it is.
    last_used = api_token.last_used_at or (api_token.created_at if api_token.kind == "session" else None)
    if api_token.kind == "session" and ctx.session_idle_hours and now - last_used > timedelta(hours=ctx.session_idle_hours):
        return None
    if last_used is None or now - last_used > _TOUCH_EVERY[api_token.kind]:
        async with ctx.db.write() as session:
            await session.execute(update(m.ApiToken).where(m.ApiToken.id == api_token.id).values(last_used_at=now))
    rules = [(key, scope, hidden) for key, scope, hidden in (
        (department_key, department_scope, department_hidden), ("", role_scope, role_hidden)) if scope is not None]
    return Viewer(
        user=user, scope=api_token.scope, department_id=api_token.department_id, token_id=api_token.id,
        kind=api_token.kind, expires_at=api_token.expires_at, org_seq=org_seq, log_floor=log_floor, org_locale=org_locale,
        access=access_of(user, department_key, rules),
    )


async def _revoke(session, now, *where) -> list[int]:
    """Revoke the live tokens matching `where`; the ids revoked."""
    return list((await session.execute(
        update(m.ApiToken).where(*where, m.ApiToken.revoked_at.is_(None)).values(revoked_at=now).returning(m.ApiToken.id)
    )).scalars())


async def revoke_token(ctx: Ctx, token: str) -> bool:
    async with ctx.db.write() as session:
        revoked = await _revoke(session, ctx.clock(), m.ApiToken.token_hash == token_hash(token))
    await ctx.announce_revoked(revoked)
    return bool(revoked)


async def revoke_sessions(session, user_id: int, now) -> list[int]:
    """Revoke every live sign-in session of a user; the ids revoked."""
    return await _revoke(session, now, m.ApiToken.user_id == user_id, m.ApiToken.kind == "session")


async def logout(ctx: Ctx) -> bool:
    """Revoke the token this request is signed in with and close its open websockets.
    False when it was not revoked by this call (no token, or already revoked)."""
    token_id = ctx.require_viewer().token_id
    if token_id is None:
        return False
    async with ctx.db.write() as session:
        revoked = await _revoke(session, ctx.clock(), m.ApiToken.id == token_id)
    await ctx.announce_revoked([token_id])
    return bool(revoked)


async def dead_tokens(db: Database, token_ids, now) -> set[int]:
    """Which of these tokens no longer sign anyone in: revoked, expired, or their user's
    deactivated. (The periodic check of open websockets; idle expiry is checked when a
    token is presented.)"""
    ids = sorted(token_ids)
    dead: set[int] = set()
    async with db.read() as session:
        for i in range(0, len(ids), 500):
            dead.update((await session.execute(
                select(m.ApiToken.id).join(m.User, m.User.id == m.ApiToken.user_id).where(
                    m.ApiToken.id.in_(ids[i:i + 500]),
                    or_(m.ApiToken.revoked_at.is_not(None), m.ApiToken.expires_at <= now, m.User.deactivated_at.is_not(None)),
                )
            )).scalars())
    return dead
