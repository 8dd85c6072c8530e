"""What a live subscription's document says about its per-event execution: a plain
plan completing it straight from the event row, and the variables its data depends on."""
from graphql import FieldNode, GraphQLNonNull, GraphQLObjectType, OperationType, Visitor, visit

from schema.plain import _completer


def plain_plan(executor):
    """For a subscription whose selection is only attribute fields of the event type:
    a function event -> data dict equal to graphql-core's, or None when it cannot
    complete the event. None (no plan) for any other selection."""
    op = executor.operation
    mm = executor.middleware_manager
    if op.operation is not OperationType.SUBSCRIPTION or (mm is not None and mm.middlewares):
        return None
    roots = op.selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode) or roots[0].directives or roots[0].selection_set is None:
        return None
    root = roots[0]
    sub_type = executor.schema.subscription_type
    gfield = sub_type.fields.get(root.name.value) if sub_type is not None else None
    definition = (gfield.extensions or {}).get("strawberry-definition") if gfield is not None else None
    if definition is None or not definition.is_subscription:
        return None  # the per-event resolver is Strawberry's `lambda event: event`
    obj = gfield.type.of_type if isinstance(gfield.type, GraphQLNonNull) else gfield.type
    if not isinstance(obj, GraphQLObjectType) or obj.is_type_of is not None:
        return None
    steps = []
    for node in root.selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments or node.selection_set is not None:
            return None
        key = node.alias.value if node.alias else node.name.value
        if node.name.value == "__typename":
            steps.append((key, None, obj.name))
            continue
        ofield = obj.fields.get(node.name.value)
        if ofield is None or not getattr(ofield.resolve, "_is_default", False):
            return None  # a resolver (it may load, check permissions, raise)
        complete = _completer(ofield.type)
        if complete is None:
            return None
        steps.append((key, ofield.resolve, complete))
    root_key = root.alias.value if root.alias else root.name.value
    steps = tuple(steps)

    def plan(event):
        if event is None:
            return None
        out = {}
        try:
            for key, resolve, complete in steps:
                out[key] = complete if resolve is None else complete(resolve(event, None))
        except Exception:  # noqa: BLE001 - _Bail or a failing attribute: graphql-core decides
            return None
        return {root_key: out}

    return plan


class _Variables(Visitor):
    """Collects the names of the variables a document part uses. Defined once: a class
    made per call (per subscription) is a reference cycle, left for the garbage
    collector, which Baton runs rarely (api/cli.py)."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node, *_):
        self.names.add(node.name.value)


def data_variables(op, fragments) -> frozenset:
    """The variables a subscription's per-event execution can depend on: all but those
    used only in the root field's arguments (`after`, filters), which choose events."""
    collect = _Variables()
    roots = op.selection_set.selections
    if len(roots) == 1 and isinstance(roots[0], FieldNode):
        for directive in roots[0].directives or ():
            visit(directive, collect)
        if roots[0].selection_set is not None:
            visit(roots[0].selection_set, collect)
    else:
        visit(op.selection_set, collect)
    for fragment in fragments.values():
        visit(fragment, collect)
    return frozenset(collect.names)
