"""Relay-style pages. Lists are ordered by id (newest first unless stated) and the
cursor is the last id seen, so pages stay stable while cards are added or moved."""
import base64
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, func, select
from sqlalchemy.orm import aliased


class BadInput(Exception):
    """A malformed query argument (not a user's data mistake): a GraphQL error."""

    extensions = {"code": "BAD_USER_INPUT"}


class ResyncRequired(BadInput):
    """An event cursor older than what the log keeps (db/retention.py): the events after it
    are not all there, so the client reloads its view and resumes from the newest seq."""

    def __init__(self, after: int, oldest: int):
        super().__init__(f"Events up to seq {oldest - 1} are no longer kept, so not every event after {after} can be "
                         "sent: reload, then resume from the newest seq")
        self.extensions = {"code": "RESYNC_REQUIRED", "oldestSeq": oldest}


@dataclass
class Page:
    items: list[Any]
    has_next: bool = False
    has_previous: bool = False
    key: Callable[[Any], int] = field(default=lambda item: item.id)
    count: Callable[[], Awaitable[int]] | int | None = None

    def cursor(self, item) -> str:
        return encode_cursor(self.key(item))

    async def total_count(self) -> int:
        if callable(self.count):
            self.count = await self.count()
        return self.count if self.count is not None else len(self.items)


def encode_cursor(value: int) -> str:
    return base64.b64encode(f"c:{value}".encode()).decode()


# Ids are PostgreSQL INTEGERs, or BIGINTs in the tables that grow with activity
# (db/types.BigId): a key outside the column's range cannot name a row (and would
# overflow the database driver), so it is the client's mistake.
MAX_KEY = 2**31 - 1
MAX_BIG_KEY = 2**63 - 1


def max_key(column) -> int:
    return MAX_BIG_KEY if isinstance(column.type, BigInteger) else MAX_KEY


def parse_key(text: str, limit: int = MAX_KEY) -> int | None:
    """The key spelled by `text` (ASCII digits, within 0..limit), or None."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(limit))):
        return None
    key = int(text)
    return key if key <= limit else None


def decode_cursor(cursor: str | None, limit: int = MAX_KEY) -> int | None:
    if cursor is None:
        return None
    try:
        prefix, _, value = base64.b64decode(cursor, validate=True).decode().partition(":")
    except ValueError:  # not base64, not UTF-8
        prefix = value = ""
    key = parse_key(value, limit) if prefix == "c" else None
    if key is None:
        raise BadInput(f"Invalid cursor {cursor[:100]!r}")
    return key


def page_size(first: int | None, maximum: int, default: int = 25) -> int:
    if first is None:
        return min(default, maximum)
    if first < 0:
        raise BadInput("first must not be negative")
    return min(first, maximum)


def keyset(stmt, id_col, first: int, after: str | None, *, newest_first: bool = True):
    """Apply cursor, order and limit (+1 to learn whether a next page exists)."""
    after_id = decode_cursor(after, max_key(id_col))
    if after_id is not None:
        stmt = stmt.where(id_col < after_id if newest_first else id_col > after_id)
    return stmt.order_by(id_col.desc() if newest_first else id_col.asc()).limit(first + 1)


async def statement_page(loaders, stmt, id_col, first: int | None, after: str | None, maximum: int, *, newest_first: bool = True) -> Page:
    """One page of an unordered `stmt` keyed by `id_col`; its totalCount counts every
    row of `stmt` (one more statement, only when selected)."""
    size = page_size(first, maximum)
    rows = await loaders.all(keyset(stmt, id_col, size, after, newest_first=newest_first))

    async def count() -> int:
        return (await loaders.rows(select(func.count()).select_from(stmt.subquery())))[0][0]

    return to_page(rows, size, after, count=count)


def to_page(rows: list, first: int, after: str | None, count=None, key=None) -> Page:
    page = Page(items=rows[:first], has_next=len(rows) > first, has_previous=after is not None, count=count)
    if key is not None:
        page.key = key
    return page


async def window_pages(
    run, model, partition_col, parents: Sequence[int], where: list, first: int, after: str | None,
    *, newest_first: bool = True,
) -> dict[int, Page]:
    """The first page of children for many parents in ONE statement (row_number per parent)."""
    after_id = decode_cursor(after, max_key(model.id))
    order = model.id.desc() if newest_first else model.id.asc()
    inner = select(model, func.row_number().over(partition_by=partition_col, order_by=order).label("rn")).where(
        partition_col.in_(parents), *where
    )
    if after_id is not None:
        inner = inner.where(model.id < after_id if newest_first else model.id > after_id)
    sub = inner.subquery()
    row = aliased(model, sub)
    stmt = select(row).where(sub.c.rn <= first + 1).order_by(sub.c[partition_col.key], sub.c.rn)
    grouped: dict[int, list] = {p: [] for p in parents}
    for item in await run(stmt):
        grouped[getattr(item, partition_col.key)].append(item)
    return {p: to_page(items, first, after) for p, items in grouped.items()}


def children_loader(loaders, name: str, model, parent_col, *, newest_first: bool, where: tuple = ()):
    """A request-cached loader of (parent id, first, after) -> Page over `model` rows."""

    async def batch(keys):
        out = {}
        for first, after in {k[1:] for k in keys}:
            parents = [k[0] for k in keys if k[1:] == (first, after)]
            pages = await window_pages(loaders.all, model, parent_col, parents, list(where), first, after, newest_first=newest_first)
            out.update({(p, first, after): page for p, page in pages.items()})
        return [out[k] for k in keys]

    return loaders.custom(name, batch)


def count_loader(loaders, name: str, parent_col, where: tuple = ()):
    """A request-cached loader of parent id -> number of rows (one GROUP BY for all parents)."""

    async def batch(ids):
        rows = await loaders.rows(select(parent_col, func.count()).where(parent_col.in_(ids), *where).group_by(parent_col))
        counts = dict(rows)
        return [counts.get(i, 0) for i in ids]

    return loaders.custom(name, batch)


async def child_page(loaders, name: str, model, parent_col, parent_id: int, first: int, after: str | None, *, newest_first: bool) -> Page:
    decode_cursor(after, max_key(model.id))  # a bad cursor fails this field alone, not the whole batch
    page = await children_loader(loaders, name, model, parent_col, newest_first=newest_first).load((parent_id, first, after))
    page.count = lambda: count_loader(loaders, name + ":count", parent_col).load(parent_id)
    return page
