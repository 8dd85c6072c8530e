"""Customers (accounts): the list, create/update/merge with duplicate checks, and
ownership conflicts (撞单). The Account type itself lives with the cards
(schema/opportunities.py)."""
import datetime

import strawberry

from resolvers import accounts as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.opportunities import Account, Opportunity
from schema.relay import Connection


@strawberry.type
class AccountMatch:
    account: Account
    score: float


@strawberry.type
class OwnershipConflict:
    opportunities: list[Opportunity] = strawberry.field(metadata=at_most(rules.MAX_CONFLICT_DEALS))
    since: datetime.datetime


async def ownership_conflict(info: strawberry.Info, opp) -> OwnershipConflict | None:
    view = await rules.card_conflict(info.context, opp)
    return OwnershipConflict(opportunities=view.opportunities, since=view.since) if view else None


@strawberry.input
class CreateAccountInput:
    name: str
    industry: str | None = strawberry.UNSET
    region: str | None = strawberry.UNSET
    website: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    allow_similar: bool = False


@strawberry.input
class UpdateAccountInput:
    id: strawberry.ID
    version: int
    name: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    region: str | None = strawberry.UNSET
    website: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    allow_similar: bool = False


@strawberry.input
class MergeAccountsInput:
    source_id: strawberry.ID
    target_id: strawberry.ID


@strawberry.input
class ResolveOwnershipConflictInput:
    account_id: strawberry.ID
    keep_opportunity_id: strawberry.ID | None = strawberry.UNSET
    note: str | None = strawberry.UNSET


@strawberry.type
class AccountPayload:
    account: Account | None
    possible_duplicates: list[AccountMatch] = strawberry.field(metadata=at_most(rules.MAX_SIMILAR))
    user_errors: list[UserError]


@strawberry.type
class MergeAccountsPayload:
    account: Account | None
    user_errors: list[UserError]


@strawberry.type
class ResolveOwnershipConflictPayload:
    account: Account | None
    user_errors: list[UserError]


def account_payload(result) -> AccountPayload:
    account, errors, similar = result
    return AccountPayload(
        account=account, user_errors=errors,
        possible_duplicates=[AccountMatch(account=match.account, score=match.score) for match in similar],
    )


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN)
    async def accounts(
        self, info: strawberry.Info, search: str | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[Account]:
        return Connection(page=await rules.list_accounts(info.context, search, first, after))

    @strawberry.field(**SIGNED_IN)
    async def account(self, info: strawberry.Info, id: strawberry.ID) -> Account | None:
        return await rules.get_account(info.context, id)


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def create_account(self, info: strawberry.Info, input: CreateAccountInput) -> AccountPayload:
        return account_payload(await rules.create_account(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN)
    async def update_account(self, info: strawberry.Info, input: UpdateAccountInput) -> AccountPayload:
        return account_payload(await rules.update_account(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN)
    async def merge_accounts(self, info: strawberry.Info, input: MergeAccountsInput) -> MergeAccountsPayload:
        account, errors = await rules.merge_accounts(info.context, to_data(input))
        return MergeAccountsPayload(account=account, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def resolve_ownership_conflict(
        self, info: strawberry.Info, input: ResolveOwnershipConflictInput
    ) -> ResolveOwnershipConflictPayload:
        account, errors = await rules.resolve_ownership_conflict(info.context, to_data(input))
        return ResolveOwnershipConflictPayload(account=account, user_errors=errors)
