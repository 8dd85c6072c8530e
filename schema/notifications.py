"""The notifications inbox."""
import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from db import models as m
from resolvers import notifications as rules
from schema.errors import SIGNED_IN, UserError
from schema.relay import Connection, Node, global_id

if TYPE_CHECKING:
    from schema.opportunities import Opportunity


@strawberry.type
class Notification(Node):
    id: strawberry.ID = global_id("Notification")
    kind: str
    message: str
    created_at: datetime.datetime

    @strawberry.field
    def read(self) -> bool:
        return self.read_at is not None

    @strawberry.field
    async def opportunity(self, info: strawberry.Info) -> Annotated["Opportunity", strawberry.lazy("schema.opportunities")] | None:
        return await info.context.loaders.opportunity.load(self.opportunity_id) if self.opportunity_id else None

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Notification)


@strawberry.type(name="NotificationConnection")
class NotificationConnection(Connection[Notification]):
    """The inbox page plus how many notifications are unread in all."""

    @strawberry.field
    async def unread_count(self, info: strawberry.Info) -> int:
        return await rules.unread_count(info.context)


@strawberry.input
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] | None = strawberry.field(default=None, description="all when omitted")


@strawberry.type
class MarkNotificationsReadPayload:
    unread_count: int
    user_errors: list[UserError]


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN, description="The viewer's inbox, newest first")
    async def notifications(
        self, info: strawberry.Info, unread_only: bool | None = None, first: int | None = None, after: str | None = None
    ) -> NotificationConnection:
        return NotificationConnection(page=await rules.list_notifications(info.context, unread_only, first, after))


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def mark_notifications_read(self, info: strawberry.Info, input: MarkNotificationsReadInput) -> MarkNotificationsReadPayload:
        count, errors = await rules.mark_read(info.context, input.ids)
        if count is None:
            count = await rules.unread_count(info.context)
        return MarkNotificationsReadPayload(unread_count=count, user_errors=errors)
