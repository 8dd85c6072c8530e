"""Contacts (联系人), their roles on deals, and follow-ups (跟进记录). Account.contacts and
the card's contacts and follow-ups are fields of the types in schema/opportunities.py,
resolved here."""
import datetime
from enum import Enum
from typing import Annotated

import strawberry

from db import models as m
from db.loaders import ready
from resolvers import records as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.opportunities import Account, Opportunity
from schema.people import User
from schema.relay import Node, global_id


@strawberry.enum
class ContactRole(str, Enum):
    DECISION_MAKER = "DECISION_MAKER"
    INFLUENCER = "INFLUENCER"
    USER = "USER"
    GATEKEEPER = "GATEKEEPER"


@strawberry.enum
class FollowUpKind(str, Enum):
    CALL = "CALL"
    VISIT = "VISIT"
    MEETING = "MEETING"
    WECHAT = "WECHAT"
    EMAIL = "EMAIL"
    OTHER = "OTHER"


@strawberry.type
class Contact(Node):
    id: strawberry.ID = global_id("Contact")
    name: str
    title: str | None
    phone: str | None
    email: str | None
    wechat: str | None
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @strawberry.field
    def account(self, info: strawberry.Info) -> Account:
        return ready(info.context.loaders.account, self.account_id)

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.Contact)


@strawberry.type
class OpportunityContact:
    contact: Contact
    role: ContactRole


@strawberry.type
class FollowUp(Node):
    id: strawberry.ID = global_id("FollowUp")
    kind: FollowUpKind
    at: datetime.datetime
    summary: str
    outcome: str | None
    next_step: str | None
    next_follow_up_at: datetime.datetime | None
    created_at: datetime.datetime

    @strawberry.field
    async def author(self, info: strawberry.Info) -> User:
        return await info.context.loaders.user.load(self.author_id)

    @strawberry.field
    async def contact(self, info: strawberry.Info) -> Contact | None:
        return await rules.contact_by_id(info.context, self.contact_id) if self.contact_id else None

    @strawberry.field
    async def opportunity(self, info: strawberry.Info) -> Annotated["Opportunity", strawberry.lazy("schema.opportunities")]:
        return await info.context.loaders.opportunity.load(self.opportunity_id)

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.FollowUp)


async def account_contacts(info: strawberry.Info, account) -> list[Contact]:
    return await rules.account_contacts(info.context, account.id)


async def card_contacts(info: strawberry.Info, opp) -> list[OpportunityContact]:
    return [OpportunityContact(contact=contact, role=ContactRole(link.role))
            for link, contact in await rules.card_contacts(info.context, opp.id)]


@strawberry.input
class CreateContactInput:
    account_id: strawberry.ID
    name: str
    title: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    wechat: str | None = strawberry.UNSET


@strawberry.input
class UpdateContactInput:
    id: strawberry.ID
    version: int
    name: str | None = strawberry.UNSET
    title: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    wechat: str | None = strawberry.UNSET


@strawberry.input
class LinkContactInput:
    opportunity_id: strawberry.ID
    contact_id: strawberry.ID
    role: ContactRole


@strawberry.input
class UnlinkContactInput:
    opportunity_id: strawberry.ID
    contact_id: strawberry.ID


@strawberry.input
class LogFollowUpInput:
    opportunity_id: strawberry.ID
    kind: FollowUpKind
    at: datetime.datetime
    summary: str
    contact_id: strawberry.ID | None = strawberry.UNSET
    outcome: str | None = strawberry.UNSET
    next_step: str | None = strawberry.UNSET
    next_follow_up_at: datetime.datetime | None = strawberry.UNSET


@strawberry.type
class ContactPayload:
    contact: Contact | None
    user_errors: list[UserError]


@strawberry.type
class LinkContactPayload:
    opportunity: Opportunity | None
    user_errors: list[UserError]


@strawberry.type
class FollowUpPayload:
    follow_up: FollowUp | None
    user_errors: list[UserError]


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN)
    async def create_contact(self, info: strawberry.Info, input: CreateContactInput) -> ContactPayload:
        contact, errors = await rules.create_contact(info.context, to_data(input))
        return ContactPayload(contact=contact, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def update_contact(self, info: strawberry.Info, input: UpdateContactInput) -> ContactPayload:
        contact, errors = await rules.update_contact(info.context, to_data(input))
        return ContactPayload(contact=contact, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def link_contact(self, info: strawberry.Info, input: LinkContactInput) -> LinkContactPayload:
        opp, errors = await rules.link_contact(info.context, to_data(input))
        return LinkContactPayload(opportunity=opp, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def unlink_contact(self, info: strawberry.Info, input: UnlinkContactInput) -> LinkContactPayload:
        opp, errors = await rules.unlink_contact(info.context, to_data(input))
        return LinkContactPayload(opportunity=opp, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN)
    async def log_follow_up(self, info: strawberry.Info, input: LogFollowUpInput) -> FollowUpPayload:
        follow_up, errors = await rules.log_follow_up(info.context, to_data(input))
        return FollowUpPayload(follow_up=follow_up, user_errors=errors)
