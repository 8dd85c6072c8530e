"""`node(id)`: any entity by its global id, within the viewer's organization."""
import strawberry

from resolvers.ids import parse_global
from schema.errors import SIGNED_IN
from schema.relay import Node

# Global id type name -> loader attribute on db.loaders.Loaders
LOADERS = {
    "Department": "department",
    "User": "user",
    "Pipeline": "pipeline",
    "Stage": "stage",
    "Account": "account",
    "Opportunity": "opportunity",
    "Task": "task",
    "Comment": "comment",
    "Handoff": "handoff",
    "Approval": "approval",
}


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN)
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        parsed = parse_global(id)
        if parsed is None or parsed[0] not in LOADERS:
            return None
        type_name, pk = parsed
        return await getattr(info.context.loaders, LOADERS[type_name]).load(pk)
