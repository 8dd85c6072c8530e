"""Comments and @mentions."""
import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from db import models as m
from db.loaders import MAX_MENTIONS
from resolvers import comments as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.people import User
from schema.relay import Node, global_id
from schema.tasks import Task

if TYPE_CHECKING:
    from schema.opportunities import Opportunity


@strawberry.type
class Comment(Node):
    id: strawberry.ID = global_id("Comment")
    body: str
    created_at: datetime.datetime

    @strawberry.field
    async def author(self, info: strawberry.Info) -> User:
        return await info.context.loaders.user.load(self.author_id)

    @strawberry.field
    async def opportunity(self, info: strawberry.Info) -> Annotated["Opportunity", strawberry.lazy("schema.opportunities")]:
        return await info.context.loaders.opportunity.load(self.opportunity_id)

    @strawberry.field
    async def task(self, info: strawberry.Info) -> Task | None:
        return await info.context.loaders.task.load(self.task_id) if self.task_id else None

    @strawberry.field(metadata=at_most(MAX_MENTIONS))
    async def mentions(self, info: strawberry.Info) -> list[User]:
        users = await info.context.loaders.user.load_many((self.mention_user_ids or [])[:MAX_MENTIONS])
        return [u for u in users if u is not None]

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Comment)


@strawberry.input
class AddCommentInput:
    opportunity_id: strawberry.ID
    body: str
    task_id: strawberry.ID | None = strawberry.UNSET


@strawberry.type
class CommentPayload:
    comment: Comment | None
    user_errors: list[UserError]


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def add_comment(self, info: strawberry.Info, input: AddCommentInput) -> CommentPayload:
        comment, errors = await rules.add_comment(info.context, to_data(input))
        return CommentPayload(comment=comment, user_errors=errors)
