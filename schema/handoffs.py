"""Handoffs between departments."""
import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from db import models as m
from resolvers.access import can_respond, writes
from resolvers import handoffs as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.people import Department, User
from schema.relay import Node, global_id

if TYPE_CHECKING:
    from schema.opportunities import Opportunity


@strawberry.enum
class HandoffStatus(str, Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"


@strawberry.type
class Handoff(Node):
    id: strawberry.ID = global_id("Handoff")
    note: str | None
    status: HandoffStatus
    response_note: str | None
    created_at: datetime.datetime
    responded_at: datetime.datetime | None

    @strawberry.field
    async def opportunity(self, info: strawberry.Info) -> Annotated["Opportunity", strawberry.lazy("schema.opportunities")]:
        return await info.context.loaders.opportunity.load(self.opportunity_id)

    @strawberry.field
    async def from_department(self, info: strawberry.Info) -> Department:
        return await info.context.loaders.department.load(self.from_department_id)

    @strawberry.field
    async def to_department(self, info: strawberry.Info) -> Department:
        return await info.context.loaders.department.load(self.to_department_id)

    @strawberry.field
    async def requested_by(self, info: strawberry.Info) -> User:
        return await info.context.loaders.user.load(self.requested_by_id)

    @strawberry.field
    async def assignee(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.assignee_id) if self.assignee_id else None

    @strawberry.field(description="The viewer may accept or decline it now (the receiving department or an admin, while pending)")
    def viewer_can_respond(self, info: strawberry.Info) -> bool:
        viewer = info.context.viewer
        return self.status == "PENDING" and writes(viewer) and can_respond(viewer, self)

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Handoff)


@strawberry.input
class RequestHandoffInput:
    opportunity_id: strawberry.ID
    to_department_key: str
    assignee_id: strawberry.ID | None = strawberry.UNSET
    note: str | None = strawberry.UNSET


@strawberry.input
class RespondHandoffInput:
    id: strawberry.ID
    accept: bool
    note: str | None = strawberry.UNSET


@strawberry.input
class CancelHandoffInput:
    id: strawberry.ID


@strawberry.type
class HandoffPayload:
    handoff: Handoff | None
    user_errors: list[UserError]


def payload(result) -> HandoffPayload:
    handoff, errors = result
    return HandoffPayload(handoff=handoff, user_errors=errors)


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def request_handoff(self, info: strawberry.Info, input: RequestHandoffInput) -> HandoffPayload:
        return payload(await rules.request_handoff(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN)
    async def respond_handoff(self, info: strawberry.Info, input: RespondHandoffInput) -> HandoffPayload:
        return payload(await rules.respond_handoff(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description="The requester (or an admin) withdraws a pending handoff")
    async def cancel_handoff(self, info: strawberry.Info, input: CancelHandoffInput) -> HandoffPayload:
        return payload(await rules.cancel_handoff(info.context, to_data(input)))
