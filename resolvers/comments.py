"""Comments with @mentions: `@handle` notifies a user, `@sales` a whole department."""
import re

from sqlalchemy import func, select

from db import models as m
from resolvers import validate
from resolvers.context import Ctx
from resolvers.errors import NOT_FOUND, fail
from resolvers.ids import decode
from resolvers.paging import Page, child_page, page_size
from resolvers.rows import locked_opportunity
from resolvers.uow import UnitOfWork, mutate

MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_][A-Za-z0-9_.-]*)")


async def resolve_mentions(session, org_id: int, body: str) -> tuple[list[m.User], list[m.Department]]:
    names = {name.rstrip(".").lower() for name in MENTION.findall(body)}
    if not names:
        return [], []
    users = list(
        (await session.execute(select(m.User).where(m.User.org_id == org_id, func.lower(m.User.handle).in_(names)))).scalars()
    )
    taken = {u.handle.lower() for u in users}
    departments = list(
        (
            await session.execute(
                select(m.Department).where(m.Department.org_id == org_id, m.Department.key.in_(names - taken))
            )
        ).scalars()
    )
    return users, departments


async def _task_on(session, opp: m.Opportunity, gid: str) -> m.Task:
    task = await session.get(m.Task, decode(gid, "Task", "taskId"))
    if task is None or task.opportunity_id != opp.id:
        fail(NOT_FOUND, "That task is not on this opportunity", "taskId")
    return task


async def add_comment(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Comment:
        viewer = ctx.require_writer()
        opp = await locked_opportunity(uow, data["opportunity_id"])
        with validate.Checks() as check:
            body = check(validate.text, data.get("body"), "body", max_len=10000, required=True)
            task = await check.lookup(_task_on(uow.session, opp, data["task_id"])) if data.get("task_id") else None
        task_id = task.id if task else None
        users, departments = await resolve_mentions(uow.session, uow.org_id, body)
        comment = m.Comment(
            org_id=uow.org_id, opportunity_id=opp.id, task_id=task_id, author_id=viewer.id, body=body,
            mention_user_ids=[u.id for u in users], created_at=uow.now,
        )
        uow.session.add(comment)
        await uow.session.flush()
        event = await uow.append_event(
            "COMMENT_ADDED", opportunity_id=opp.id, task_id=task_id, comment_id=comment.id,
            department_ids=(opp.department_id, *(d.id for d in departments)),
        )
        excerpt = body if len(body) <= 140 else body[:139] + "…"
        uow.notify([u.id for u in users], "mention", "{user} mentioned you on {opp}: {excerpt}", opportunity_id=opp.id, event=event, user=viewer.user.name, opp=opp.title, excerpt=excerpt)
        if departments:
            members = (
                await uow.session.execute(
                    select(m.User.id).where(m.User.department_id.in_([d.id for d in departments]), m.User.role != "VIEWER")
                )
            ).scalars()
            names = ", ".join("@" + d.key for d in departments)
            uow.notify(list(members), "mention", "{user} mentioned {names} on {opp}: {excerpt}", opportunity_id=opp.id, event=event, user=viewer.user.name, names=names, opp=opp.title, excerpt=excerpt)
        return comment

    return await mutate(ctx, work)


async def opportunity_comments(ctx: Ctx, opportunity_id: int, first, after) -> Page:
    """A card's comments, oldest first; every card's comments load in one statement."""
    size = page_size(first, ctx.max_page_size)
    return await child_page(ctx.loaders, "comments", m.Comment, m.Comment.opportunity_id, opportunity_id, size, after, newest_first=False)
