"""The inbox: list a viewer's notifications, mark them read, and who to notify."""
from sqlalchemy import func, select, update

from db import models as m
from resolvers.context import Ctx
from resolvers.errors import FORBIDDEN, fail
from resolvers.i18n import translate
from resolvers.ids import decode
from resolvers.paging import keyset, page_size, to_page
from resolvers.uow import UnitOfWork, mutate
from resolvers.visibility import conditions, ensure_access, on_visible_card


async def department_member_ids(session, *department_ids: int | None) -> list[int]:
    """Users who act for a department (viewers only watch, so they are not notified)."""
    ids = {i for i in department_ids if i is not None}
    if not ids:
        return []
    return list(
        (await session.execute(select(m.User.id).where(m.User.department_id.in_(ids), m.User.role != "VIEWER"))).scalars()
    )


def message_in(note: m.Notification, locale: str | None) -> str:
    """A notification's text in `locale`; entries written before templates were kept
    (no template) read as they were written."""
    if not note.template:
        return note.message
    try:
        return translate(locale, note.template, **(note.params or {}))[:500]
    except (KeyError, IndexError, ValueError, AttributeError):
        return note.message


def _inbox(viewer_id: int, unread_only: bool) -> list:
    conds = [m.Notification.user_id == viewer_id]
    if unread_only:
        conds.append(m.Notification.read_at.is_(None))
    return conds


async def _visible_inbox(ctx: Ctx, unread_only: bool) -> list:
    """The inbox without notifications about cards the viewer (no longer) sees."""
    viewer = ctx.require_viewer()
    access = await ensure_access(ctx)
    return _inbox(viewer.id, unread_only) + conditions(on_visible_card(m.Notification.opportunity_id, access, viewer.org_id, nullable=True))


async def unread_count(ctx: Ctx) -> int:
    stmt = select(func.count()).select_from(m.Notification).where(*await _visible_inbox(ctx, True))
    return (await ctx.loaders.rows(stmt))[0][0]


async def list_notifications(ctx: Ctx, unread_only: bool | None, first: int | None, after: str | None):
    """Newest first; the page's `count` is the total of the (filtered) inbox."""
    conds = await _visible_inbox(ctx, bool(unread_only))
    size = page_size(first, ctx.max_page_size)
    rows = await ctx.loaders.all(keyset(select(m.Notification).where(*conds), m.Notification.id, size, after))

    async def count() -> int:
        return (await ctx.loaders.rows(select(func.count()).select_from(m.Notification).where(*conds)))[0][0]

    return to_page(rows, size, after, count=count)


async def mark_read(ctx: Ctx, ids: list[str] | None) -> tuple[int | None, list]:
    """Mark the viewer's own notifications read (all when `ids` is None). Personal
    inbox state, not a change to the board: no event is appended."""
    viewer = ctx.require_viewer()

    async def work(uow: UnitOfWork) -> int:
        if viewer.scope != "write":
            fail(FORBIDDEN, "This token is read-only")
        conds = _inbox(viewer.id, True)
        if ids is not None:
            conds.append(m.Notification.id.in_([decode(gid, "Notification", "ids") for gid in ids]))
        await uow.session.execute(update(m.Notification).where(*conds).values(read_at=uow.now))
        access = await ensure_access(ctx, uow.session)
        visible = conditions(on_visible_card(m.Notification.opportunity_id, access, viewer.org_id, nullable=True))
        return await uow.session.scalar(select(func.count()).select_from(m.Notification).where(*_inbox(viewer.id, True), *visible))

    return await mutate(ctx, work)
