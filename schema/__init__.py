"""The GraphQL schema: each domain module contributes Query/Mutation/Subscription
fields, merged here into the root types."""
import strawberry
from strawberry.tools import merge_types

from schema import (
    approvals,
    comments,
    events,
    handoffs,
    nodes,
    notifications,
    opportunities,
    people,
    tasks,
)

DOMAINS = (nodes, people, opportunities, tasks, comments, handoffs, approvals, notifications, events)


def _root(name: str):
    parts = tuple(getattr(module, name) for module in DOMAINS if hasattr(module, name))
    return merge_types(name, parts) if parts else None


def build_schema(extensions: list | None = None) -> strawberry.Schema:
    from schema.errors import MaskServerErrors

    return strawberry.Schema(
        query=_root("Query"),
        mutation=_root("Mutation"),
        subscription=_root("Subscription"),
        # Types reachable only through the Node interface or lazily.
        types=[
            people.Department, people.User, opportunities.Stage, opportunities.Pipeline, opportunities.Account,
            opportunities.Opportunity, tasks.Task, comments.Comment, handoffs.Handoff, approvals.Approval,
            notifications.Notification,
        ],
        extensions=[MaskServerErrors, *(extensions or [])],
    )


schema = build_schema()
