"""Plain completion: the schema's execution context completes "plain" parts of a
result with a compiled plan instead of graphql-core's per-field machinery.

graphql-core completes every field value on its own: a Path, a resolve info, the
argument coercion and Strawberry's per-field wrapper (Info, get_arguments, the
extension chain), then `complete_value` for the result. For the board that is
~3,500 field values per request and most of its CPU. Most of those fields are
plain: an attribute of an ORM row, or a small synchronous resolver reading a
loader's cache.

When graphql-core completes an object or a list whose selection subtree is plain,
`PlainCompletionExecutor` completes it with a plan compiled once per (type, field
nodes) and cached. Plain means, everywhere below that point:

- object types only (no interfaces or unions), leaf types, lists and non-nulls;
- fields without arguments (none declared, none given), no directives on fields,
  fragment spreads or inline fragments (so no @include/@skip/@defer/@stream and the
  selection does not depend on variables), fragments without arguments; fragments
  on concrete types are fine (the fields are collected by graphql-core's
  `collect_subfields`); `__typename`;
- resolvers that are Strawberry's attribute read (no resolver, no field
  extensions or permission classes), or a synchronous Strawberry resolver with no
  GraphQL arguments and no field extensions whose parameters are only
  self/root/parent/info (called directly; its `info` is built once per execution
  and field and carries the path of the list or object being completed, not the
  field's own path: resolvers in schema/ only read `info.context`);
- no middleware (schema extensions with a `resolve` hook) in the execution.

Leaves are completed with the type's `coerce_output_value`, exactly as graphql-core
does. Whenever a value is not what the plan can complete on its own - an awaitable
(a loader that is not ready), a null in a non-null position, an exception raised
or returned by a resolver, a serializer error or empty result, a failed
`is_type_of` - the plan gives up on that object or list and graphql-core completes
it as it always did, with the same errors and the same masking. The output is the
same as graphql-core's: values, key order, aliases and `__typename`.

Plans are keyed by the identity of the AST field nodes (the schema's ParserCache
hands out the same parsed document for the same text) and keep those nodes alive,
so a key cannot be reused by another document; the cache is bounded.
`PlainCompletionExecutor.plain_completion = False` switches the path off
(bench/board_cpu.py and the tests compare both)."""
from __future__ import annotations

import datetime
import keyword
import threading
from collections.abc import Sequence
from decimal import Decimal
from types import CoroutineType, GeneratorType

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
    InlineFragmentNode,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import collect_subfields
from graphql.pyutils import is_iterable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

PLAN_CACHE_SIZE = 2048

# Values of these types are never awaitable (checked before the general predicate);
# classes seen not to be awaitable are added (see _awaitable), up to a bound.
_NOT_AWAITABLE = {
    type(None), bool, int, float, str, bytes, list, tuple, dict, Decimal,
    datetime.datetime, datetime.date, datetime.time,
}
_NOT_AWAITABLE_MAX = 4096
_FAILED = object()


class _Bail(Exception):
    """A plain plan cannot complete this value; graphql-core does it instead."""


def _awaitable(value, is_awaitable, close: bool = False) -> bool:
    """Whether graphql-core would await `value`; with close=True a coroutine is
    closed (it came from a call graphql-core makes again when the plan gives up)."""
    kind = type(value)
    if kind in _NOT_AWAITABLE:
        return False
    if not is_awaitable(value):
        # Remember classes without attribute hooks or __await__ (ORM rows,
        # Strawberry objects): their instances are not asked again.
        if (
            len(_NOT_AWAITABLE) < _NOT_AWAITABLE_MAX and kind.__getattribute__ is object.__getattribute__
            and not hasattr(kind, "__getattr__") and not hasattr(kind, "__await__")
            and not issubclass(kind, (CoroutineType, GeneratorType))
        ):
            _NOT_AWAITABLE.add(kind)
        return False
    if close and isinstance(value, CoroutineType):
        value.close()
    return True


def _non_null(inner):
    def non_null(value):
        if value is None:
            raise _Bail
        result = inner(value)
        if result is None:
            raise _Bail
        return result

    return non_null


def _completer(gtype, objects=None, is_awaitable=None):
    """graphql-core's complete_value for `gtype` as a function value -> completed
    value, raising _Bail where graphql-core would raise a field error or await.

    Leaf, list and non-null types are handled here; an object type is completed
    by `objects(object_type)` (a completer, or None when it cannot be planned).
    Returns None when `gtype` holds an object type and `objects` gives no
    completer, or holds an interface or union."""
    if isinstance(gtype, GraphQLNonNull):
        inner = _completer(gtype.of_type, objects, is_awaitable)
        return None if inner is None else _non_null(inner)
    if isinstance(gtype, GraphQLList):
        item = _completer(gtype.of_type, objects, is_awaitable)
        if item is None:
            return None

        def listed(value):
            if value is None or value is Undefined:
                return None
            kind = type(value)
            if kind is not list and kind is not tuple:
                # Other iterables may be single-use: graphql-core must see them whole.
                if isinstance(value, Exception) or not is_iterable(value) or not isinstance(value, Sequence):
                    raise _Bail
            if is_awaitable is None:
                return [item(v) for v in value]
            out = []
            for v in value:
                if type(v) not in _NOT_AWAITABLE and _awaitable(v, is_awaitable):
                    raise _Bail  # not closed: graphql-core may complete this very list
                out.append(item(v))
            return out

        return listed
    if is_leaf_type(gtype):
        coerce = gtype.coerce_output_value

        def leaf(value):
            if value is None or value is Undefined:
                return None
            if isinstance(value, Exception):
                raise _Bail
            try:
                result = coerce(value)
            except Exception:  # noqa: BLE001 - graphql-core reports it, with masking
                raise _Bail from None
            if result is None or result is Undefined:
                raise _Bail
            return result

        return leaf
    if isinstance(gtype, GraphQLObjectType) and objects is not None:
        return objects(gtype)
    return None


# --------------------------------------------------------------------------- plans

# How a plan reads a field: an attribute, a constant (__typename), a getter, or a
# resolver call (any shape; self only; self and info; root/parent only).
_ATTR, _CONST, _CALL, _RESOLVER, _METHOD, _METHOD_INFO, _ROOT = range(7)
_RESOLVERS = (_RESOLVER, _METHOD, _METHOD_INFO, _ROOT)


class _Run(threading.local):
    """The execution a plan is running for (plans are shared by executions)."""

    executor = None
    info = None  # graphql-core's resolve info of the field being completed
    path = None


_run = _Run()


class _ResolverInfo:
    """The Info a planned resolver gets: built once per execution and field."""

    __slots__ = ("definition", "field_def", "nodes", "parent_type")

    def __init__(self, definition, field_def, nodes, parent_type):
        self.definition = definition
        self.field_def = field_def
        self.nodes = nodes
        self.parent_type = parent_type

    def get(self):
        executor = _run.executor
        infos = executor._plain_infos
        info = infos.get(self)
        if info is None:
            raw = executor.build_resolve_info(self.field_def, self.nodes, self.parent_type, _run.path)
            strawberry_schema = getattr(executor.schema, "_strawberry_schema", None)
            info_class = strawberry_schema.config.info_class if strawberry_schema is not None else Info
            info = infos[self] = info_class(_raw_info=raw, _field=self.definition)
        return info


def _resolver_step(definition, field_def, nodes, parent_type):
    """(kind, arg) calling a plain synchronous resolver, or None."""
    resolver = definition.base_resolver
    if (
        definition.extensions or definition.is_async or definition.arguments or resolver.arguments
        or not callable(resolver.wrapped_func)
    ):
        return None
    func = resolver.wrapped_func
    has_self = resolver.self_parameter is not None
    sources = tuple(p.name for p in (resolver.root_parameter, resolver.parent_parameter) if p is not None)
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
    info = _ResolverInfo(definition, field_def, nodes, parent_type).get
    if has_self and not sources:
        if info_name is None:
            return _METHOD, func
        if info_name == "info":
            return _METHOD_INFO, (func, info)
    if not has_self and len(sources) == 1 and info_name is None and sources[0].isidentifier():
        return _ROOT, (func, sources[0])

    def call(source):
        kwargs = dict.fromkeys(sources, source)
        if info_name is not None:
            kwargs[info_name] = info()
        return func(source, **kwargs) if has_self else func(**kwargs)

    return _RESOLVER, call


def _field_step(field_def, nodes, parent_type):
    """(kind, arg) to get a field's value from its parent, or None if not plain."""
    resolve = field_def.resolve
    definition = (field_def.extensions or {}).get("strawberry-definition")
    if resolve is None or definition is None or not hasattr(resolve, "_is_default") or field_def.args:
        return None  # not Strawberry's resolver for a Strawberry field
    if definition.base_resolver is None:
        if definition.extensions:
            return None  # permission classes or field extensions run around it
        if definition.default_resolver is getattr:
            return _ATTR, definition.python_name
        default, name = definition.default_resolver, definition.python_name
        return _CALL, lambda source: default(source, name)
    return _resolver_step(definition, field_def, nodes, parent_type)


def _no_directives(selection_set, fragments, seen) -> bool:
    """No directives on the selections of this level (fragments included) and no
    fragment arguments; nested fields are checked when their own plan is made."""
    for selection in selection_set.selections:
        if selection.directives:
            return False
        if isinstance(selection, FieldNode):
            continue
        if isinstance(selection, InlineFragmentNode):
            if not _no_directives(selection.selection_set, fragments, seen):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            if getattr(selection, "arguments", None):
                return False
            name = selection.name.value
            if name in seen:
                continue
            seen.add(name)
            details = fragments.get(name)
            if details is None:
                return False
            definition = details.definition
            if definition.directives or getattr(definition, "variable_definitions", None) or details.variable_signatures:
                return False
            if not _no_directives(definition.selection_set, fragments, seen):
                return False
        else:
            return False
    return True


def _plain_details(field_details_list) -> bool:
    for details in field_details_list:
        if details.defer_usage is not None or details.fragment_variable_values is not None:
            return False
    return True


def _object_plan(executor, object_type: GraphQLObjectType, field_details_list):
    """A completer for `object_type` selected by `field_details_list`, or None."""
    fragments, seen = executor.fragments, set()
    for details in field_details_list:
        selection_set = details.node.selection_set
        if selection_set is None or not _no_directives(selection_set, fragments, seen):
            return None
    grouped, defers, _forbidden = collect_subfields(
        executor.schema, fragments, executor.variable_values, executor.operation, object_type,
        field_details_list, executor.hide_suggestions,
    )
    if defers:
        return None
    is_awaitable = executor.is_awaitable
    steps = []
    for key, sub_details in grouped.items():
        if not _plain_details(sub_details):
            return None
        nodes = [details.node for details in sub_details]
        if any(node.arguments for node in nodes):
            return None
        name = nodes[0].name.value
        if name == "__typename":
            steps.append((key, _CONST, object_type.name, None, None))
            continue
        field_def = object_type.fields.get(name)
        if field_def is None:
            return None
        step = _field_step(field_def, nodes, object_type)
        if step is None:
            return None
        gtype = field_def.type
        required = isinstance(gtype, GraphQLNonNull)
        inner = _completer(
            gtype.of_type if required else gtype,
            lambda t, sub_details=sub_details: _object_plan(executor, t, sub_details), is_awaitable,
        )
        if inner is None:
            return None
        steps.append((key, *step, inner, gtype))
    return _generate(object_type, steps, is_awaitable)


# Leaf type -> a condition on `v` under which graphql-core's completion returns v
# itself (checked inline by generated plans; anything else calls the completer).
_SAME = {
    GraphQLString: "type(v) is str",
    GraphQLID: "type(v) is str",
    GraphQLBoolean: "(v is True or v is False)",
    GraphQLInt: "(type(v) is int and -2147483648 <= v <= 2147483647)",
}


def _unchanged_when(gtype) -> str | None:
    """A condition on `v` under which completing v at gtype gives v itself."""
    if isinstance(gtype, GraphQLNonNull):
        return _SAME.get(gtype.of_type)
    same = _SAME.get(gtype)
    return f"v is None or {same}" if same else "v is None"


def _generate(object_type, steps, is_awaitable):
    """The object's completer as one generated function: each field's value is read
    (attribute, getter or resolver) and, when it is a value graphql-core would pass
    through unchanged (a str for String, None for a nullable field, ...), used as is;
    anything else goes through the field's completer, which raises _Bail where
    graphql-core would report an error or await."""
    namespace = {
        "_Bail": _Bail, "Undefined": Undefined, "_run": _run, "is_type_of": object_type.is_type_of,
        "_awaitable": _awaitable, "is_awaitable": is_awaitable, "_NOT_AWAITABLE": _NOT_AWAITABLE,
    }
    lines = [
        "def complete_object(value):",
        "    if value is None or value is Undefined:",
        "        return None",
        "    if isinstance(value, Exception):",
        "        raise _Bail",
    ]
    if object_type.is_type_of is not None:
        lines += [
            "    ok = is_type_of(value, _run.info)",
            "    if ok is not True and (_awaitable(ok, is_awaitable, True) or not ok):",
            "        raise _Bail",
        ]
    entries = []
    for i, (key, kind, arg, inner, gtype) in enumerate(steps):
        namespace[f"k{i}"] = key
        if kind == _CONST:
            namespace[f"c{i}"] = arg
            entries.append(f"k{i}: c{i}")
            continue
        if kind == _ATTR and arg.isidentifier() and not keyword.iskeyword(arg) and not arg.startswith("__"):
            read = f"value.{arg}"
        elif kind == _ATTR:
            namespace[f"a{i}"] = arg
            read = f"getattr(value, a{i})"
        elif kind == _METHOD:
            namespace[f"f{i}"] = arg
            read = f"f{i}(value)"
        elif kind == _METHOD_INFO:
            namespace[f"f{i}"], namespace[f"n{i}"] = arg
            read = f"f{i}(value, info=n{i}())"
        elif kind == _ROOT:
            namespace[f"f{i}"], name = arg
            read = f"f{i}({name}=value)"
        else:
            namespace[f"g{i}"] = arg
            read = f"g{i}(value)"
        required = isinstance(gtype, GraphQLNonNull)
        complete = _non_null(inner) if required else inner
        namespace[f"s{i}"] = _slow(complete, is_awaitable, close=kind in _RESOLVERS)
        lines.append(f"    v = {read}")
        if is_leaf_type(gtype.of_type if required else gtype):
            unchanged = _unchanged_when(gtype)
            lines.append(f"    r{i} = v if {unchanged} else s{i}(v)" if unchanged else f"    r{i} = s{i}(v)")
        else:  # an object or a list: its completer, once v is known not to be awaitable
            namespace[f"o{i}"] = inner
            lines += [
                "    if type(v) in _NOT_AWAITABLE:",
                f"        r{i} = o{i}(v)",
                *([f"        if r{i} is None:", "            raise _Bail"] if required else []),
                "    else:",
                f"        r{i} = s{i}(v)",
            ]
        entries.append(f"k{i}: r{i}")
    lines.append("    return {" + ", ".join(entries) + "}")
    exec(compile("\n".join(lines), f"<plain plan for {object_type.name}>", "exec"), namespace)  # noqa: S102 - built from names checked above
    return namespace["complete_object"]


def _slow(complete, is_awaitable, close: bool):
    """A field's value through its completer, after graphql-core's awaitable check."""

    def slow(value):
        if type(value) not in _NOT_AWAITABLE and _awaitable(value, is_awaitable, close):
            raise _Bail
        return complete(value)

    return slow


class _Plans:
    """Plans by (type, field nodes), bounded; entries keep their nodes alive."""

    def __init__(self, size: int):
        self.size = size
        self.entries: dict = {}

    def get(self, executor, gtype, field_details_list):
        if len(field_details_list) == 1:
            node = field_details_list[0].node
            key = (gtype, id(node))
        else:
            key = (gtype, *(id(details.node) for details in field_details_list))
        entry = self.entries.get(key)
        if entry is None:
            if isinstance(gtype, GraphQLList):
                objects = lambda t: _object_plan(executor, t, field_details_list)  # noqa: E731
                plan = _completer(gtype, objects, executor.is_awaitable)
            else:
                plan = _object_plan(executor, gtype, field_details_list)
            entry = (tuple(details.node for details in field_details_list), plan)
            if len(self.entries) >= self.size:
                del self.entries[next(iter(self.entries))]
            self.entries[key] = entry
        return entry[1]


PLANS = _Plans(PLAN_CACHE_SIZE)


class PlainCompletionExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with plain completion (see the module doc)."""

    plain_completion = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._plain_infos = {}  # per execution: one Info per planned resolver field

    def _plain(self, gtype, field_details_list, info, path, result):
        """The plan's completion of `result`, or _FAILED (no plan, or it gave up)."""
        if not self.plain_completion or not _plain_details(field_details_list):
            return _FAILED
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:
            return _FAILED
        plan = PLANS.get(self, gtype, field_details_list)
        if plan is None:
            return _FAILED
        run = _run
        saved = run.executor, run.info, run.path
        run.executor, run.info, run.path = self, info, path
        try:
            return plan(result)
        except Exception:  # noqa: BLE001 - _Bail or a failing resolver: graphql-core decides
            return _FAILED
        finally:
            run.executor, run.info, run.path = saved

    def complete_object_value(self, return_type, field_details_list, info, path, result, position_context):
        done = self._plain(return_type, field_details_list, info, path, result)
        if done is not _FAILED:
            return done
        return super().complete_object_value(return_type, field_details_list, info, path, result, position_context)

    def complete_list_value(self, return_type, field_details_list, info, path, result, position_context):
        done = self._plain(return_type, field_details_list, info, path, result)
        if done is not _FAILED:
            return done
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)
