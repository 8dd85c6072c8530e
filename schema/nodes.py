"""`node(id)`: any entity by its global id, within the viewer's organization."""
import strawberry

from resolvers import visibility
from resolvers.ids import parse_global
from resolvers.visibility import ensure_access
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
        ctx = info.context
        await ensure_access(ctx)
        if type_name == "Account" and not await visibility.account_visible(ctx, pk):
            return None  # a withheld account, or one only on cards the viewer does not see
        # Cards outside the viewer's access, and what hangs off them, load as None.
        return await getattr(ctx.loaders, LOADERS[type_name]).load(pk)
