"""Passwords, bearer tokens and sign-in. Tokens are random secrets; only their
SHA-256 is stored, so a leaked database yields no usable token."""
import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, func, select, update

from db import models as m
from resolvers.context import Ctx, Viewer
from resolvers.errors import VALIDATION, UserError

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
    scope: str = "write", department_id: int | None = None,
) -> tuple[str, m.ApiToken]:
    token, digest = new_token()
    row = m.ApiToken(
        org_id=user.org_id, user_id=user.id, kind=kind, name=name, token_hash=digest, scope=scope,
        department_id=department_id, created_at=now,
        expires_at=now + timedelta(hours=hours) if hours else None,
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
        token, _ = await issue_token(session, user, kind="session", now=ctx.clock(), hours=ctx.session_hours)
    # The rest of this request (the payload's nested fields) sees the new session.
    ctx.viewer = Viewer(user=user)
    return token, user, []


# Every request runs this statement: built once, not per request.
_SIGN_IN = (
    select(m.ApiToken, m.User, m.Organization.event_seq)
    .join(m.User, m.User.id == m.ApiToken.user_id)
    .join(m.Organization, m.Organization.id == m.User.org_id)
    .where(m.ApiToken.token_hash == bindparam("token_hash"), m.ApiToken.revoked_at.is_(None))
)


async def viewer_for_token(ctx: Ctx, token: str) -> Viewer | None:
    """The viewer a bearer token stands for, or None if it is unknown, expired or revoked."""
    now = ctx.clock()
    async with ctx.db.read_one() as session:
        row = (await session.execute(_SIGN_IN, {"token_hash": token_hash(token)})).first()
    if row is None:
        return None
    api_token, user, org_seq = row
    if api_token.expires_at is not None and api_token.expires_at <= now:
        return None
    if api_token.kind == "api" and (api_token.last_used_at is None or now - api_token.last_used_at > timedelta(minutes=1)):
        # Last-used time at minute precision: one write per token per minute at most.
        async with ctx.db.write() as session:
            await session.execute(update(m.ApiToken).where(m.ApiToken.id == api_token.id).values(last_used_at=now))
    return Viewer(
        user=user, scope=api_token.scope, department_id=api_token.department_id, token_id=api_token.id, org_seq=org_seq
    )


async def revoke_token(ctx: Ctx, token: str) -> bool:
    async with ctx.db.write() as session:
        result = await session.execute(
            update(m.ApiToken)
            .where(m.ApiToken.token_hash == token_hash(token), m.ApiToken.revoked_at.is_(None))
            .values(revoked_at=ctx.clock())
        )
        return result.rowcount > 0
