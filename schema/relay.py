"""Relay plumbing: the Node interface, PageInfo and generic connections."""
from typing import Generic, TypeVar

import strawberry

from resolvers.ids import to_global
from resolvers.paging import Page

T = TypeVar("T")

# Argument descriptions shared by every connection field.
FIRST = "Page size: how many items to return (default 25, at most BATON_MAX_PAGE_SIZE, 100 unless configured)"
AFTER = "The `pageInfo.endCursor` of the previous page; omit for the first page. A cursor Baton did not give answers BAD_USER_INPUT"


@strawberry.interface(description="An entity with a global id: `node(id:)` and `nodes(ids:)` fetch any of them")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id, stable for the entity's life; ids from another organization behave as unknown")


def global_id(type_name: str):
    """A resolver for `id` that turns the row's primary key into a global id."""

    def resolve(root) -> strawberry.ID:
        return strawberry.ID(to_global(type_name, root.id))

    return strawberry.field(resolver=resolve)


@strawberry.type(description="Where a page sits in its list (Relay cursor connections)")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow: ask again with `after: endCursor`")
    has_previous_page: bool = strawberry.field(description="Whether this page was asked for with `after` (items come before it)")
    start_cursor: str | None = strawberry.field(description="Cursor of the page's first item; null for an empty page")
    end_cursor: str | None = strawberry.field(description="Cursor of the page's last item, to pass as `after`; null for an empty page")


@strawberry.type(description="One item of a page and its cursor")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position of this item: pass it as `after` to continue behind it")
    node: T = strawberry.field(description="The item")


@strawberry.type(description="One page of a list that grows: read `edges`, then follow `pageInfo.endCursor` while `hasNextPage`")
class Connection(Generic[T]):
    page: strawberry.Private[Page]

    @strawberry.field(description="The page's items in the list's order")
    def edges(self) -> list[Edge[T]]:
        return [Edge(cursor=self.page.cursor(item), node=item) for item in self.page.items]

    @strawberry.field(description="Cursors and whether more pages follow")
    def page_info(self) -> PageInfo:
        items = self.page.items
        return PageInfo(
            has_next_page=self.page.has_next,
            has_previous_page=self.page.has_previous,
            start_cursor=self.page.cursor(items[0]) if items else None,
            end_cursor=self.page.cursor(items[-1]) if items else None,
        )

    @strawberry.field(description="Items in the whole list (all pages) for this viewer and these arguments")
    async def total_count(self) -> int:
        return await self.page.total_count()
