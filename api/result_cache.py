"""Query results cached per (viewer, organization event seq, clock minute, document,
variables, operation).

Every committed change bumps the organization's seq, which each request reads
while authenticating (no extra statement). A result computed after reading seq N
reflects at least N, so serving it to later requests that also read N is exact;
the first request after a change reads N+1, misses, and computes afresh. The
minute in the key bounds how long time-derived fields (`overdue`, `staleOnly`)
can lag. Only error-free results of queries whose root fields all read
event-versioned data are kept: per-user state (notifications, tokens, the
viewer) and rows written without an event (users, webhooks) are never cached."""
import json
from collections import OrderedDict
from functools import lru_cache

from graphql import FieldNode, OperationDefinitionNode, OperationType, parse
from graphql.error import GraphQLError


# Root query fields whose answers change only through committed events.
VERSIONED_BY_EVENTS = frozenset({"board", "opportunities", "pipelines", "tasks", "approvals", "events", "analytics", "__typename"})


@lru_cache(maxsize=512)
def _cacheable(document: str, operation_name: str | None) -> bool:
    try:
        parsed = parse(document)
    except GraphQLError:
        return False
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    if len(chosen) != 1 or chosen[0].operation != OperationType.QUERY:
        return False
    selections = chosen[0].selection_set.selections
    return all(isinstance(s, FieldNode) and s.name.value in VERSIONED_BY_EVENTS for s in selections)


class ResultCache:
    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[tuple, object] = OrderedDict()
        self.hits = self.misses = 0

    def key(self, ctx, request_data) -> tuple | None:
        viewer = ctx.viewer
        if self.size <= 0 or viewer is None or viewer.org_seq is None or not request_data.query:
            return None
        if not _cacheable(request_data.query, request_data.operation_name):
            return None
        minute = ctx.clock().replace(second=0, microsecond=0)
        variables = json.dumps(request_data.variables or {}, sort_keys=True, default=str)
        return (viewer.id, viewer.org_seq, minute, request_data.query, variables, request_data.operation_name)

    def get(self, key: tuple):
        result = self._entries.get(key)
        if result is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return result

    def put(self, key: tuple, result) -> None:
        if result.errors:
            return
        self._entries[key] = result
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
