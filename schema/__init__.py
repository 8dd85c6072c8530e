"""The GraphQL schema: each domain module contributes Query/Mutation/Subscription
fields, merged here into the root types."""
import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.tools import merge_types

from schema.descriptions import describe
from schema.limits import HostileStrings, RootFieldExtension, TimedSchema

from schema import (
    access,
    accounts,
    analytics,
    approvals,
    assignment,
    attachments,
    channels,
    comments,
    events,
    exports,
    handoffs,
    integrations,
    money,
    nodes,
    notifications,
    opportunities,
    people,
    pipelines,
    planning,
    records,
    settings_people,
    stage_work,
    tasks,
)

DOMAINS = (nodes, people, opportunities, tasks, comments, handoffs, approvals, notifications, analytics, pipelines, events, integrations, exports, access, stage_work, channels, money, accounts, records, settings_people, attachments, planning, assignment)


class _ParserCache(ParserCache):
    """ParserCache, but a syntax error is left to Strawberry's own parse step: raised
    here it would skip the operation hooks, so MaskServerErrors would not give it a code."""

    def on_parse(self):
        ec = self.execution_context
        try:
            ec.graphql_document = self.cached_parse_document(ec.query, **ec.parse_options)
        except GraphQLError:
            pass
        yield


def _root(name: str, field_extensions=()):
    parts = tuple(getattr(module, name) for module in DOMAINS if hasattr(module, name))
    if not parts:
        return None
    merged = merge_types(name, parts)
    for field in merged.__strawberry_definition__.fields:
        # Root fields are shared by every schema built in this process; Strawberry
        # binds a field's extensions when it builds a schema, so replacing ours
        # here leaves schemas built earlier untouched.
        field.extensions = [e for e in field.extensions if not isinstance(e, RootFieldExtension)] + [
            e for e in field_extensions if e.only is None or field.python_name in e.only or field.name in e.only
        ]
    return merged


def build_schema(extensions: list | None = None, root_field_extensions: list | None = None) -> strawberry.Schema:
    """The schema with schema-wide `extensions` and per-root-field ones (see
    schema.limits.RootFieldExtension); HostileStrings guards every root field."""
    from schema.errors import MaskServerErrors

    field_extensions = [HostileStrings(), *(root_field_extensions or [])]
    built = TimedSchema(
        query=_root("Query", field_extensions),
        mutation=_root("Mutation", field_extensions),
        subscription=_root("Subscription"),
        # Types reachable only through the Node interface or lazily.
        types=[
            people.Department, people.User, opportunities.Stage, opportunities.Pipeline, opportunities.Account,
            opportunities.Opportunity, tasks.Task, comments.Comment, handoffs.Handoff, approvals.Approval,
            notifications.Notification, integrations.ApiToken, integrations.Webhook, integrations.WebhookDelivery,
            channels.NotificationChannel, channels.ChannelDelivery, attachments.Attachment,
        ],
        # Parsing and validating the board's document cost more than resolving a
        # third of its fields: both are cached per document text.
        extensions=[MaskServerErrors, lambda: _ParserCache(maxsize=512), lambda: ValidationCache(maxsize=512), *(extensions or [])],
    )
    describe(built._schema)
    return built


schema = build_schema()
