"""Tasks on an opportunity: create, edit, complete; list by assignee/department/status."""
from sqlalchemy import func, select

from db import models as m
from resolvers import validate
from resolvers.context import Ctx
from resolvers.errors import CONFLICT, NOT_FOUND, VALIDATION, fail
from resolvers.ids import decode, parse_global
from resolvers.paging import Page, child_page, keyset, page_size, to_page
from resolvers.rows import jsonable, locked_opportunity, org_user
from resolvers.uow import UnitOfWork, mutate
from resolvers.visibility import conditions, ensure_access, on_visible_card

STATUSES = ("OPEN", "IN_PROGRESS", "DONE", "CANCELLED")
ACTIVE = ("OPEN", "IN_PROGRESS")


async def _department(session, org_id: int, key: str) -> m.Department:
    dept = (
        await session.execute(select(m.Department).where(m.Department.org_id == org_id, m.Department.key == key))
    ).scalar_one_or_none()
    if dept is None:
        fail(VALIDATION, "Unknown department {key!r}", "departmentKey", key=key)
    return dept


TEXT = {
    "title": lambda v: validate.text(v, "title", max_len=200, required=True),
    "description": lambda v: validate.text(v, "description", max_len=5000),
}


async def create_task(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Task:
        viewer = ctx.require_writer()
        s = uow.session
        opp = await locked_opportunity(uow, data["opportunity_id"])
        with validate.Checks() as check:
            title = check(TEXT["title"], data.get("title"))
            description = check(TEXT["description"], data.get("description"))
            assignee = department = None
            if data.get("assignee_id"):
                assignee = await check.lookup(org_user(s, uow.org_id, data["assignee_id"], "assigneeId"))
            if data.get("department_key"):
                department = await check.lookup(_department(s, uow.org_id, data["department_key"]))
        department_id = department.id if department else (assignee or opp).department_id
        now = uow.now
        task = m.Task(
            org_id=uow.org_id, opportunity_id=opp.id, department_id=department_id,
            assignee_id=assignee.id if assignee else None, title=title, description=description,
            status="OPEN", due_at=data.get("due_at"), created_at=now, updated_at=now, version=1,
        )
        uow.session.add(task)
        await uow.session.flush()
        event = await uow.append_event(
            "TASK_CREATED", opportunity_id=opp.id, task_id=task.id,
            department_ids=(department_id, opp.department_id),
        )
        if assignee:
            uow.notify([assignee.id], "assigned", "{user} assigned you “{task}” on {opp}", opportunity_id=opp.id, event=event, user=viewer.user.name, task=title, opp=opp.title)
        return task

    return await mutate(ctx, work)


async def update_task(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Task:
        viewer = ctx.require_writer()
        pk = decode(data["id"], "Task", "id")
        access = await ensure_access(ctx, uow.session)
        task = (
            await uow.session.execute(
                select(m.Task).where(
                    m.Task.id == pk, m.Task.org_id == uow.org_id, *conditions(on_visible_card(m.Task.opportunity_id, access, uow.org_id))
                ).with_for_update(of=m.Task)
            )
        ).scalar_one_or_none()
        if task is None:
            fail(NOT_FOUND, "No task with id {id!r}", "id", id=data['id'])
        if task.version != data["version"]:
            fail(CONFLICT, "Someone else changed this task (now version {version}); reload and retry", "version", version=task.version)
        with validate.Checks() as check:
            text = {key: check(clean, data[key]) for key, clean in TEXT.items() if key in data}
            assignee = None
            if data.get("assignee_id"):
                assignee = await check.lookup(org_user(uow.session, uow.org_id, data["assignee_id"], "assigneeId"))
        changes = {}

        def change(attr, api_name, new):
            old = getattr(task, attr)
            if new != old:
                changes[api_name] = [jsonable(old), jsonable(new)]
                setattr(task, attr, new)

        for key, value in text.items():
            change(key, key, value)
        if "due_at" in data:
            change("due_at", "dueAt", data["due_at"])
        if "status" in data and data["status"] is not None:
            change("status", "status", data["status"])
            task.completed_at = uow.now if task.status == "DONE" else None
        if "assignee_id" in data:
            change("assignee_id", "assignee", assignee.id if assignee else None)
        if not changes:
            return task
        task.version += 1
        task.updated_at = uow.now
        opp = await uow.session.get(m.Opportunity, task.opportunity_id)
        event = await uow.append_event(
            "TASK_UPDATED", opportunity_id=task.opportunity_id, task_id=task.id, changes=changes,
            department_ids=(task.department_id, opp.department_id),
        )
        if assignee is not None and "assignee" in changes:
            uow.notify([assignee.id], "assigned", "{user} assigned you “{task}” on {opp}", opportunity_id=opp.id, event=event, user=viewer.user.name, task=task.title, opp=opp.title)
        return task

    return await mutate(ctx, work)


def is_overdue(task: m.Task, now) -> bool:
    return task.status in ACTIVE and task.due_at is not None and task.due_at < now


async def list_tasks(ctx: Ctx, assignee_gid, department_key, statuses, first, after) -> Page:
    org_id = ctx.require_viewer().org_id
    access = await ensure_access(ctx)
    conds = [m.Task.org_id == org_id, *conditions(on_visible_card(m.Task.opportunity_id, access, org_id))]
    if assignee_gid:
        parsed = parse_global(assignee_gid)
        conds.append(m.Task.assignee_id == (parsed[1] if parsed and parsed[0] == "User" else -1))
    if department_key:
        conds.append(
            m.Task.department_id.in_(select(m.Department.id).where(m.Department.org_id == org_id, m.Department.key == department_key))
        )
    if statuses:
        conds.append(m.Task.status.in_(statuses))
    size = page_size(first, ctx.max_page_size)
    rows = await ctx.loaders.all(keyset(select(m.Task).where(*conds), m.Task.id, size, after))

    async def count() -> int:
        return (await ctx.loaders.rows(select(func.count()).select_from(m.Task).where(*conds)))[0][0]

    return to_page(rows, size, after, count=count)


async def opportunity_tasks(ctx: Ctx, opportunity_id: int, first, after) -> Page:
    """A card's tasks, oldest first; every card's tasks load in one statement."""
    size = page_size(first, ctx.max_page_size)
    return await child_page(ctx.loaders, "tasks", m.Task, m.Task.opportunity_id, opportunity_id, size, after, newest_first=False)
