"""Admins edit pipelines: stage names, gates, staleness and automatic approvals.
Pipeline edits are configuration, not board activity: no BoardEvent type covers
them, so they append none."""
from sqlalchemy import select, update

from db import models as m
from db.loaders import MAX_STAGES
from resolvers import validate
from resolvers.approval_rules import clean_rule
from resolvers.stage_work import clean_deliverables, clean_owner
from resolvers.context import Ctx
from resolvers.errors import DUPLICATE, FORBIDDEN, NOT_FOUND, VALIDATION, fail
from resolvers.gates import GATE_FIELDS
from resolvers.ids import decode
from resolvers.uow import UnitOfWork, mutate

KINDS = ("OPEN", "WON", "LOST")


def _admin(ctx: Ctx):
    viewer = ctx.require_writer()
    if not viewer.is_admin:
        fail(FORBIDDEN, "Only an admin can edit pipelines")
    return viewer


def _name(value: str | None) -> str:
    return validate.text(value, "name", max_len=100, required=True)


def _fields(values: list[str] | None) -> list[str]:
    values = values or []
    unknown = [f for f in values if f not in GATE_FIELDS]
    if unknown:
        fail(VALIDATION, "Unknown gate field {unknown}; known: {known}", "requiredFields", unknown=', '.join(map(repr, unknown)), known=', '.join(GATE_FIELDS))
    return list(dict.fromkeys(values))


def _approvals(values: list[str] | None) -> list[str]:
    return list(dict.fromkeys(validate.text(v, "requiredApprovals", max_len=40, required=True).lower() for v in values or []))


def _stale(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 24 * 365:
        fail(VALIDATION, "staleAfterHours must be between 1 and 8760", "staleAfterHours")
    return value


async def _stage(uow: UnitOfWork, gid: str) -> m.Stage:
    stage = (
        await uow.session.execute(
            select(m.Stage).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id)
            .where(m.Stage.id == decode(gid, "Stage", "id"), m.Pipeline.org_id == uow.org_id).with_for_update()
        )
    ).scalar_one_or_none()
    if stage is None:
        fail(NOT_FOUND, "No stage with id {gid!r}", "id", gid=gid)
    return stage


SETTINGS = {"name": _name, "required_fields": _fields, "required_approvals": _approvals, "stale_after_hours": _stale}


async def _settings(check: validate.Checks, uow: UnitOfWork, data: dict) -> dict:
    """Stage attribute -> clean value, for the settings `data` holds."""
    clean = {attr: check(cleaner, data[attr]) for attr, cleaner in SETTINGS.items() if attr in data}
    if "auto_approval" in data:
        clean["auto_approval"] = await check.lookup(clean_rule(uow.session, uow.org_id, data["auto_approval"], "autoApproval"))
    return clean


def _key(value: str | None, stages: list[m.Stage]) -> str:
    key = validate.text(value, "key", max_len=40, required=True).lower()
    if not key.replace("_", "").replace("-", "").isalnum():
        fail(VALIDATION, "key may hold letters, digits, - and _", "key")
    if any(st.key == key for st in stages):
        fail(DUPLICATE, "The pipeline already has a stage {key!r}", "key", key=key)
    return key


def _kind(value: str | None) -> str:
    kind = value or "OPEN"
    if kind not in KINDS:
        fail(VALIDATION, "kind must be OPEN, WON or LOST", "kind")
    return kind


def _position(value: int | None, stages: list[m.Stage]) -> int:
    position = len(stages) if value is None else value
    if not 0 <= position <= len(stages):
        fail(VALIDATION, "position must be between 0 and {count}", "position", count=len(stages))
    return position


STAGE_FIELDS = {"name": "name", "required_fields": "requiredFields", "required_approvals": "requiredApprovals",
                "stale_after_hours": "staleAfterHours", "auto_approval": "autoApproval"}


async def _announce(uow: UnitOfWork, stage: m.Stage, changes: dict) -> None:
    """Boards redraw their columns and gates from this event (and cached results expire)."""
    await uow.append_event("PIPELINE_UPDATED", changes={"stage": [None, stage.key], **changes})


async def update_stage(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Stage:
        _admin(ctx)
        stage = await _stage(uow, data["id"])
        with validate.Checks() as check:
            settings = await _settings(check, uow, data)
        before = {attr: getattr(stage, attr) for attr in STAGE_FIELDS}
        for attr, value in settings.items():
            setattr(stage, attr, value)
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
        stages = list((await s.execute(select(m.Stage).where(m.Stage.pipeline_id == pipeline.id).order_by(m.Stage.position))).scalars())
        with validate.Checks() as check:
            key = check(_key, data.get("key"), stages)
            kind = check(_kind, data.get("kind"))
            position = check(_position, data.get("position"), stages)
            settings = await _settings(check, uow, data)
        if len(stages) >= MAX_STAGES:
            fail(VALIDATION, "A pipeline has at most {max_stages} stages", "pipelineId", max_stages=MAX_STAGES)
        # Make room: later stages shift right.
        await s.execute(update(m.Stage).where(m.Stage.pipeline_id == pipeline.id, m.Stage.position >= position).values(position=m.Stage.position + 1))
        stage = m.Stage(pipeline_id=pipeline.id, key=key, name=key.title(), position=position, kind=kind,
                        required_fields=[], required_approvals=[], stale_after_hours=None, auto_approval=None)
        for attr, value in settings.items():
            setattr(stage, attr, value)
        s.add(stage)
        await s.flush()
        await _announce(uow, stage, {"position": [None, position]})
        return stage

    return await mutate(ctx, work)


async def set_stage_approval_rule(ctx: Ctx, data: dict):
    """The typed form of `autoApproval`: the approval a card asking to enter the stage
    gets. Setting a rule also makes its kind required to enter; null clears the rule."""

    async def work(uow: UnitOfWork) -> m.Stage:
        _admin(ctx)
        stage = await _stage(uow, data["stage_id"])
        rule = await clean_rule(uow.session, uow.org_id, data.get("rule"))
        before = (stage.auto_approval, list(stage.required_approvals or []))
        stage.auto_approval = rule
        if rule is not None and rule["kind"] not in stage.required_approvals:
            stage.required_approvals = [*stage.required_approvals, rule["kind"]]
        if before != (stage.auto_approval, stage.required_approvals):
            await _announce(uow, stage, {"autoApproval": [before[0], rule], "requiredApprovals": [before[1], stage.required_approvals]})
        return stage

    return await mutate(ctx, work)


async def set_stage_work(ctx: Ctx, data: dict):
    """Admins: a stage's owner, deliverables and whether entering needs the previous
    stage's deliverables (each left as it is when not sent)."""
    async def work(uow: UnitOfWork) -> m.Stage:
        _admin(ctx)
        stage = await _stage(uow, data["stage_id"])
        with validate.Checks() as check:
            owner = await check.lookup(clean_owner(uow.session, uow.org_id, data["owner"])) if "owner" in data else stage.owner
            deliverables = (await check.lookup(clean_deliverables(uow.session, uow.org_id, data["deliverables"]))
                            if data.get("deliverables") is not None else stage.deliverables)
        after_previous = data.get("require_previous_deliverables")
        after_previous = stage.require_previous_deliverables if after_previous is None else bool(after_previous)
        before = {"owner": stage.owner, "deliverables": stage.deliverables, "requirePreviousDeliverables": stage.require_previous_deliverables}
        stage.owner, stage.deliverables, stage.require_previous_deliverables = owner, deliverables, after_previous
        after = {"owner": owner, "deliverables": deliverables, "requirePreviousDeliverables": after_previous}
        changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
        if changes:
            await _announce(uow, stage, changes)
        return stage

    return await mutate(ctx, work)
