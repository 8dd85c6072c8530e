"""Query limits and hostile-input refusal at the GraphQL edge.

- `limit_extensions(...)` returns the Strawberry extensions that enforce the
  configured limits (depth, aliases, tokens, cost) and `SchemaDisclosure`
  (introspection and field suggestions for signed-in viewers only).
- `QueryCost` multiplies nested `first` arguments: a field resolved once per
  parent object costs one unit per parent, and a paged field (one with a
  `first` argument) multiplies the cost of its children by its page size
  (`first`, clamped to the server's page cap; the default page size when
  absent; the cap when given through a variable that is not set). A list
  without pages multiplies by the bound it declares (`at_most`), so the cost
  is an upper bound of the fields resolved.
- `HostileStrings` (a root-field extension) refuses NUL bytes and invalid Unicode (lone surrogates,
  which JSON can carry as "\\ud800"), datetimes without a time zone and dates
  outside 1970..2200 in root-field arguments before a resolver or the database
  sees them (nested arguments are cursors and page sizes, parsed by resolvers): on a mutation whose payload has `userErrors` the answer
  is a VALIDATION user error naming the field; elsewhere a GraphQL error with
  code VALIDATION.
- `TimedSchema` runs each query/mutation under `asyncio.timeout`; past it the
  client gets a GraphQL error with code TIMEOUT (never a 500).
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import re

import strawberry
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    VariableNode,
    get_named_type,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.extensions.field_extension import FieldExtension
from strawberry.types import ExecutionResult

log = logging.getLogger("baton.limits")

# --------------------------------------------------------------------------- cost


def operation_cost(schema, document, operation_name: str | None, variables: dict | None, *, default_page: int, max_page: int) -> int:
    """Estimated number of field resolutions of the selected operation."""
    variables = variables or {}
    fragments = {}
    operation = None
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            if operation is None and (operation_name is None or (definition.name and definition.name.value == operation_name)):
                operation = definition
        elif getattr(definition, "kind", "") == "fragment_definition":
            fragments[definition.name.value] = definition
    if operation is None:
        return 0
    root = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }[operation.operation.value]

    def page(field: FieldNode, field_def) -> int:
        if field_def is None:
            return 1
        if "first" not in field_def.args:
            return max_items(field_def) or 1
        for arg in field.arguments or ():
            if arg.name.value != "first":
                continue
            value = arg.value
            if isinstance(value, IntValueNode):
                n = int(value.value)
            elif isinstance(value, VariableNode):
                n = variables.get(value.name.value)
                n = max_page if not isinstance(n, int) else n
            else:
                n = default_page
            return max(1, min(n, max_page))
        return default_page

    def walk(selection_set, parent_type, mult: int, depth: int, seen: frozenset) -> int:
        if selection_set is None or depth > 64:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += mult
                fields = getattr(parent_type, "fields", None) or {}
                field_def = fields.get(selection.name.value)
                child_type = get_named_type(field_def.type) if field_def is not None else None
                total += walk(selection.selection_set, child_type, mult * page(selection, field_def), depth + 1, seen)
            elif isinstance(selection, InlineFragmentNode):
                cond = schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent_type
                total += walk(selection.selection_set, cond, mult, depth + 1, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:
                    continue
                cond = schema.get_type(fragment.type_condition.name.value)
                total += walk(fragment.selection_set, cond, mult, depth + 1, seen | {name})
        return total

    return walk(operation.selection_set, root, 1, 0, frozenset())


def at_most(n: int) -> dict:
    """Field metadata of a list without pages that never returns more than `n` items
    (its resolver stops there): the cost of what is selected below it counts `n` times."""
    return {"max_items": n}


def max_items(field_def) -> int | None:
    definition = (field_def.extensions or {}).get("strawberry-definition")
    return (getattr(definition, "metadata", None) or {}).get("max_items")


def refusal(message: str, code: str, **extra) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code, **extra})])


def QueryCost(max_cost: int, *, default_page: int = 25, max_page: int = 100):  # noqa: N802 - reads like a class
    """Refuses an operation over the cost limit. A request whose `extensions` ask for
    `{"cost": true}` has the figures noted on its context (`query_cost`), which the
    HTTP view adds to the answer's `extensions`. (Not through `get_results`: an
    extension with results takes live subscriptions off their fast path.)"""

    class _QueryCost(SchemaExtension):
        def on_execute(self):
            ec = self.execution_context
            if ec.graphql_document is not None and not ec.result:
                cost = operation_cost(
                    ec.schema._schema, ec.graphql_document, ec.operation_name, ec.variables,
                    default_page=default_page, max_page=max_page,
                )
                if (ec.operation_extensions or {}).get("cost") is True:
                    ec.context.query_cost = {"requested": cost, "limit": max_cost}
                if cost > max_cost:
                    ec.result = refusal(
                        f"Query cost {cost} exceeds the limit of {max_cost}: ask for fewer items per page (first) or fewer nested lists",
                        "COST_LIMIT", cost=cost, limit=max_cost,
                    )
            yield

    return _QueryCost


# --------------------------------------------------------------------------- schema disclosure

SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


def without_suggestions(error: GraphQLError) -> GraphQLError:
    from schema.errors import copy_error

    message = SUGGESTION.sub("", error.message)
    return error if message == error.message else copy_error(error, message=message)


def SchemaDisclosure(introspection: bool):  # noqa: N802 - reads like a class
    """Introspection and "Did you mean ...?" suggestions for signed-in viewers only
    (for nobody when `introspection` is off): an anonymous client learns no more of
    the schema than the fields it already knows. Strawberry offers no switch for
    graphql-core's suggestions, so they are cut from the messages."""

    class _SchemaDisclosure(SchemaExtension):
        def on_operation(self):
            ec = self.execution_context
            hidden = not introspection or getattr(ec.context, "viewer", None) is None
            if hidden:
                # A rule set of its own, so validation results cached per rule set stay apart.
                ec.validation_rules = (*ec.validation_rules, NoSchemaIntrospectionCustomRule)
            yield
            result = ec.result
            if hidden and result is not None and getattr(result, "errors", None):
                result.errors = [without_suggestions(error) for error in result.errors]

    return _SchemaDisclosure


# --------------------------------------------------------------------------- hostile strings

# Dates and datetimes in arguments: anything outside these years is a mistake or an attack.
MIN_YEAR, MAX_YEAR = 1970, 2200


def bad_string(value: str) -> str | None:
    """Why `value` may not reach storage, or None when it is fine."""
    if "\x00" in value:
        return "contains a NUL byte"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode"
    return None


def bad_time(value) -> str | None:
    """Why a date or datetime argument may not reach storage, or None."""
    if isinstance(value, datetime.datetime) and (value.tzinfo is None or value.utcoffset() is None):
        return "needs a time zone offset (for example 2030-01-31T17:00:00Z)"
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return f"must be between the years {MIN_YEAR} and {MAX_YEAR}"
    return None


def find_bad(value, path: tuple = ()) -> tuple[tuple, str] | None:
    """(path, reason) of the first unacceptable string, date or datetime inside `value`."""
    if isinstance(value, str):
        reason = bad_string(value)
        return (path, reason) if reason else None
    if isinstance(value, datetime.date):
        reason = bad_time(value)
        return (path, reason) if reason else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
    else:
        return None
    for key, item in items:
        found = find_bad(item, (*path, key))
        if found:
            return found
    return None


def _camel(name) -> str:
    if not isinstance(name, str):
        return str(name)
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class RootFieldExtension(FieldExtension):
    """A field extension that build_schema attaches to root fields only (all of
    them, or those named in `only`): a schema extension's `resolve` hook would
    run for every field of every result, which the board cannot afford."""

    only: frozenset[str] | None = None


class HostileStrings(RootFieldExtension):
    """Refuse NUL bytes, invalid Unicode, naive datetimes and absurd dates in the
    arguments of root fields before they reach a resolver (or the database)."""

    def refusal(self, info, kwargs):
        """None when the arguments are acceptable; else the payload to answer with (or raises)."""
        found = find_bad(kwargs) if kwargs else None
        if not found:
            return None
        path, reason = found
        names = [_camel(p) for p in path if not isinstance(p, int)]
        if names and names[0] == "input":
            names = names[1:]
        field = names[-1] if names else info.field_name
        message = f"{field} {reason}"
        payload = _payload_with_error(info._raw_info, names or [field], message)
        if payload is not None:
            return payload
        raise GraphQLError(message, extensions={"code": "VALIDATION", "field": names or [field]})

    def resolve(self, next_, source, info, **kwargs):
        refused = self.refusal(info, kwargs)
        return refused if refused is not None else next_(source, info, **kwargs)

    async def resolve_async(self, next_, source, info, **kwargs):
        refused = self.refusal(info, kwargs)
        if refused is not None:
            return refused
        return await next_(source, info, **kwargs)


def _payload_with_error(info, field: list[str], message: str):
    """A mutation payload carrying one VALIDATION user error (None if the field has no such payload)."""
    if info.operation.operation.value != "mutation":
        return None
    return_type = get_named_type(info.return_type)
    definition = (return_type.extensions or {}).get("strawberry-definition")
    if definition is None:
        return None
    names = {f.python_name for f in definition.fields}
    if "user_errors" not in names:
        return None
    from resolvers.errors import VALIDATION, UserError

    values = {}
    for f in definition.fields:
        if f.python_name == "user_errors" or f.base_resolver is not None:
            continue  # a resolver field answers from the stand-in itself (e.g. `columns`: none moved)
        if not _nullable(f.type):
            return None
        values[f.python_name] = None
    return _Payload(user_errors=[UserError.literal(VALIDATION, message, field)], **values)


def _nullable(strawberry_type) -> bool:
    from strawberry.types.base import StrawberryOptional

    return isinstance(strawberry_type, StrawberryOptional)


class _Payload:
    def __init__(self, **values):
        self.__dict__.update(values)


# --------------------------------------------------------------------------- timeout


class TimedSchema(strawberry.Schema):
    """A Schema whose queries and mutations stop after `operation_timeout` seconds.

    Server faults are logged once, by `schema.errors.MaskServerErrors`, with the
    request id the client sees; Strawberry's own log line (without the id) is
    kept for client errors only, at debug level."""

    operation_timeout: float | None = None

    def process_errors(self, errors, execution_context=None) -> None:
        from schema.errors import is_server_fault

        for error in errors:
            if not is_server_fault(error):
                # graphql-core quotes the offending value after a colon (a password, say): not logged.
                log.debug("client error: %s", error.message.split(":", 1)[0])

    async def execute(self, *args, **kwargs):
        if not self.operation_timeout:
            return await super().execute(*args, **kwargs)
        try:
            async with asyncio.timeout(self.operation_timeout):
                return await super().execute(*args, **kwargs)
        except TimeoutError:
            log.warning("operation stopped after %.1f s (timeout)", self.operation_timeout)
            return refusal(
                f"The operation took longer than {self.operation_timeout:g} s and was stopped; nothing after that point ran",
                "TIMEOUT",
            )


# --------------------------------------------------------------------------- assembly


def limit_extensions(
    *, max_depth: int, max_aliases: int, max_tokens: int, max_cost: int, max_page: int,
    introspection: bool = True, default_page: int = 25,
) -> list:
    # Factories, not instances: Strawberry builds each extension afresh per request.
    # The depth and alias limiters each build a validation-rule class in __init__;
    # build them once here, so an operation (a live subscription holds its own for
    # as long as it runs) carries one light extension instead of two rule classes.
    rules = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    ]
    return [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: AddValidationRules(rules),
        SchemaDisclosure(introspection),
        QueryCost(max_cost, default_page=default_page, max_page=max_page),
    ]
