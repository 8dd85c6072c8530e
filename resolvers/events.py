"""Reading the event log: polling (`events`) and a card's timeline (`history`)."""
from sqlalchemy import func, select

from db import models as m
from resolvers.context import Ctx
from resolvers.paging import BadInput, Page, child_page, page_size

EVENT_TYPES = (
    "OPPORTUNITY_CREATED", "OPPORTUNITY_UPDATED", "OPPORTUNITY_MOVED", "OPPORTUNITY_LOST",
    "TASK_CREATED", "TASK_UPDATED", "COMMENT_ADDED", "HANDOFF_REQUESTED", "HANDOFF_RESOLVED",
    "APPROVAL_REQUESTED", "APPROVAL_DECIDED", "ALERT_RAISED",
    # Additions to the contract's list:
    "PIPELINE_UPDATED",  # an admin changed a pipeline's stages or gates
)


def _seq(event: m.Event) -> int:
    return event.seq


async def list_events(ctx: Ctx, after: int | None, first: int | None) -> Page:
    """Events with seq > after, oldest first; the cursor of each edge is its seq."""
    org_id = ctx.require_viewer().org_id
    if after is not None and after < 0:
        raise BadInput("after must not be negative")
    size = page_size(first, ctx.max_page_size, default=ctx.max_page_size)
    conds = [m.Event.org_id == org_id, m.Event.seq > (after or 0)]
    rows = await ctx.loaders.all(select(m.Event).where(*conds).order_by(m.Event.seq).limit(size + 1))

    async def count() -> int:
        return (await ctx.loaders.rows(select(func.count()).select_from(m.Event).where(*conds)))[0][0]

    page = Page(items=rows[:size], has_next=len(rows) > size, has_previous=bool(after), key=_seq, count=count)
    return page


async def opportunity_history(ctx: Ctx, opportunity_id: int, first: int | None, after: str | None) -> Page:
    """A card's timeline, newest first (cursor: the event's row id)."""
    size = page_size(first, ctx.max_page_size)
    return await child_page(ctx.loaders, "history", m.Event, m.Event.opportunity_id, opportunity_id, size, after, newest_first=True)
