"""Access rules (admins): data scopes and hidden fields per role and department."""
from enum import Enum

import strawberry

from db import models as m
from resolvers import access_rules as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.people import Role, User


@strawberry.enum(description="Which cards a rule lets its users see (besides those they are involved in)")
class DataScope(str, Enum):
    OWN = "OWN"
    DEPARTMENT = "DEPARTMENT"
    ALL = "ALL"


@strawberry.type(description="What a role (in one department, or in all when departmentKey is null) may see")
class AccessRule:
    role: Role
    scope: DataScope
    hidden_fields: list[str] = strawberry.field(
        description="Withheld fields: amount, probability, expectedCloseDate, lostReason, nextStep, account"
    )

    @strawberry.field
    def department_key(self) -> str | None:
        return self.department_key or None

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.AccessRule)


@strawberry.input
class SetAccessRuleInput:
    role: Role
    scope: DataScope
    department_key: str | None = strawberry.field(default=strawberry.UNSET, description="Null: the role in every department")
    hidden_fields: list[str] | None = strawberry.UNSET


@strawberry.type
class SetAccessRulePayload:
    access_rule: AccessRule | None
    user_errors: list[UserError]


@strawberry.type
class AccessPreview:
    user: User
    rule: AccessRule | None
    visible_cards: int
    total_cards: int
    hidden_fields: list[str]
    sample_titles: list[str]


@strawberry.type
class Query:
    @strawberry.field(
        **SIGNED_IN, metadata=at_most(rules.MAX_RULES),
        description="Who may see what (admins only); roles without a rule see ALL, nothing hidden",
    )
    async def access_rules(self, info: strawberry.Info) -> list[AccessRule]:
        return (await rules.list_access_rules(info.context))[:rules.MAX_RULES]

    @strawberry.field(**SIGNED_IN)
    async def access_preview(self, info: strawberry.Info, user_id: strawberry.ID) -> AccessPreview:
        return AccessPreview(**await rules.access_preview(info.context, user_id))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        **SIGNED_IN,
        description="Admins: set a role's data scope and hidden fields, for one department or all; the most specific rule wins",
    )
    async def set_access_rule(self, info: strawberry.Info, input: SetAccessRuleInput) -> SetAccessRulePayload:
        rule, errors = await rules.set_access_rule(info.context, to_data(input))
        return SetAccessRulePayload(access_rule=rule, user_errors=errors)
