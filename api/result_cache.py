"""Query results cached per (organization, its event seq, what the viewer may see,
clock minute, document, variables, operation), shared by everyone in the
organization who sees the same (resolvers/visibility.py: Access.key).

Every committed change bumps the organization's seq, which each request reads
while authenticating (no extra statement). A result computed after reading seq N
reflects at least N, so serving it to later requests that also read N is exact;
the first request after a change reads N+1, misses, and computes afresh; requests
that arrive while it computes wait for that one computation (single flight). The
minute in the key bounds how long time-derived fields (`overdue`, `staleOnly`)
can lag. Only error-free results of queries whose root fields all read
event-versioned, organization-wide data are kept (everyone with the same access
key sees the same board; access rules change only with an event, so the seq
versions them too): per-user state (notifications, tokens, the viewer) and
rows written without an event (users, webhooks) are never cached, and a document
selecting a `viewer...` field (what the asking user may do) is kept per user."""
import asyncio
import json
from collections import OrderedDict
from functools import lru_cache

from graphql import FieldNode, OperationDefinitionNode, OperationType, Visitor, parse, visit
from graphql.error import GraphQLError

from resolvers.events import sees_configuration


# Root query fields whose answers change only through committed events.
VERSIONED_BY_EVENTS = frozenset({"board", "opportunities", "pipelines", "tasks", "approvals", "events", "analytics", "__typename"})


class _ViewerFields(Visitor):
    """Finds fields answered for the asking user (`viewerCanDecide`, `viewerIsRequester`, ...)."""

    def __init__(self):
        super().__init__()
        self.found = False

    def enter_field(self, node, *_):
        # A signed download link names the user it was made for (resolvers/attachments.py).
        if node.name.value.startswith("viewer") or node.name.value == "downloadUrl":
            self.found = True


@lru_cache(maxsize=512)
def _cacheable(document: str, operation_name: str | None) -> tuple[bool, bool]:
    """(whether the result may be cached, whether only for the asking user)."""
    try:
        parsed = parse(document)
    except GraphQLError:
        return False, False
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    if len(chosen) != 1 or chosen[0].operation != OperationType.QUERY:
        return False, False
    selections = chosen[0].selection_set.selections
    if not all(isinstance(s, FieldNode) and s.name.value in VERSIONED_BY_EVENTS for s in selections):
        return False, False
    viewer_fields = _ViewerFields()
    visit(parsed, viewer_fields)
    return True, viewer_fields.found


class ResultCache:
    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[tuple, object] = OrderedDict()
        self._computing: dict[tuple, asyncio.Future] = {}

    def key(self, ctx, request_data) -> tuple | None:
        viewer = ctx.viewer
        if self.size <= 0 or viewer is None or viewer.org_seq is None or not request_data.query:
            return None
        cacheable, per_viewer = _cacheable(request_data.query, request_data.operation_name)
        if not cacheable:
            return None
        minute = ctx.clock().replace(second=0, microsecond=0)
        variables = json.dumps(request_data.variables or {}, sort_keys=True, default=str)
        access = viewer.access.key if viewer.access is not None else None
        if sees_configuration(viewer):  # `events` answers admins with the configuration log's events too
            access = (access, "configuration")
        if per_viewer:  # what the viewer may do is theirs alone
            access = (access, "viewer", viewer.id)
        extensions = json.dumps(request_data.extensions or {}, sort_keys=True, default=str)  # e.g. {"cost": true}
        # Texts in a result (messages, errors) are in the request's language.
        return (viewer.org_id, viewer.org_seq, minute, viewer.log_floor, access, ctx.locale, request_data.query, variables,
                request_data.operation_name, extensions)

    async def get_or_compute(self, key: tuple | None, compute):
        """The cached result for `key`, the one being computed for it, or a new one."""
        if key is None:
            return await compute()
        cached = self.get(key)
        if cached is not None:
            return cached
        pending = self._computing.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._computing[key] = future
        try:
            result = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark it retrieved: asyncio warns about unread exceptions
            raise
        else:
            future.set_result(result)
            self.put(key, result)
            return result
        finally:
            del self._computing[key]

    def get(self, key: tuple):
        result = self._entries.get(key)
        if result is None:
            return None
        self._entries.move_to_end(key)
        return result

    def put(self, key: tuple, result) -> None:
        if result.errors:
            return
        # Once a result for a newer seq or minute exists, requests never ask for the
        # organization's older ones again: drop them now instead of at LRU eviction,
        # so dead boards (thousands of objects each) don't stay for the garbage
        # collector to walk on every full collection.
        org, version = key[0], key[1:3]
        for old in [k for k in self._entries if k[0] == org and k[1:3] < version]:
            del self._entries[old]
        self._entries[key] = result
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
