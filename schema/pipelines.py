"""Admin editing of pipelines and stage gates (additions to the contract)."""
import strawberry
from strawberry.scalars import JSON

from db.loaders import MAX_STAGES
from resolvers import pipelines as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.approvals import ApprovalRuleInput, rule_json
from schema.opportunities import Stage, StageKind


@strawberry.input
class UpdateStageInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    required_fields: list[str] | None = strawberry.UNSET
    required_approvals: list[str] | None = strawberry.UNSET
    required_files: list[str] | None = strawberry.UNSET
    stale_after_hours: int | None = strawberry.UNSET
    silence_after_hours: int | None = strawberry.UNSET
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
    required_files: list[str] | None = strawberry.UNSET
    stale_after_hours: int | None = strawberry.UNSET
    silence_after_hours: int | None = strawberry.UNSET
    auto_approval: JSON | None = strawberry.UNSET


@strawberry.input
class SetStageApprovalRuleInput:
    stage_id: strawberry.ID
    rule: ApprovalRuleInput | None = strawberry.field(description="null clears the rule")


@strawberry.type
class StagePayload:
    stage: Stage | None
    user_errors: list[UserError]


# ---------------------------------------------------------------- order, archive, restore, preview


@strawberry.input
class ReorderStagesInput:
    pipeline_id: strawberry.ID
    stage_ids: list[strawberry.ID]


@strawberry.type
class PipelineStagesPayload:
    stages: list[Stage] = strawberry.field(metadata=at_most(MAX_STAGES))
    user_errors: list[UserError]


@strawberry.input
class ArchiveStageInput:
    stage_id: strawberry.ID
    move_cards_to_stage_id: strawberry.ID | None = strawberry.UNSET


@strawberry.type
class ArchiveStagePayload:
    stage: Stage | None
    moved_count: int
    user_errors: list[UserError]


@strawberry.input
class StageIdInput:
    id: strawberry.ID


@strawberry.type
class StageChangePreview:
    cards_in_stage: int
    cards_failing_gate: int
    cards_newly_failing: int
    summary: str


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN)
    async def preview_stage_change(self, info: strawberry.Info, input: UpdateStageInput) -> StageChangePreview:
        found = await rules.preview_stage_change(info.context, to_data(input))
        return StageChangePreview(cards_in_stage=found.cards_in_stage, cards_failing_gate=found.cards_failing_gate,
                                  cards_newly_failing=found.cards_newly_failing, summary=found.summary)


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

    @strawberry.mutation(**SIGNED_IN)
    async def reorder_stages(self, info: strawberry.Info, input: ReorderStagesInput) -> PipelineStagesPayload:
        stages, errors = await rules.reorder_stages(info.context, to_data(input))
        return PipelineStagesPayload(stages=stages or [], user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def archive_stage(self, info: strawberry.Info, input: ArchiveStageInput) -> ArchiveStagePayload:
        stage, moved, errors = await rules.archive_stage(info.context, to_data(input))
        return ArchiveStagePayload(stage=stage, moved_count=moved, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def restore_stage(self, info: strawberry.Info, input: StageIdInput) -> StagePayload:
        stage, errors = await rules.restore_stage(info.context, to_data(input))
        return StagePayload(stage=stage, user_errors=errors)
