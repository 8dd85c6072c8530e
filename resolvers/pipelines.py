"""Admins edit pipelines: stage names, gates, staleness and automatic approvals; stages
are added, reordered, archived (their cards moved out) and restored, and a gate change
can be previewed. Each change appends a PIPELINE_UPDATED event (boards redraw from it;
the configuration log lists it)."""
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import select, update

from db import models as m
from db.loaders import MAX_STAGES
from resolvers import validate
from resolvers.approval_rules import clean_rule
from resolvers.attachments import clean_required_files
from resolvers.stage_work import clean_deliverables, clean_owner
from resolvers.context import Ctx
from resolvers.errors import DUPLICATE, FORBIDDEN, NOT_FOUND, VALIDATION, UserErrors, fail
from resolvers.gates import GATE_FIELDS, gate_problems
from resolvers.i18n import translate
from resolvers.ids import decode, parse_global
from resolvers.opportunities import enter_stage
from resolvers.paging import BadInput
from resolvers.tokens import require_admin_query
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


def _silence(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 24 * 365:
        fail(VALIDATION, "silenceAfterHours must be between 1 and 8760", "silenceAfterHours")
    return value


async def _stage(uow: UnitOfWork, gid: str, field: str = "id", *, lock: bool = True) -> m.Stage:
    stmt = (select(m.Stage).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id)
            .where(m.Stage.id == decode(gid, "Stage", field), m.Pipeline.org_id == uow.org_id))
    stage = (await uow.session.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()
    if stage is None:
        fail(NOT_FOUND, "No stage with id {gid!r}", field, gid=gid)
    return stage


SETTINGS = {"name": _name, "required_fields": _fields, "required_approvals": _approvals, "required_files": clean_required_files,
            "stale_after_hours": _stale,
            "silence_after_hours": _silence}


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
                "required_files": "requiredFiles",
                "stale_after_hours": "staleAfterHours", "silence_after_hours": "silenceAfterHours",
                "auto_approval": "autoApproval"}


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
                        required_fields=[], required_approvals=[], required_files=[], stale_after_hours=None, auto_approval=None)
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


# ---------------------------------------------------------------- order, archive, restore


async def _pipeline_stages(uow: UnitOfWork, pipeline_id: int) -> list[m.Stage]:
    """Every stage of the pipeline, archived ones included, in order, locked: changes to a
    pipeline's stages queue one after the other."""
    return list((await uow.session.execute(
        select(m.Stage).where(m.Stage.pipeline_id == pipeline_id).order_by(m.Stage.position, m.Stage.id).with_for_update()
    )).scalars())


def _renumber(ordered: list[m.Stage]) -> None:
    """Positions 0, 1, 2, ... in this order (the board's columns, then archived stages)."""
    for position, stage in enumerate(ordered):
        if stage.position != position:
            stage.position = position


def _order(stages: list[m.Stage]) -> list[str]:
    return [st.key for st in stages if st.archived_at is None]


def _listed(values: list[str] | None, live: list[m.Stage]) -> list[m.Stage]:
    """The stages `values` name: exactly the pipeline's unarchived stages, each once."""
    by_id = {st.id: st for st in live}
    chosen, unknown, twice = [], [], []
    for gid in values or []:
        parsed = parse_global(gid) if isinstance(gid, str) else None
        stage = by_id.get(parsed[1]) if parsed and parsed[0] == "Stage" else None
        if stage is None:
            unknown.append(gid)
        elif stage in chosen:
            twice.append(stage.key)
        else:
            chosen.append(stage)
    missing = [st.key for st in live if st not in chosen]
    with validate.Checks() as check:
        if unknown:
            check.fail(VALIDATION, "stageIds names {ids}, not unarchived stages of this pipeline", "stageIds", ids=", ".join(map(repr, unknown)))
        if twice:
            check.fail(VALIDATION, "stageIds names {stages} more than once", "stageIds", stages=", ".join(twice))
        if missing:
            check.fail(VALIDATION, "stageIds leaves out {stages}: list every unarchived stage of the pipeline", "stageIds", stages=", ".join(missing))
    return chosen


async def reorder_stages(ctx: Ctx, data: dict):
    """The pipeline's unarchived stages in a new order (archived ones keep their places after them)."""

    async def work(uow: UnitOfWork) -> list[m.Stage]:
        _admin(ctx)
        pipeline_id = decode(data.get("pipeline_id"), "Pipeline", "pipelineId")
        pipeline = await uow.session.get(m.Pipeline, pipeline_id)
        if pipeline is None or pipeline.org_id != uow.org_id:
            fail(NOT_FOUND, "No such pipeline", "pipelineId")
        stages = await _pipeline_stages(uow, pipeline.id)
        live = [st for st in stages if st.archived_at is None]
        ordered = _listed(data.get("stage_ids"), live)
        before = _order(stages)
        _renumber(ordered + [st for st in stages if st.archived_at is not None])
        after = [st.key for st in ordered]
        if after != before:
            await uow.append_event("PIPELINE_UPDATED", changes={"order": [before, after]})
        return ordered

    return await mutate(ctx, work)


def _last_of_kind(stage: m.Stage, live: list[m.Stage]) -> None:
    """A pipeline keeps an open, a won and a lost stage."""
    if any(st.kind == stage.kind and st.id != stage.id for st in live):
        return
    if stage.kind == "OPEN":
        fail(VALIDATION, "{stage} is the pipeline's last open stage: add another before archiving it", "stageId", stage=stage.name)
    if stage.kind == "WON":
        fail(VALIDATION, "{stage} is the pipeline's only won stage: add another before archiving it", "stageId", stage=stage.name)
    fail(VALIDATION, "{stage} is the pipeline's only lost stage: add another before archiving it", "stageId", stage=stage.name)


def _destination(gid: str, stage: m.Stage, live: list[m.Stage]) -> m.Stage:
    parsed = parse_global(gid) if isinstance(gid, str) else None
    target = next((st for st in live if parsed and parsed[0] == "Stage" and st.id == parsed[1]), None)
    if target is None or target.id == stage.id:
        fail(VALIDATION, "Move the cards to another unarchived stage of the same pipeline", "moveCardsToStageId")
    return target


@dataclass
class Archived:
    stage: m.Stage
    moved_count: int


async def archive_stage(ctx: Ctx, data: dict):
    """Take a stage off the board. Its cards move to `move_cards_to_stage_id` in the same
    transaction, each with its own move event; the target's gates are not checked (an
    admin's decision, as when an admin edits a gate under cards already past it)."""

    async def work(uow: UnitOfWork) -> Archived:
        viewer = _admin(ctx)
        s = uow.session
        stage = await _stage(uow, data.get("stage_id"), "stageId")
        stages = await _pipeline_stages(uow, stage.pipeline_id)
        if stage.archived_at is not None:
            fail(VALIDATION, "{stage} is already archived", "stageId", stage=stage.name)
        live = [st for st in stages if st.archived_at is None]
        cards = list((await s.execute(
            select(m.Opportunity).where(m.Opportunity.org_id == uow.org_id, m.Opportunity.stage_id == stage.id)
            .order_by(m.Opportunity.id).with_for_update()
        )).scalars())
        with validate.Checks() as check:
            check(_last_of_kind, stage, live)
            target = check(_destination, data["move_cards_to_stage_id"], stage, live) if data.get("move_cards_to_stage_id") else None
            if cards and target is None and not data.get("move_cards_to_stage_id"):
                check.fail(VALIDATION, "{stage} holds cards: choose the stage to move them to", "moveCardsToStageId", stage=stage.name)
        for opp in cards:
            owner = await s.get(m.User, opp.owner_id)
            await enter_stage(uow, viewer, opp, stage, target, owner)
        stage.archived_at = uow.now
        _renumber([st for st in live if st.id != stage.id] + [st for st in stages if st.archived_at is not None])
        changes = {"archived": [False, True]}
        if cards:
            changes["movedTo"] = [None, target.key]
        await _announce(uow, stage, changes)
        return Archived(stage, len(cards))

    result, errors = await mutate(ctx, work)
    return (result.stage, result.moved_count, errors) if result else (None, 0, errors)


def _restored_place(stage: m.Stage, live: list[m.Stage]) -> int:
    """Where a restored stage goes among the board's columns: after the open stages (an
    open one), before the lost ones (a won one), or last."""
    if stage.kind == "LOST":
        return len(live)
    kinds = ("OPEN",) if stage.kind == "OPEN" else ("OPEN", "WON")
    return max((i + 1 for i, st in enumerate(live) if st.kind in kinds), default=0)


async def restore_stage(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Stage:
        _admin(ctx)
        stage = await _stage(uow, data.get("id"))
        stages = await _pipeline_stages(uow, stage.pipeline_id)
        if stage.archived_at is None:
            fail(VALIDATION, "{stage} is not archived", "id", stage=stage.name)
        before = stage.position
        live = [st for st in stages if st.archived_at is None]
        live.insert(_restored_place(stage, live), stage)
        stage.archived_at = None
        _renumber(live + [st for st in stages if st.archived_at is not None])
        await _announce(uow, stage, {"archived": [True, False], "position": [before, stage.position]})
        return stage

    return await mutate(ctx, work)


# ---------------------------------------------------------------- preview


class InvalidInput(BadInput):
    """A query's input a mutation would refuse: a GraphQL error with the userError's code
    (VALIDATION, NOT_FOUND) and fields."""

    def __init__(self, message: str, code: str, fields: list[str]):
        super().__init__(message)
        self.extensions = {"code": code, "fields": fields}


def _refused(ctx: Ctx, exc: UserErrors) -> InvalidInput:
    errors = exc.errors
    fields = [f for e in errors for f in e.field or []]
    return InvalidInput("; ".join(e.render(ctx.locale) for e in errors), errors[0].code, fields)


@dataclass
class StageChangePreview:
    cards_in_stage: int
    cards_failing_gate: int
    cards_newly_failing: int
    summary: str


async def preview_stage_change(ctx: Ctx, data: dict) -> StageChangePreview:
    """What update_stage with `data` would do to the stage's cards, writing nothing: how
    many would fail its gate (required fields and approvals, as a move into it is
    judged: resolvers/gates.py), and how many of those pass it today."""
    viewer = require_admin_query(ctx)
    async with ctx.db.read() as session:
        view = SimpleNamespace(session=session, org_id=viewer.org_id)
        try:
            stage = await _stage(view, data.get("id"), lock=False)
            with validate.Checks() as check:
                settings = await _settings(check, view, data)
        except UserErrors as exc:
            raise _refused(ctx, exc) from None
        # Files count only when the change is to them: a card still waiting for its quote
        # shows what a new required field would do to it.
        files = "required_files" in settings
        proposed = SimpleNamespace(required_fields=settings.get("required_fields", stage.required_fields),
                                   required_approvals=settings.get("required_approvals", stage.required_approvals),
                                   required_files=settings["required_files"] if files else [])
        current = stage if files else SimpleNamespace(required_fields=stage.required_fields,
                                                      required_approvals=stage.required_approvals, required_files=[])
        cards = list((await session.execute(
            select(m.Opportunity).where(m.Opportunity.org_id == viewer.org_id, m.Opportunity.stage_id == stage.id)
        )).scalars())
        failing = newly = 0
        for opp in cards:
            if any(await gate_problems(session, opp, [proposed])):
                failing += 1
                if not any(await gate_problems(session, opp, [current])):
                    newly += 1
    return StageChangePreview(len(cards), failing, newly, _summary(ctx, stage, newly))


def _summary(ctx: Ctx, stage: m.Stage, newly: int) -> str:
    if newly == 0:
        return translate(ctx.locale, "No card in {stage} is affected", stage=stage.name)
    if newly == 1:
        return translate(ctx.locale, "{count} card in {stage} would no longer pass the gate", count=newly, stage=stage.name)
    return translate(ctx.locale, "{count} cards in {stage} would no longer pass the gate", count=newly, stage=stage.name)
