"""The GraphQL schema: each domain module contributes Query/Mutation/Subscription
fields, merged here into the root types."""
import strawberry
from strawberry.tools import merge_types

from schema import (
    analytics,
    approvals,
    comments,
    events,
    handoffs,
    integrations,
    nodes,
    notifications,
    opportunities,
    people,
    pipelines,
    tasks,
)

DOMAINS = (nodes, people, opportunities, tasks, comments, handoffs, approvals, notifications, analytics, pipelines, events, integrations)


def _root(name: str):
    parts = tuple(getattr(module, name) for module in DOMAINS if hasattr(module, name))
    return merge_types(name, parts) if parts else None


def build_schema(extensions: list | None = None) -> strawberry.Schema:
    from schema.errors import MaskServerErrors
    from schema.limits import TimedSchema

    return TimedSchema(
        query=_root("Query"),
        mutation=_root("Mutation"),
        subscription=_root("Subscription"),
        # Types reachable only through the Node interface or lazily.
        types=[
            people.Department, people.User, opportunities.Stage, opportunities.Pipeline, opportunities.Account,
            opportunities.Opportunity, tasks.Task, comments.Comment, handoffs.Handoff, approvals.Approval,
            notifications.Notification, integrations.ApiToken, integrations.Webhook, integrations.WebhookDelivery,
        ],
        extensions=[MaskServerErrors, *(extensions or [])],
    )


schema = build_schema()
