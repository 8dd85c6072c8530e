"""Every type, field, argument and enum value of the served schema is described, and
every deprecation names its removal date, so client teams build on the schema alone."""
import datetime
import re
from enum import Enum
from pathlib import Path

import strawberry
from graphql import (
    GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, GraphQLScalarType, GraphQLSchema,
    GraphQLUnionType, build_client_schema, introspection_from_schema,
)
from graphql.type import specified_scalar_types

from schema import build_schema
from schema.descriptions import DESCRIPTIONS, known_keys

ROOT = Path(__file__).resolve().parents[2]
REMOVAL = re.compile(r"Removal on (\d{4}-\d{2}-\d{2})\b")


def items(schema: GraphQLSchema):
    """(coordinate, description, deprecation reason) of everything a client sees."""
    for name, gtype in sorted(schema.type_map.items()):
        if name.startswith("__") or name in specified_scalar_types:
            continue
        yield name, gtype.description, None
        if isinstance(gtype, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for fname, field in gtype.fields.items():
                yield f"{name}.{fname}", field.description, field.deprecation_reason
                for aname, arg in getattr(field, "args", {}).items():
                    yield f"{name}.{fname}({aname}:)", arg.description, arg.deprecation_reason
        elif isinstance(gtype, GraphQLEnumType):
            for vname, value in gtype.values.items():
                yield f"{name}.{vname}", value.description, value.deprecation_reason
        else:
            assert isinstance(gtype, (GraphQLUnionType, GraphQLScalarType)), name  # described as types above


def undescribed(schema: GraphQLSchema) -> list[str]:
    return [coordinate for coordinate, description, _ in items(schema) if not (description or "").strip()]


def deprecations(schema: GraphQLSchema) -> dict[str, str]:
    return {coordinate: reason for coordinate, _, reason in items(schema) if reason is not None}


SCHEMA = build_schema()._schema


def test_everything_is_described():
    assert undescribed(SCHEMA) == []


def test_roots_and_every_kind_of_item_are_walked():
    walked = {coordinate for coordinate, _, _ in items(SCHEMA)}
    assert {"Query", "Mutation", "Subscription", "Query.board(filter:)", "Priority.HIGH", "OpportunityFilter.tags",
            "Node", "JSON", "Subscription.boardEvents(after:)"} <= walked


def test_the_check_catches_an_undescribed_item():
    # Guards the guard: a type, field, argument and enum value without descriptions are all reported.
    @strawberry.enum
    class Mood(Enum):
        GOOD = "GOOD"

    @strawberry.type
    class Query:
        @strawberry.field(description="described")
        def mood(self, since: int | None = None) -> Mood:
            return Mood.GOOD

        plain: str = "x"

    bare = strawberry.Schema(query=Query)._schema
    assert {"Mood", "Mood.GOOD", "Query", "Query.plain", "Query.mood(since:)"} <= set(undescribed(bare))
    assert "Query.mood" not in undescribed(bare)


def test_descriptions_reach_sdl_and_introspection():
    served = build_client_schema(introspection_from_schema(SCHEMA))
    assert undescribed(served) == []
    assert served.get_type("UserErrorCode").values["STAGE_GATE"].description == DESCRIPTIONS["UserErrorCode.STAGE_GATE"]
    sdl = build_schema().as_str()
    assert DESCRIPTIONS["Stage.requiredApprovals"] in sdl


def test_no_description_is_kept_for_something_the_schema_lacks():
    assert sorted(set(DESCRIPTIONS) - known_keys(SCHEMA)) == []


def test_deprecations_name_their_removal_date_and_are_documented():
    found = deprecations(SCHEMA)
    assert {"Stage.autoApproval", "Analytics.lossReasons"} <= set(found)
    docs = (ROOT / "docs/api.md").read_text()
    section = docs.split("## Deprecations", 1)[1].split("\n## ", 1)[0] if "## Deprecations" in docs else ""
    for coordinate, reason in found.items():
        match = REMOVAL.search(reason)
        assert match, f"{coordinate}: {reason!r} does not say 'Removal on YYYY-MM-DD'"
        removal = datetime.date.fromisoformat(match.group(1))
        # Clients get a year's notice from when the deprecation was published (2026-11).
        assert removal >= datetime.date(2027, 11, 1), coordinate
        assert f"`{coordinate}`" in section and match.group(1) in section, f"{coordinate} is not listed under Deprecations in docs/api.md"


def test_the_removal_form_is_enforced():
    assert REMOVAL.search("Use approvalRule. Removal on 2027-12-31")
    for bad in ("Use approvalRule", "Removal on 31.12.2027", "Removal in 2027"):
        assert not REMOVAL.search(bad)
