"""Stage owners and deliverables (节点负责人 + 交付物).

A stage may name the department that owns it (optionally a role in it, or a named
user, who becomes the handoff's assignee): a card entering the stage is handed to
that department with an ordinary handoff, accepted at once when the stage says
`autoAccept`. Leaving a stage while that handoff is still pending is for the
owner's managers and admins only, and the move's event records it.

A stage lists deliverables, each with the department that ticks it and optionally a
card field that must be filled first. A stage with `require_previous_deliverables`
can be entered only once the stage before it has every deliverable ticked."""
import re
from datetime import datetime

from sqlalchemy import select

from db import models as m
from resolvers import validate
from resolvers.access import is_owners_manager
from resolvers.context import Ctx
from resolvers.errors import FORBIDDEN, INVALID_TRANSITION, NOT_FOUND, VALIDATION, UserError, fail
from resolvers.handoffs import department_by_key, open_handoff, pass_baton, pending_to, resolved
from resolvers.i18n import msg
from resolvers.rows import locked_opportunity, org_user
from resolvers.uow import UnitOfWork, mutate

MAX_DELIVERABLES = 10  # per stage
FIELDS = {"amount": "amount", "expectedCloseDate": "expected_close_date", "probability": "probability",
          "nextStep": "next_step", "lostReason": "lost_reason"}


# ---------------------------------------------------------------- settings


async def clean_owner(session, org_id: int, raw) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        fail(VALIDATION, "owner must be an object {{departmentKey, role, userId, autoAccept}}", "owner")
    department = await department_by_key(session, org_id, raw.get("departmentKey"), "owner.departmentKey")
    role = raw.get("role")
    if role not in (None, "ADMIN", "MANAGER", "MEMBER"):
        fail(VALIDATION, "owner.role must be ADMIN, MANAGER or MEMBER", "owner.role")
    user_id = None
    if raw.get("userId"):
        user = await org_user(session, org_id, raw["userId"], "owner.userId")
        if user.department_id != department.id:
            fail(VALIDATION, "The stage's owner must belong to {department}", "owner.userId", department=department.name)
        user_id = user.id
    return {"departmentKey": department.key, "role": role, "userId": user_id, "autoAccept": bool(raw.get("autoAccept"))}


async def clean_deliverables(session, org_id: int, raw) -> list[dict]:
    if not isinstance(raw, list) or len(raw) > MAX_DELIVERABLES:
        fail(VALIDATION, "deliverables is a list of at most {max_deliverables}", "deliverables", max_deliverables=MAX_DELIVERABLES)
    found = []
    for item in raw:
        if not isinstance(item, dict):
            fail(VALIDATION, "Each deliverable is an object {{key, title, departmentKey, field}}", "deliverables")
        title = validate.text(item.get("title"), "deliverables.title", max_len=200, required=True)
        key = (item.get("key") or "").strip().lower() or re.sub(r"\W+", "-", title.lower()).strip("-")[:40]
        if not key or len(key) > 40:
            fail(VALIDATION, "A deliverable's key has 1 to 40 characters", "deliverables.key")
        department = await department_by_key(session, org_id, item.get("departmentKey"), "deliverables.departmentKey")
        field = item.get("field")
        if field is not None and field not in FIELDS:
            fail(VALIDATION, "A deliverable's field is one of {fields}", "deliverables.field", fields=', '.join(FIELDS))
        found.append({"key": key, "title": title, "departmentKey": department.key, "field": field})
    if len({d["key"] for d in found}) != len(found):
        fail(VALIDATION, "Each deliverable of a stage needs its own key", "deliverables")
    return found


# ---------------------------------------------------------------- moves


async def enter(uow: UnitOfWork, opp: m.Opportunity, stage: m.Stage, by: m.User) -> None:
    """After a card entered `stage`: hand it to the stage's owner department."""
    owner = stage.owner
    if not owner:
        return
    department = await uow.session.scalar(
        select(m.Department).where(m.Department.org_id == uow.org_id, m.Department.key == owner["departmentKey"]))
    if department is None or department.id == opp.department_id or await pending_to(uow.session, opp, department):
        return
    assignee = await uow.session.get(m.User, owner["userId"]) if owner.get("userId") else None
    handoff = await open_handoff(uow, opp, department, by=by, assignee=assignee,
                                 note=f"{stage.name} is {department.name}'s stage", changes={"stage": stage.key, "automatic": True})
    if owner.get("autoAccept"):
        handoff.status, handoff.responded_at, handoff.responded_by_id = "ACCEPTED", uow.now, None
        await resolved(uow, handoff, opp, {"status": ["PENDING", "ACCEPTED"], **await pass_baton(uow, opp, department.id), "automatic": True})


async def leaving(uow: UnitOfWork, viewer, opp: m.Opportunity, stage: m.Stage, owner: m.User) -> dict:
    """Leaving a stage whose automatic handoff is unanswered: managers and admins only,
    recorded in the move's changes."""
    if not stage.owner:
        return {}
    pending = await uow.session.scalar(
        select(m.Handoff).join(m.Department, m.Department.id == m.Handoff.to_department_id)
        .where(m.Handoff.opportunity_id == opp.id, m.Handoff.status == "PENDING", m.Department.key == stage.owner["departmentKey"])
    )
    if pending is None:
        return {}
    if not (viewer.is_admin or is_owners_manager(viewer, owner)):
        fail(FORBIDDEN, "{stage}'s handoff to {department} is unanswered: only the owner's manager or an admin can move the card on", "stageKey", stage=stage.name, department=stage.owner['departmentKey'])
    return {"leftWithPendingHandoff": stage.owner["departmentKey"]}


async def missing_deliverables(session, opp: m.Opportunity, stages: list[m.Stage], path: list[m.Stage]) -> list[tuple[m.Stage, dict]]:
    """Deliverables the gates along `path` require and the card lacks."""
    ordered = [st for st in stages if st.kind != "LOST"]
    needed = []
    for target in path:
        if not target.require_previous_deliverables or target.kind == "LOST" or target not in ordered:
            continue
        i = ordered.index(target)
        if i > 0:
            needed.append(ordered[i - 1])
    if not needed or opp.id is None:
        return [(st, d) for st in needed for d in st.deliverables or []]
    done = set((await session.execute(select(m.DeliverableCheck.stage_id, m.DeliverableCheck.key).where(
        m.DeliverableCheck.opportunity_id == opp.id))).all())
    return [(st, d) for st in needed for d in st.deliverables or [] if (st.id, d["key"]) not in done]


def deliverables_error(target: m.Stage, missing: list[tuple[m.Stage, dict]]) -> UserError:
    by_stage = {}
    for st, d in missing:
        by_stage.setdefault(st.name, []).append(d["title"])
    words = "; ".join(f"{name}: {', '.join(titles)}" for name, titles in by_stage.items())
    return UserError("STAGE_GATE", "{target} needs these deliverables ticked first ({words})",
                     [f"deliverable:{st.key}.{d['key']}" for st, d in missing], params={'target': target.name, 'words': words})


# ---------------------------------------------------------------- ticking


async def check_deliverable(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Opportunity:
        viewer = ctx.require_writer()
        s = uow.session
        opp = await locked_opportunity(uow, data["opportunity_id"])
        stage = await s.scalar(select(m.Stage).where(m.Stage.pipeline_id == opp.pipeline_id, m.Stage.key == data.get("stage_key")))
        if stage is None:
            fail(NOT_FOUND, "No stage {stage_key!r} in the card's pipeline", "stageKey", stage_key=data.get('stage_key'))
        current = await s.get(m.Stage, opp.stage_id)
        if stage.position > current.position and current.kind != "LOST":
            fail(INVALID_TRANSITION, "The card has not reached {stage} yet (it is in {current})", "stageKey", stage=stage.name, current=current.name)
        item = next((d for d in stage.deliverables or [] if d["key"] == data.get("key")), None)
        if item is None:
            fail(NOT_FOUND, "{stage} has no deliverable {key!r}", "key", stage=stage.name, key=data.get('key'))
        department = await s.scalar(select(m.Department).where(m.Department.org_id == uow.org_id, m.Department.key == item["departmentKey"]))
        if not (viewer.is_admin or viewer.user.department_id == department.id):
            fail(FORBIDDEN, "Only {department} (or an admin) ticks “{title}”", department=department.name, title=item['title'])
        done = bool(data["done"])
        if done and item.get("field") and getattr(opp, FIELDS[item["field"]]) in (None, ""):
            fail(VALIDATION, "Fill in {field_name} before ticking “{title}”", item["field"], field_name=item['field'], title=item['title'])
        row = await s.scalar(select(m.DeliverableCheck).where(
            m.DeliverableCheck.opportunity_id == opp.id, m.DeliverableCheck.stage_id == stage.id, m.DeliverableCheck.key == item["key"]))
        if (row is not None) == done:
            return opp  # already so: nothing to record
        if done:
            s.add(m.DeliverableCheck(opportunity_id=opp.id, stage_id=stage.id, key=item["key"], done_by_id=viewer.id, done_at=uow.now))
        else:
            await s.delete(row)
        event = await uow.append_event(
            "DELIVERABLE_CHECKED", opportunity_id=opp.id, department_keys=[department.key],
            changes={"stage": stage.key, "deliverable": item["key"], "title": item["title"], "done": [not done, done]},
        )
        uow.notify([opp.owner_id], "deliverable",
                   msg("{user} ticked “{title}” on {opp}") if done else msg("{user} unticked “{title}” on {opp}"),
                   opportunity_id=opp.id, event=event, user=viewer.user.name, title=item["title"], opp=opp.title)
        return opp

    return await mutate(ctx, work)


# ---------------------------------------------------------------- time in stage


def time_in_stages(created_at: datetime, now: datetime, stage_key: str, department_key: str, events: list[m.Event]) -> dict:
    """{stage key: {department key: seconds}} from a card's events, oldest first: the
    stage moves (OPPORTUNITY_MOVED/LOST) and the baton passes (HANDOFF_RESOLVED)."""
    moves = [(e.occurred_at, "stage", e.changes["stage"]) for e in events
             if e.type in ("OPPORTUNITY_MOVED", "OPPORTUNITY_LOST") and e.changes and "stage" in e.changes]
    passes = [(e.occurred_at, "department", e.changes["department"]) for e in events
              if e.type == "HANDOFF_RESOLVED" and e.changes and "department" in e.changes]
    changes = sorted(moves + passes, key=lambda c: c[0])
    # Start from the values before the first change of each kind.
    stage = next((c[2][0] for c in changes if c[1] == "stage"), stage_key)
    department = next((c[2][0] for c in changes if c[1] == "department"), department_key)
    totals: dict[str, dict[str, float]] = {}
    since = created_at
    for at, kind, (_, new) in [*changes, (now, None, (None, None))]:
        seconds = max((at - since).total_seconds(), 0)
        if seconds:
            totals.setdefault(stage, {}).setdefault(department, 0)
            totals[stage][department] += seconds
        since = at
        if kind == "stage":
            stage = new
        elif kind == "department":
            department = new
    return totals


async def stage_times(ctx: Ctx, opp: m.Opportunity) -> dict:
    """The card's time per stage and department (see time_in_stages), as of now."""
    events = await ctx.loaders.all(
        select(m.Event).where(m.Event.opportunity_id == opp.id, m.Event.type.in_(("OPPORTUNITY_MOVED", "OPPORTUNITY_LOST", "HANDOFF_RESOLVED")))
        .order_by(m.Event.seq)
    )
    stage = await ctx.loaders.stage.load(opp.stage_id)
    department = await ctx.loaders.department.load(opp.department_id)
    return time_in_stages(opp.created_at, ctx.clock(), stage.key, department.key, events)

