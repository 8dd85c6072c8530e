"""`node(id)`: any entity by its global id, within the viewer's organization."""
import asyncio

import strawberry

from resolvers.accounts import account_visible
from resolvers.attachments import visible_attachment
from resolvers.ids import parse_global
from resolvers.visibility import ensure_access
from resolvers.paging import BadInput
from schema.errors import SIGNED_IN
from schema.limits import at_most
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
    "Attachment": None,  # resolvers.attachments.visible_attachment
}


MAX_NODES = 100  # ids per `nodes` call


async def load_node(ctx, id: str):
    parsed = parse_global(id)
    if parsed is None or parsed[0] not in LOADERS:
        return None
    type_name, pk = parsed
    await ensure_access(ctx)
    if type_name == "Account" and not await account_visible(ctx, pk):
        return None  # withheld, or neither the viewer's nor on a card they see
    if type_name == "Attachment":
        return await visible_attachment(ctx, pk)  # only on a card the viewer sees
    # Cards outside the viewer's access, and what hangs off them, load as None.
    return await getattr(ctx.loaders, LOADERS[type_name]).load(pk)


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN)
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        return await load_node(info.context, id)

    @strawberry.field(**SIGNED_IN, metadata=at_most(MAX_NODES),
                      description="Several entities at once, in the order asked (null where an id is unknown or not visible)")
    async def nodes(self, info: strawberry.Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise BadInput(f"Ask for at most {MAX_NODES} ids at once")
        return list(await asyncio.gather(*(load_node(info.context, i) for i in ids)))  # one batch per type
