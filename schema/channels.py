"""Notification channels (email, Feishu, DingTalk, WeCom), preferences, the channel
delivery log and escalation rules (docs/notifications.md)."""
import datetime
from enum import Enum

import strawberry

from db import models as m
from resolvers import channels as rules
from resolvers import escalation
from resolvers.channel_formats import mask_target
from resolvers.ids import to_global
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.people import Department, User
from schema.relay import Connection, Node, global_id


@strawberry.enum
class ChannelType(str, Enum):
    EMAIL = "EMAIL"
    FEISHU = "FEISHU"
    DINGTALK = "DINGTALK"
    WECOM = "WECOM"


@strawberry.enum
class ChannelDeliveryStatus(str, Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@strawberry.enum
class EscalationKind(str, Enum):
    STALE_DEAL = "STALE_DEAL"
    OVERDUE_TASK = "OVERDUE_TASK"
    PENDING_HANDOFF = "PENDING_HANDOFF"
    FOLLOW_UP_DUE = "FOLLOW_UP_DUE"
    CUSTOMER_SILENCE = "CUSTOMER_SILENCE"


@strawberry.type(description="Where notifications go besides the inbox: a department's or a user's own")
class NotificationChannel(Node):
    id: strawberry.ID = global_id("NotificationChannel")
    type: ChannelType
    name: str
    kinds: list[str] = strawberry.field(description="Notification kinds a department's channel hears; empty: all")
    enabled: bool
    failing_since: datetime.datetime | None
    consecutive_failures: int = strawberry.field(
        description="Failed delivery attempts since the last success; at BATON_CHANNEL_DISABLE_AFTER_FAILURES the channel is disabled")
    disabled_at: datetime.datetime | None = strawberry.field(
        description="When Baton disabled the channel for failing (null when enabled, or disabled by a person)")
    disabled_reason: str | None = strawberry.field(
        description="Why Baton disabled it: the failures in a row and the last error; enabling it again clears this")
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @strawberry.field(description="The email address, or the bot's URL with its credential masked")
    def target(self) -> str:
        return mask_target(self.type, self.target)

    @strawberry.field(description="Whether a signing secret is set (it is never shown)")
    def has_secret(self) -> bool:
        return bool(self.secret)

    @strawberry.field(description="Set for a department's channel")
    async def department(self, info: strawberry.Info) -> Department | None:
        return await info.context.loaders.department.load(self.department_id) if self.department_id else None

    @strawberry.field(description="Set for a user's own channel")
    async def user(self, info: strawberry.Info) -> User | None:
        return await info.context.loaders.user.load(self.user_id) if self.user_id else None

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.NotificationChannel)


@strawberry.type(description="One message for one channel and its attempts")
class ChannelDelivery(Node):
    id: strawberry.ID = global_id("ChannelDelivery")
    kind: str = strawberry.field(description="The notification kind, or digest / test")
    event_seq: int | None
    status: ChannelDeliveryStatus
    attempts: int
    next_attempt_at: datetime.datetime | None
    last_attempt_at: datetime.datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime.datetime | None
    created_at: datetime.datetime

    @strawberry.field(description="The message's title and text as sent")
    def summary(self) -> str:
        payload = self.payload or {}
        return f"{payload.get('title', '')}: {payload.get('text', '')}"

    @strawberry.field
    def channel_id(self) -> strawberry.ID:
        return strawberry.ID(to_global("NotificationChannel", self.channel_id))

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.ChannelDelivery)


@strawberry.type
class NotificationRoute:
    kind: str
    channel_ids: list[strawberry.ID] = strawberry.field(description="Empty: this kind stays in the inbox")


@strawberry.type(description="The viewer's routing, quiet hours and daily digest")
class NotificationPreferences:
    time_zone: str
    quiet_hours_start: str | None = strawberry.field(description="HH:MM, the viewer's local time")
    quiet_hours_end: str | None
    digest_time: str | None = strawberry.field(description="HH:MM local time of the daily digest; null: none")

    @strawberry.field(
        metadata=at_most(len(rules.KINDS)),
        description="Kinds routed to some of the viewer's channels; a kind not listed goes to all of them",
    )
    def routes(self) -> list[NotificationRoute]:
        return [
            NotificationRoute(kind=kind, channel_ids=[strawberry.ID(to_global("NotificationChannel", pk)) for pk in ids])
            for kind, ids in rules.routes_of(self._row) if kind in rules.KINDS
        ][: len(rules.KINDS)]

    _row: strawberry.Private[m.NotificationPreference]

    @classmethod
    def of(cls, row: m.NotificationPreference) -> "NotificationPreferences":
        return cls(time_zone=row.time_zone, quiet_hours_start=row.quiet_start, quiet_hours_end=row.quiet_end,
                   digest_time=row.digest_time, _row=row)


@strawberry.type(description="When an unanswered alert of a kind climbs to managers, then admins")
class EscalationRule:
    alert_after_hours: int | None = strawberry.field(description="PENDING_HANDOFF: hours until the first alert")
    managers_after_hours: int | None = strawberry.field(description="Hours after the alert began; null: never")
    admins_after_hours: int | None
    updated_at: datetime.datetime

    @strawberry.field
    def kind(self) -> EscalationKind:
        return EscalationKind(escalation.API_NAMES[self.kind])

    @strawberry.field(description="STALE_DEAL and CUSTOMER_SILENCE rules may name a stage; null: every stage")
    def stage_key(self) -> str | None:
        return self.stage_key or None

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.EscalationRule)


@strawberry.input
class SetNotificationChannelInput:
    id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Change this channel; omitted: a new one")
    type: ChannelType | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    department_key: str | None = strawberry.field(
        default=strawberry.UNSET, description="Admins: the department whose channel it is; omitted: your own channel"
    )
    target: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="An email address (your own channel defaults to your sign-in address) or the bot's webhook URL",
    )
    secret: str | None = strawberry.field(default=strawberry.UNSET, description="Feishu's or DingTalk's signing secret")
    kinds: list[str] | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.type
class NotificationChannelPayload:
    channel: NotificationChannel | None
    user_errors: list[UserError]


@strawberry.input
class NotificationChannelIdInput:
    id: strawberry.ID


@strawberry.type
class DeleteNotificationChannelPayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class TestNotificationChannelPayload:
    delivery: ChannelDelivery | None = strawberry.field(description="Queued, due now: follow it in channelDeliveries")
    user_errors: list[UserError]


@strawberry.input
class NotificationRouteInput:
    kind: str
    channel_ids: list[strawberry.ID]


@strawberry.input
class SetNotificationPreferencesInput:
    routes: list[NotificationRouteInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces every route; a kind not listed goes to all your channels"
    )
    time_zone: str | None = strawberry.UNSET
    quiet_hours_start: str | None = strawberry.UNSET
    quiet_hours_end: str | None = strawberry.UNSET
    digest_time: str | None = strawberry.UNSET


@strawberry.type
class NotificationPreferencesPayload:
    preferences: NotificationPreferences | None
    user_errors: list[UserError]


@strawberry.input
class SetEscalationRuleInput:
    kind: EscalationKind
    stage_key: str | None = strawberry.UNSET
    alert_after_hours: int | None = strawberry.UNSET
    managers_after_hours: int | None = strawberry.UNSET
    admins_after_hours: int | None = strawberry.UNSET


@strawberry.type
class EscalationRulePayload:
    rule: EscalationRule | None
    user_errors: list[UserError]


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN, description="Your own channels; admins: every channel of the organization")
    async def notification_channels(self, info: strawberry.Info, first: int | None = None, after: str | None = None) -> Connection[NotificationChannel]:
        return Connection(page=await rules.list_channels(info.context, first, after))

    @strawberry.field(**SIGNED_IN, description="The channel delivery log, newest first (admins; others: one of their channels)")
    async def channel_deliveries(
        self, info: strawberry.Info, channel_id: strawberry.ID | None = None, status: list[ChannelDeliveryStatus] | None = None,
        first: int | None = None, after: str | None = None,
    ) -> Connection[ChannelDelivery]:
        statuses = [s.value for s in status] if status else None
        return Connection(page=await rules.deliveries(info.context, channel_id, statuses, first, after))

    @strawberry.field(**SIGNED_IN)
    async def notification_preferences(self, info: strawberry.Info) -> NotificationPreferences:
        return NotificationPreferences.of(await rules.preferences(info.context))

    @strawberry.field(**SIGNED_IN, metadata=at_most(escalation.MAX_RULES), description="Escalation rules (admins)")
    async def escalation_rules(self, info: strawberry.Info) -> list[EscalationRule]:
        return (await escalation.list_rules(info.context))[: escalation.MAX_RULES]


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN, description="Add or change a channel: your own, or (admins) a department's")
    async def set_notification_channel(self, info: strawberry.Info, input: SetNotificationChannelInput) -> NotificationChannelPayload:
        row, errors = await rules.set_channel(info.context, to_data(input))
        return NotificationChannelPayload(channel=row, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def delete_notification_channel(self, info: strawberry.Info, input: NotificationChannelIdInput) -> DeleteNotificationChannelPayload:
        deleted, errors = await rules.delete_channel(info.context, to_data(input))
        return DeleteNotificationChannelPayload(deleted_id=deleted, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Queue a test message on a channel, due now")
    async def test_notification_channel(self, info: strawberry.Info, input: NotificationChannelIdInput) -> TestNotificationChannelPayload:
        delivery, errors = await rules.test_channel(info.context, to_data(input))
        return TestNotificationChannelPayload(delivery=delivery, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Route kinds to your channels, set quiet hours and the daily digest")
    async def set_notification_preferences(self, info: strawberry.Info, input: SetNotificationPreferencesInput) -> NotificationPreferencesPayload:
        data = to_data(input)
        if data.get("routes"):
            data["routes"] = [to_data(route) for route in data["routes"]]
        row, errors = await rules.set_preferences(info.context, data)
        return NotificationPreferencesPayload(preferences=NotificationPreferences.of(row) if row else None, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Admins: when an unanswered alert climbs to managers, then admins")
    async def set_escalation_rule(self, info: strawberry.Info, input: SetEscalationRuleInput) -> EscalationRulePayload:
        row, errors = await escalation.set_rule(info.context, to_data(input))
        return EscalationRulePayload(rule=row, user_errors=errors)
