"""Admins edit pipelines: stage names, gates, staleness and automatic approvals.
Pipeline edits are configuration, not board activity: no BoardEvent type covers
them, so they append none."""
from sqlalchemy import select, update

from db import models as m
from resolvers import validate
from resolvers.approvals import MODES, departments_for
from resolvers.context import Ctx
from resolvers.errors import DUPLICATE, FORBIDDEN, NOT_FOUND, VALIDATION, fail
from resolvers.ids import decode
from resolvers.opportunities import GATE_FIELDS
from resolvers.uow import UnitOfWork, mutate

KINDS = ("OPEN", "WON", "LOST")


def _admin(ctx: Ctx):
    viewer = ctx.require_writer()
    if not viewer.is_admin:
        fail(FORBIDDEN, "Only an admin can edit pipelines")
    return viewer


def _fields(values: list[str]) -> list[str]:
    unknown = [f for f in values if f not in GATE_FIELDS]
    if unknown:
        fail(VALIDATION, f"Unknown gate field {', '.join(map(repr, unknown))}; known: {', '.join(GATE_FIELDS)}", "requiredFields")
    return list(dict.fromkeys(values))


def _approvals(values: list[str]) -> list[str]:
    return list(dict.fromkeys(validate.text(v, "requiredApprovals", max_len=40, required=True).lower() for v in values))


def _stale(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 24 * 365:
        fail(VALIDATION, "staleAfterHours must be between 1 and 8760", "staleAfterHours")
    return value


async def _auto(session, org_id: int, rule: dict | None) -> dict | None:
    if rule is None:
        return None
    if not isinstance(rule, dict):
        fail(VALIDATION, "autoApproval must be an object {kind, departmentKeys, mode}", "autoApproval")
    kind = validate.text(rule.get("kind"), "autoApproval", max_len=40, required=True).lower()
    mode = rule.get("mode") or "SEQUENTIAL"
    if mode not in MODES:
        fail(VALIDATION, "autoApproval.mode must be SEQUENTIAL or PARALLEL", "autoApproval")
    keys = rule.get("departmentKeys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        fail(VALIDATION, "autoApproval.departmentKeys must be a list of department keys", "autoApproval")
    departments = await departments_for(session, org_id, keys, "autoApproval")
    return {"kind": kind, "departmentKeys": [d.key for d in departments], "mode": mode}


async def _stage(uow: UnitOfWork, gid: str) -> m.Stage:
    stage = (
        await uow.session.execute(
            select(m.Stage).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id)
            .where(m.Stage.id == decode(gid, "Stage", "id"), m.Pipeline.org_id == uow.org_id).with_for_update()
        )
    ).scalar_one_or_none()
    if stage is None:
        fail(NOT_FOUND, f"No stage with id {gid!r}", "id")
    return stage


async def _apply(uow: UnitOfWork, stage: m.Stage, data: dict) -> None:
    if "name" in data:
        stage.name = validate.text(data["name"], "name", max_len=100, required=True)
    if "required_fields" in data:
        stage.required_fields = _fields(data["required_fields"] or [])
    if "required_approvals" in data:
        stage.required_approvals = _approvals(data["required_approvals"] or [])
    if "stale_after_hours" in data:
        stage.stale_after_hours = _stale(data["stale_after_hours"])
    if "auto_approval" in data:
        stage.auto_approval = await _auto(uow.session, uow.org_id, data["auto_approval"])


STAGE_FIELDS = {"name": "name", "required_fields": "requiredFields", "required_approvals": "requiredApprovals",
                "stale_after_hours": "staleAfterHours", "auto_approval": "autoApproval"}


async def _announce(uow: UnitOfWork, stage: m.Stage, changes: dict) -> None:
    """Boards redraw their columns and gates from this event (and cached results expire)."""
    await uow.append_event("PIPELINE_UPDATED", changes={"stage": [None, stage.key], **changes})


async def update_stage(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Stage:
        _admin(ctx)
        stage = await _stage(uow, data["id"])
        before = {attr: getattr(stage, attr) for attr in STAGE_FIELDS}
        await _apply(uow, stage, data)
        changes = {api: [before[attr], getattr(stage, attr)] for attr, api in STAGE_FIELDS.items() if before[attr] != getattr(stage, attr)}
        if changes:
            await _announce(uow, stage, changes)
        return stage

    return await mutate(ctx, work)


async def create_stage(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Stage:
        _admin(ctx)
        s = uow.session
        pipeline = await s.get(m.Pipeline, decode(data["pipeline_id"], "Pipeline", "pipelineId"))
        if pipeline is None or pipeline.org_id != uow.org_id:
            fail(NOT_FOUND, "No such pipeline", "pipelineId")
        key = validate.text(data.get("key"), "key", max_len=40, required=True).lower()
        if not key.replace("_", "").replace("-", "").isalnum():
            fail(VALIDATION, "key may hold letters, digits, - and _", "key")
        stages = list((await s.execute(select(m.Stage).where(m.Stage.pipeline_id == pipeline.id).order_by(m.Stage.position))).scalars())
        if any(st.key == key for st in stages):
            fail(DUPLICATE, f"The pipeline already has a stage {key!r}", "key")
        kind = data.get("kind") or "OPEN"
        if kind not in KINDS:
            fail(VALIDATION, "kind must be OPEN, WON or LOST", "kind")
        position = data.get("position")
        if position is None:
            position = len(stages)
        if not 0 <= position <= len(stages):
            fail(VALIDATION, f"position must be between 0 and {len(stages)}", "position")
        # Make room: later stages shift right.
        await s.execute(update(m.Stage).where(m.Stage.pipeline_id == pipeline.id, m.Stage.position >= position).values(position=m.Stage.position + 1))
        stage = m.Stage(pipeline_id=pipeline.id, key=key, name=key.title(), position=position, kind=kind,
                        required_fields=[], required_approvals=[], stale_after_hours=None, auto_approval=None)
        await _apply(uow, stage, data)
        s.add(stage)
        await s.flush()
        await _announce(uow, stage, {"position": [None, position]})
        return stage

    return await mutate(ctx, work)
