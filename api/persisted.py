"""Persisted queries for mobile clients.

- Automatic Persisted Queries (Apollo's convention): a request may carry
  `extensions.persistedQuery = {"version": 1, "sha256Hash": H}`. With a `query`, the
  hash is checked against the query's SHA-256 and stored; without one, the stored
  query runs, or the answer is a GraphQL error with code PERSISTED_QUERY_NOT_FOUND
  (the client then resends hash + query). Stored in a bounded in-process LRU.
- Operator lock: BATON_PERSISTED_QUERIES_ONLY=true with
  BATON_PERSISTED_QUERIES_FILE=manifest.json ({sha256: query}) runs only the listed
  operations, named by hash or sent in full; anything else gets
  PERSISTED_QUERY_NOT_ALLOWED (APQ registration is refused too).
"""
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path


def sha256(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


@dataclass
class Refusal:
    message: str
    code: str


class LRU:
    def __init__(self, size: int):
        self.size = max(size, 1)
        self._items: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: str) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def load_manifest(path: Path | str | None) -> dict[str, str]:
    if not path:
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{path}: the persisted-query manifest must be a JSON object {{sha256: query}}")
    manifest = {}
    for digest, query in data.items():
        if sha256(query) != digest.lower():
            raise ValueError(f"{path}: the hash {digest} does not match its query")
        manifest[digest.lower()] = query
    return manifest


class PersistedQueries:
    def __init__(self, *, only: bool = False, manifest_file=None, cache_size: int = 1000):
        self.only = only
        self.manifest = load_manifest(manifest_file)
        if only and not self.manifest:
            raise ValueError("BATON_PERSISTED_QUERIES_ONLY=true needs BATON_PERSISTED_QUERIES_FILE with at least one query")
        self.cache = LRU(cache_size)

    @classmethod
    def from_settings(cls, settings) -> "PersistedQueries":
        return cls(
            only=getattr(settings, "persisted_queries_only", False),
            manifest_file=getattr(settings, "persisted_queries_file", None),
            cache_size=getattr(settings, "apq_cache_size", 1000),
        )

    def resolve(self, query: str | None, extensions: dict | None) -> str | Refusal | None:
        """The query text to run, a Refusal, or the query unchanged (None when absent)."""
        persisted = (extensions or {}).get("persistedQuery")
        digest = None
        if isinstance(persisted, dict):
            digest = persisted.get("sha256Hash")
            if not isinstance(digest, str) or persisted.get("version", 1) != 1:
                return Refusal("Unsupported persistedQuery extension (version 1 with sha256Hash expected)", "PERSISTED_QUERY_INVALID")
            digest = digest.lower()
        if self.only:
            if query is not None:
                digest = sha256(query)
            if digest is None or digest not in self.manifest:
                return Refusal("Only persisted queries are allowed on this server", "PERSISTED_QUERY_NOT_ALLOWED")
            return self.manifest[digest]
        if digest is None:
            return query
        if query is None:
            stored = self.manifest.get(digest) or self.cache.get(digest)
            if stored is None:
                return Refusal("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
            return stored
        if sha256(query) != digest:
            return Refusal("provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH")
        self.cache.put(digest, query)
        return query


def apply(persisted: "PersistedQueries", request_data):
    """Resolve `request_data.query` in place; an ExecutionResult with the error if refused."""
    from graphql import GraphQLError
    from strawberry.types import ExecutionResult

    outcome = persisted.resolve(request_data.query, request_data.extensions)
    if isinstance(outcome, Refusal):
        return ExecutionResult(data=None, errors=[GraphQLError(outcome.message, extensions={"code": outcome.code})])
    request_data.query = outcome
    return None
