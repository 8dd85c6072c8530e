"""Admin editing of pipelines and stage gates (additions to the contract)."""
import strawberry
from strawberry.scalars import JSON

from resolvers import pipelines as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.approvals import ApprovalRuleInput, rule_json
from schema.opportunities import Stage, StageKind


@strawberry.input
class UpdateStageInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    required_fields: list[str] | None = strawberry.UNSET
    required_approvals: list[str] | None = strawberry.UNSET
    stale_after_hours: int | None = strawberry.UNSET
    auto_approval: JSON | None = strawberry.field(default=strawberry.UNSET, description="{kind, departmentKeys, mode} or null")


@strawberry.input
class CreateStageInput:
    pipeline_id: strawberry.ID
    key: str
    name: str | None = strawberry.UNSET
    kind: StageKind | None = strawberry.UNSET
    position: int | None = strawberry.UNSET
    required_fields: list[str] | None = strawberry.UNSET
    required_approvals: list[str] | None = strawberry.UNSET
    stale_after_hours: int | None = strawberry.UNSET
    auto_approval: JSON | None = strawberry.UNSET


@strawberry.input
class SetStageApprovalRuleInput:
    stage_id: strawberry.ID
    rule: ApprovalRuleInput | None = strawberry.field(description="null clears the rule")


@strawberry.type
class StagePayload:
    stage: Stage | None
    user_errors: list[UserError]


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN, description="Admins: rename a stage or change its gates")
    async def update_stage(self, info: strawberry.Info, input: UpdateStageInput) -> StagePayload:
        stage, errors = await rules.update_stage(info.context, to_data(input))
        return StagePayload(stage=stage, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Admins: add a stage to a pipeline")
    async def create_stage(self, info: strawberry.Info, input: CreateStageInput) -> StagePayload:
        stage, errors = await rules.create_stage(info.context, to_data(input))
        return StagePayload(stage=stage, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Admins: the approval a card asking to enter the stage gets; its kind becomes required")
    async def set_stage_approval_rule(self, info: strawberry.Info, input: SetStageApprovalRuleInput) -> StagePayload:
        stage, errors = await rules.set_stage_approval_rule(info.context, {"stage_id": input.stage_id, "rule": rule_json(input.rule)})
        return StagePayload(stage=stage, user_errors=errors)
