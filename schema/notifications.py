"""The notifications inbox."""
import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from db import models as m
from schema.relay import Node, global_id

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
