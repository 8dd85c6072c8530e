"""Relay plumbing: the Node interface, PageInfo and generic connections."""
from typing import Generic, TypeVar

import strawberry

from resolvers.ids import to_global
from resolvers.paging import Page

T = TypeVar("T")


@strawberry.interface
class Node:
    id: strawberry.ID


def global_id(type_name: str):
    """A resolver for `id` that turns the row's primary key into a global id."""

    def resolve(root) -> strawberry.ID:
        return strawberry.ID(to_global(type_name, root.id))

    return strawberry.field(resolver=resolve)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    page: strawberry.Private[Page]

    @strawberry.field
    def edges(self) -> list[Edge[T]]:
        return [Edge(cursor=self.page.cursor(item), node=item) for item in self.page.items]

    @strawberry.field
    def page_info(self) -> PageInfo:
        items = self.page.items
        return PageInfo(
            has_next_page=self.page.has_next,
            has_previous_page=self.page.has_previous,
            start_cursor=self.page.cursor(items[0]) if items else None,
            end_cursor=self.page.cursor(items[-1]) if items else None,
        )

    @strawberry.field
    async def total_count(self) -> int:
        return await self.page.total_count()
