"""The notifications inbox."""
import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from db import models as m
from resolvers import notifications as rules
from schema.errors import SIGNED_IN, UserError
from schema.relay import Connection, Node, global_id

if TYPE_CHECKING:
    from schema.opportunities import Opportunity


@strawberry.enum(description="Why a notification was sent (`Notification.type`)")
class NotificationKind(Enum):  # no str mixin: it would turn enum_value() into the value itself
    MENTION = strawberry.enum_value("mention", description="Someone @mentioned the user or their department in a comment")
    ASSIGNED = strawberry.enum_value("assigned", description="The user was made owner of a card, or assigned a task or a handoff")
    HANDOFF = strawberry.enum_value("handoff", description="A handoff to the user's department was requested, or theirs was answered")
    APPROVAL = strawberry.enum_value("approval", description="An approval needs the user's decision, or one they requested moved on")
    ALERT = strawberry.enum_value("alert", description="Something waited too long: a pending handoff or approval step, an overdue task, a stale card")
    ESCALATION = strawberry.enum_value("escalation", description="An alert went unanswered and climbed to the user as a manager or admin (escalation rules)")
    DELIVERABLE = strawberry.enum_value("deliverable", description="A deliverable of the user's card was ticked or unticked")
    OTHER = strawberry.enum_value("other", description="A kind this client's schema does not know yet: read `kind`")


@strawberry.type(description="An entry in a user's inbox, tied to the event that caused it")
class Notification(Node):
    id: strawberry.ID = global_id("Notification")
    kind: str = strawberry.field(description="The notification kind as a string (see `type` for the enum)")

    @strawberry.field(description="The notification kind as an enum; OTHER for a kind unknown to this schema, so a new kind never breaks a query")
    def type(self) -> NotificationKind:
        try:
            return NotificationKind(self.kind)
        except ValueError:
            return NotificationKind.OTHER

    @strawberry.field(description="The text, in the reader's language")
    def message(self, info: strawberry.Info) -> str:
        return rules.message_in(self, info.context.locale)

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
