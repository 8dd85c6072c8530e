"""Stage owners and deliverables (节点负责人 + 交付物) as GraphQL: what a stage asks
for, a card's checklist and its time per stage and department."""
import datetime
from typing import Annotated

import strawberry

from db import models as m
from db.loaders import MAX_DEPARTMENTS, MAX_STAGES
from resolvers import pipelines as pipeline_rules
from resolvers import stage_work as rules
from schema.errors import SIGNED_IN
from schema.limits import at_most
from schema.people import Department, Role, User


@strawberry.type
class StageOwner:
    role: Role | None
    auto_accept: bool = strawberry.field(description="Entering hands the card over at once (no handoff to answer)")
    department_key: strawberry.Private[str]
    user_id: strawberry.Private[int | None]

    @strawberry.field
    async def department(self, info: strawberry.Info) -> Department | None:
        return await _department(info, self.department_key)

    @strawberry.field(description="Named owner: the automatic handoff's assignee")
    async def user(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.user_id) if self.user_id else None


@strawberry.type
class StageDeliverable:
    key: str
    title: str
    field: str | None = strawberry.field(description="A card field that must be filled before it can be ticked")
    department_key: str

    @strawberry.field(description="The department that ticks it")
    async def department(self, info: strawberry.Info) -> Department | None:
        return await _department(info, self.department_key)


@strawberry.type
class DeliverableState(StageDeliverable):
    done: bool
    done_at: datetime.datetime | None
    done_by_id: strawberry.Private[int | None]

    @strawberry.field
    async def done_by(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.done_by_id) if self.done_by_id else None


@strawberry.type
class DepartmentTime:
    hours: float

    department_key: strawberry.Private[str]

    @strawberry.field
    async def department(self, info: strawberry.Info) -> Department | None:
        return await _department(info, self.department_key)


@strawberry.type
class StageTime:
    stage_key: str
    hours: float
    departments: list[DepartmentTime] = strawberry.field(
        metadata=at_most(MAX_DEPARTMENTS), description="Who held the card for how long while in the stage")


async def _department(info, key: str) -> Department | None:
    return await info.context.loaders.department_by_key.load(key)


def owner_of(stage: m.Stage) -> StageOwner | None:
    o = stage.owner
    return StageOwner(department_key=o["departmentKey"], role=Role(o["role"]) if o.get("role") else None,
                      user_id=o.get("userId"), auto_accept=bool(o.get("autoAccept"))) if o else None


def deliverables_of(stage: m.Stage) -> list[StageDeliverable]:
    return [StageDeliverable(key=d["key"], title=d["title"], field=d.get("field"), department_key=d["departmentKey"])
            for d in (stage.deliverables or [])[:rules.MAX_DELIVERABLES]]


async def checklist(info, opp: m.Opportunity) -> list[DeliverableState]:
    stage = await info.context.loaders.stage.load(opp.stage_id)
    done = {c.key: c for c in await info.context.loaders.checks_by_opportunity.load(opp.id) if c.stage_id == stage.id}
    return [DeliverableState(key=d.key, title=d.title, field=d.field, department_key=d.department_key, done=d.key in done,
                             done_at=done[d.key].done_at if d.key in done else None,
                             done_by_id=done[d.key].done_by_id if d.key in done else None) for d in deliverables_of(stage)]


async def stage_times(info, opp: m.Opportunity) -> list[StageTime]:
    totals = await rules.stage_times(info.context, opp)
    return [StageTime(stage_key=stage, hours=round(sum(by.values()) / 3600, 2),
                      departments=[DepartmentTime(department_key=k, hours=round(v / 3600, 2)) for k, v in list(by.items())[:MAX_DEPARTMENTS]])
            for stage, by in list(totals.items())[:MAX_STAGES]]


@strawberry.input
class StageOwnerInput:
    department_key: str
    role: Role | None = None
    user_id: strawberry.ID | None = None
    auto_accept: bool = False


@strawberry.input
class StageDeliverableInput:
    title: str
    department_key: str
    key: str | None = strawberry.field(default=None, description="Stable id of the item; default: from the title")
    field: str | None = None


@strawberry.input
class SetStageWorkInput:
    stage_id: strawberry.ID
    owner: StageOwnerInput | None = strawberry.field(default=strawberry.UNSET, description="null: no owner; absent: unchanged")
    deliverables: list[StageDeliverableInput] | None = strawberry.UNSET
    require_previous_deliverables: bool | None = strawberry.UNSET


@strawberry.input
class CheckDeliverableInput:
    opportunity_id: strawberry.ID
    stage_key: str
    key: str
    done: bool


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN, description="Admins: a stage's owner department and deliverables (节点负责人 + 交付物)")
    async def set_stage_work(self, info: strawberry.Info, input: SetStageWorkInput) -> Annotated[
            "StagePayload", strawberry.lazy("schema.pipelines")]:
        from schema.pipelines import StagePayload

        data = {"stage_id": input.stage_id}
        if input.owner is not strawberry.UNSET:
            data["owner"] = None if input.owner is None else {
                "departmentKey": input.owner.department_key, "role": input.owner.role.value if input.owner.role else None,
                "userId": input.owner.user_id, "autoAccept": input.owner.auto_accept}
        if input.deliverables not in (strawberry.UNSET, None):
            data["deliverables"] = [{"key": d.key, "title": d.title, "departmentKey": d.department_key, "field": d.field}
                                    for d in input.deliverables]
        if input.require_previous_deliverables not in (strawberry.UNSET, None):
            data["require_previous_deliverables"] = input.require_previous_deliverables
        stage, errors = await pipeline_rules.set_stage_work(info.context, data)
        return StagePayload(stage=stage, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Tick (or untick) a stage's deliverable on a card: its department or an admin")
    async def check_deliverable(self, info: strawberry.Info, input: CheckDeliverableInput) -> Annotated[
            "OpportunityPayload", strawberry.lazy("schema.opportunities")]:
        from schema.opportunities import OpportunityPayload

        opp, errors = await rules.check_deliverable(info.context, {
            "opportunity_id": input.opportunity_id, "stage_key": input.stage_key, "key": input.key, "done": input.done})
        return OpportunityPayload(opportunity=opp, user_errors=errors)
