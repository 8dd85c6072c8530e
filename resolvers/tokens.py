"""Long-lived API tokens for departmental tools, managed by admins through the API.
(`baton token create` issues them from the command line.) Only the hash is kept;
the token itself is returned once, at creation. A token creating tokens hands out
at most its own rights (`Viewer.delegate`).

A token always acts as a user, with that user's access rules. A department token
made without a user acts as the department's integration member (a MEMBER of it,
made on first use), so a "finance" tool reads what a finance member reads, not
what the admin who made it reads. Webhook endpoints act as someone the same way."""
from sqlalchemy import select

from db import models as m
from resolvers import validate
from resolvers.audit import record_change
from resolvers.auth import issue_token, revoke_sessions
from resolvers.context import SCOPES, Ctx, Viewer
from resolvers.errors import FORBIDDEN, NOT_FOUND, VALIDATION, UserError, UserErrors, fail
from resolvers.ids import decode, to_global
from resolvers.paging import BadInput, Page, statement_page
from resolvers.rows import org_user
from resolvers.uow import UnitOfWork, publish_events


class Forbidden(BadInput):
    """A query only admins may run: a GraphQL error with code FORBIDDEN (not masked)."""

    extensions = {"code": "FORBIDDEN"}


def require_admin_query(ctx: Ctx) -> Viewer:
    viewer = ctx.require_viewer()
    if not viewer.is_admin:
        raise Forbidden("Only an admin can see this")
    return viewer


def require_admin(ctx: Ctx) -> Viewer:
    """For mutations: a FORBIDDEN user error unless an admin with a writing token asks."""
    viewer = ctx.require_writer()
    if not viewer.is_admin:
        fail(FORBIDDEN, "Only an admin can do this")
    return viewer


async def department_by_key(session, org_id: int, key: str, field: str) -> m.Department:
    dept = (
        await session.execute(select(m.Department).where(m.Department.org_id == org_id, m.Department.key == key))
    ).scalar_one_or_none()
    if dept is None:
        fail(NOT_FOUND, "No department {key!r}", field, key=key)
    return dept


async def department_member(session, org_id: int, department: m.Department) -> m.User:
    """The user a department's tools act as: a MEMBER of it without a password."""
    email = f"integration+{department.key}.{org_id}@baton.invalid"
    user = (await session.execute(select(m.User).where(m.User.email == email))).scalar_one_or_none()
    if user is None:
        user = m.User(
            org_id=org_id, department_id=department.id, name=f"{department.name} integration", email=email,
            handle=f"{department.key}_integration", role="MEMBER", password_hash=None,
        )
        session.add(user)
        await session.flush()
    return user


def _scope(value: str | None) -> str:
    scope = (value or "READ").lower()
    if scope not in SCOPES:
        fail(VALIDATION, "scope must be READ or WRITE", "scope")
    return scope


async def create_api_token(ctx: Ctx, data: dict) -> tuple[str | None, m.ApiToken | None, list[UserError]]:
    try:
        viewer = require_admin(ctx)
        async with ctx.db.write() as session:
            with validate.Checks() as check:
                name = check(validate.text, data.get("name"), "name", max_len=100, required=True)
                scope = check(_scope, data.get("scope"))
                department = None
                if data.get("department_key"):
                    department = await check.lookup(department_by_key(session, viewer.org_id, data["department_key"], "departmentKey"))
                user = viewer.user
                if data.get("user_id"):
                    user = await check.lookup(org_user(session, viewer.org_id, data["user_id"], "userId", active=False))
                    if user is not None and user.deactivated_at is not None:
                        check.fail(VALIDATION, "{name} is deactivated; a token acting as them would not work", "userId", name=user.name)
            if department is not None and not data.get("user_id") and viewer.kind == "session":
                user = await department_member(session, viewer.org_id, department)
            department_id = department.id if department else None
            expires_at = viewer.delegate(scope=scope, department_id=department_id, user_id=user.id)
            token, row = await issue_token(
                session, user, kind="api", now=ctx.clock(), name=name, scope=scope, department_id=department_id,
                expires_at=expires_at,
            )
            log = UnitOfWork(ctx, session, viewer.org_id, viewer.id)  # the configuration log; never the token itself
            await record_change(log, "apiToken", to_global("ApiToken", row.id), "created", after={
                "name": name, "scope": scope.upper(), "departmentKey": department.key if department else None,
                "actsAs": to_global("User", user.id), "expiresAt": expires_at.isoformat() if expires_at else None})
            await log.write_log()
        await publish_events(ctx, log)
        return token, row, []
    except UserErrors as exc:
        return None, None, exc.errors


async def revoke_api_token(ctx: Ctx, data: dict) -> tuple[m.ApiToken | None, list[UserError]]:
    try:
        viewer = require_admin(ctx)
        pk = decode(data.get("id"), "ApiToken", "id")
        async with ctx.db.write() as session:
            log = UnitOfWork(ctx, session, viewer.org_id, viewer.id)
            row = await session.get(m.ApiToken, pk)
            if row is None or row.org_id != viewer.org_id or row.kind != "api":
                fail(NOT_FOUND, "No API token with id {id!r}", "id", id=data.get('id'))
            if row.revoked_at is None:
                row.revoked_at = ctx.clock()
                await record_change(log, "apiToken", to_global("ApiToken", row.id), "revoked",
                                    before={"revoked": False}, after={"name": row.name, "revoked": True})
                await log.write_log()
        await publish_events(ctx, log)
        # Also when it was revoked before: an earlier announcement may have been lost.
        await ctx.announce_revoked([row.id])
        return row, []
    except UserErrors as exc:
        return None, exc.errors


async def revoke_user_sessions(ctx: Ctx, data: dict) -> tuple[int, list[UserError]]:
    """Sign a user out everywhere (admins): revoke their sessions, close their sockets.
    Their API tokens stay; revoke those one by one."""
    try:
        viewer = require_admin(ctx)
        async with ctx.db.write() as session:
            user = await org_user(session, viewer.org_id, data.get("user_id"), "userId", active=False)
            revoked = await revoke_sessions(session, user.id, ctx.clock())
            log = UnitOfWork(ctx, session, viewer.org_id, viewer.id)
            await record_change(log, "user", to_global("User", user.id), "signedOut", after={"revokedSessions": len(revoked)})
            await log.write_log()
        await publish_events(ctx, log)
        await ctx.announce_revoked(revoked)
        return len(revoked), []
    except UserErrors as exc:
        return 0, exc.errors


def _api_tokens_query(ctx: Ctx, include_revoked: bool):
    viewer = require_admin_query(ctx)
    stmt = select(m.ApiToken).where(m.ApiToken.org_id == viewer.org_id, m.ApiToken.kind == "api")
    if not include_revoked:
        stmt = stmt.where(m.ApiToken.revoked_at.is_(None))
    return stmt


async def api_tokens_page(ctx: Ctx, include_revoked: bool, first: int | None, after: str | None) -> Page:
    """`list_api_tokens` in pages, oldest first (admins only, as the list)."""
    stmt = _api_tokens_query(ctx, include_revoked)
    return await statement_page(ctx.loaders, stmt, m.ApiToken.id, first, after, ctx.max_page_size, newest_first=False)


async def list_api_tokens(ctx: Ctx, include_revoked: bool = False) -> list[m.ApiToken]:
    stmt = _api_tokens_query(ctx, include_revoked)
    async with ctx.db.read() as session:
        return list((await session.execute(stmt.order_by(m.ApiToken.id))).scalars())
