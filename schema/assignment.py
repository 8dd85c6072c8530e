"""Assignment rules, the shared pool (公海) and the fairness report (resolvers/assignment.py,
resolvers/pool.py, resolvers/assignment_report.py)."""
import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated

import strawberry
from sqlalchemy import select

from db import models as m
from db.loaders import MAX_USERS, ready
from resolvers import assignment as rules
from resolvers import assignment_report as report_rules
from resolvers import pool as pool_rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.opportunities import Opportunity, Stage
from schema.people import User
from schema.relay import Connection


@strawberry.enum
class AssignmentStrategy(str, Enum):
    ROUND_ROBIN = "ROUND_ROBIN"
    CAPACITY = "CAPACITY"


@strawberry.type
class AssignmentRule:
    position: int
    name: str
    strategy: AssignmentStrategy
    capacity: int | None

    @strawberry.field
    def regions(self) -> list[str]:
        return self.match.get("regions") or []

    @strawberry.field
    def industries(self) -> list[str]:
        return self.match.get("industries") or []

    @strawberry.field
    def tags(self) -> list[str]:
        return self.match.get("tags") or []

    @strawberry.field
    def sources(self) -> list[str]:
        return self.match.get("sources") or []

    @strawberry.field
    def amount_min(self) -> Decimal | None:
        value = self.match.get("amountMin")
        return Decimal(value) if value is not None else None

    @strawberry.field
    def amount_max(self) -> Decimal | None:
        value = self.match.get("amountMax")
        return Decimal(value) if value is not None else None

    @strawberry.field
    def department_key(self) -> str | None:
        return self.target.get("departmentKey")

    @strawberry.field
    def user_ids(self) -> list[strawberry.ID]:
        return rules.rule_user_ids(self)

    @strawberry.field(metadata=at_most(rules.MAX_VALUES))
    async def users(self, info: strawberry.Info) -> list[User]:
        ids = (self.target.get("userIds") or [])[:rules.MAX_VALUES]
        if not ids:
            return []
        found = {u.id: u for u in await info.context.loaders.all(select(m.User).where(m.User.id.in_(ids)))}
        return [found[pk] for pk in ids if pk in found]

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.AssignmentRule)


@strawberry.input
class AssignmentRuleInput:
    name: str
    strategy: AssignmentStrategy
    regions: list[str] | None = strawberry.UNSET
    industries: list[str] | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    sources: list[str] | None = strawberry.UNSET
    amount_min: Decimal | None = strawberry.UNSET
    amount_max: Decimal | None = strawberry.UNSET
    department_key: str | None = strawberry.UNSET
    user_ids: list[strawberry.ID] | None = strawberry.UNSET
    capacity: int | None = strawberry.UNSET


@strawberry.input
class SetAssignmentRulesInput:
    rules: list[AssignmentRuleInput]


@strawberry.type
class SetAssignmentRulesPayload:
    assignment_rules: list[AssignmentRule] = strawberry.field(metadata=at_most(rules.MAX_RULES))
    user_errors: list[UserError]


@strawberry.input
class ClaimOpportunityInput:
    id: strawberry.ID


@strawberry.input
class ReleaseOpportunityInput:
    id: strawberry.ID
    reason: str
    version: int | None = strawberry.UNSET


@strawberry.type
class PoolPayload:
    opportunity: Opportunity | None
    user_errors: list[UserError]


@strawberry.input
class SetStagePoolAfterDaysInput:
    stage_id: strawberry.ID
    days: int | None


@strawberry.type
class SetStagePoolAfterDaysPayload:
    stage: Stage | None
    user_errors: list[UserError]


@strawberry.type
class AssignmentOwnerStats:
    offered: int
    claimed: int
    won: int
    lost: int
    open_load: int

    @strawberry.field
    def user(self, info: strawberry.Info) -> User:
        return ready(info.context.loaders.user, self.user_id)


@strawberry.type
class AssignmentRuleStats:
    rule_name: str
    offered: int
    claimed: int
    won: int
    lost: int
    people: list[AssignmentOwnerStats] = strawberry.field(metadata=at_most(rules.MAX_TARGET_USERS))
    max_open_load: int | None
    min_open_load: int | None
    spread: int | None


@strawberry.type
class AssignmentReport:
    owners: list[AssignmentOwnerStats] = strawberry.field(metadata=at_most(MAX_USERS))
    rules: list[AssignmentRuleStats] = strawberry.field(metadata=at_most(rules.MAX_RULES))

    @strawberry.field(name="from")
    def start(self) -> datetime.datetime:
        return self.start

    @strawberry.field(name="to")
    def end(self) -> datetime.datetime:
        return self.end


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN, metadata=at_most(rules.MAX_RULES))
    async def assignment_rules(self, info: strawberry.Info) -> list[AssignmentRule]:
        return (await rules.list_assignment_rules(info.context))[:rules.MAX_RULES]

    @strawberry.field(**SIGNED_IN)
    async def pool(
        self, info: strawberry.Info, department_key: str | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[Opportunity]:
        return Connection(page=await pool_rules.list_pool(info.context, department_key, first, after))

    @strawberry.field(**SIGNED_IN)
    async def assignment_report(
        self, info: strawberry.Info,
        from_: Annotated[datetime.datetime, strawberry.argument(name="from")],
        to: datetime.datetime,
    ) -> AssignmentReport:
        return await report_rules.assignment_report(info.context, from_, to)


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def set_assignment_rules(self, info: strawberry.Info, input: SetAssignmentRulesInput) -> SetAssignmentRulesPayload:
        data = to_data(input)
        data["rules"] = [to_data(rule) for rule in data["rules"]]
        saved, errors = await rules.set_assignment_rules(info.context, data)
        return SetAssignmentRulesPayload(assignment_rules=(saved or [])[:rules.MAX_RULES], user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def claim_opportunity(self, info: strawberry.Info, input: ClaimOpportunityInput) -> PoolPayload:
        opportunity, errors = await pool_rules.claim_opportunity(info.context, to_data(input))
        return PoolPayload(opportunity=opportunity, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def release_opportunity(self, info: strawberry.Info, input: ReleaseOpportunityInput) -> PoolPayload:
        opportunity, errors = await pool_rules.release_opportunity(info.context, to_data(input))
        return PoolPayload(opportunity=opportunity, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def set_stage_pool_after_days(self, info: strawberry.Info, input: SetStagePoolAfterDaysInput) -> SetStagePoolAfterDaysPayload:
        stage, errors = await pool_rules.set_stage_pool_after_days(info.context, to_data(input))
        return SetStagePoolAfterDaysPayload(stage=stage, user_errors=errors)
