"""One execution and one serialization per distinct subscription per event.

resolvers/live.py hands every subscriber of an organization the same Event rows for
a page the Hub read once, marked with the page's `shared` dict (live.SHARED). Two
small hooks into Strawberry/graphql-core (no fork) then make the per-subscriber cost
of a live event a dictionary lookup and a websocket send:

- SharedEventExecutor (the schema's `execution_context_class`): graphql-core builds
  a per-event executor for every event of every subscription. For a shared row it
  looks up (document, operation name, variables, visibility, seq) in the page's
  dict; the first subscriber executes (in its own task, so a subscriber leaving
  does not cancel it for the others), everybody with the same key gets that same
  ExecutionResult. Visibility is (organization, department scope, access key): what
  the viewer may see (resolvers/visibility.py; the key changes with the viewer's
  access rule), so viewers who see differently never share an execution.
  Replayed rows (read by the subscriber itself) are never shared: they resolve
  current data as before.
- Replays in batches: a subscriber's own reads of the log (replay with `after`, gap
  reads) reach the executor as one payload per page (live.ReplayBatch). The executor
  returns one result whose `data` is a ResultBatch: every event's result (each on its
  own, as graphql-core would), those that load data executed only as the transport
  sends them; the transport sends each as its own `next` message. So Strawberry's
  per-result stream machinery runs once per page of up to live.PAGE events instead
  of once per event.
- Plain selections: a selection made only of an event's attribute fields is
  completed straight from the row (api/live/selection.py: plain_plan), not through
  graphql-core's executor; anything it cannot complete goes through graphql-core
  for that event, errors and all. tests/realtime/test_selection.py checks it
  against graphql-core's output.
- SharedResultsTransportWS (api/live/transport.py): a shared result's `data` is a
  SharedData dict that remembers its JSON text, so the `next` message is the
  operation id spliced into the same text for every socket. The bytes are what the
  view's encode_json would produce for the message."""
import ast
import asyncio
import contextlib
import functools
import inspect
import textwrap

from graphql import ExecutionResult, print_ast
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.extensions.context import ExecutingContextManager, OperationContextManager, WrappedHook
from strawberry.extensions.runner import SchemaExtensionsRunner

from api.live.hub import CURRENT_TAP
from api.live import selection
from resolvers.live import SHARED, ReplayBatch
from schema.plain import PlainCompletionExecutor


# Replayed events whose nested fields share one loader cache (see SharedEventExecutor._results).
LOADERS_EVERY = 100


class SharedData(dict):
    """A shared result's `data`; remembers its encoded text."""

    __slots__ = ("text",)

    def __init__(self, *args):
        super().__init__(*args)
        self.text = None


class _Done:
    """A per-event executor stand-in returning a result computed for someone else."""

    __slots__ = ("result",)

    def __init__(self, result):
        self.result = result

    def execute_operation(self, serially=None):
        return self.result


class ResultBatch(list):
    """The results of a replay batch, one per event, carried as one result's `data`:
    a plain dict (the `data` of an error-free result) or a graphql-core ExecutionResult.
    The list holds those the plain plan completed; `rest`, when set, yields the others
    one at a time, executed as the transport sends them, so a page's results are
    never all held at once."""

    __slots__ = ("rest",)

    def __init__(self):
        super().__init__()
        self.rest = None


def _shared_result(result):
    if getattr(result, "errors", None) or not isinstance(getattr(result, "data", None), dict):
        return result
    return ExecutionResult(SharedData(result.data), None, result.extensions)


class SharedEventExecutor(PlainCompletionExecutor):
    """The schema's execution context for live events (see the module doc)."""

    _baton_key = None
    _baton_plan = None

    def plain_plan(self):
        """This subscription's plain plan (selection.plain_plan), or False: none."""
        plan = self._baton_plan
        if plan is None:
            plan = self._baton_plan = selection.plain_plan(self) or False
        return plan

    def _execute_one(self, payload):
        """graphql-core's result for one event (maybe awaitable), by the plain plan if it can."""
        plan = self.plain_plan()
        if plan:
            data = plan(payload)
            if data is not None:
                return ExecutionResult(data, None)
        return super().build_per_event_executor(payload).execute_operation(False)

    def _execute_batch(self, rows):
        """One result for a ReplayBatch: `data` is a ResultBatch, one entry per event."""
        out = ResultBatch()
        plan = self.plain_plan()
        if plan:
            for row in rows:
                data = plan(row)
                if data is None:
                    break
                out.append(data)
        if len(out) < len(rows):
            out.rest = self._results(rows[len(out):])
        return _Done(ExecutionResult(out, None))

    async def _results(self, rows):
        """Each row's result, executed one at a time (as the events came one by one before)."""
        is_awaitable = self.is_awaitable
        ctx = self.context_value
        own = ctx.loaders if hasattr(ctx, "release_loaders") else None
        for i, row in enumerate(rows, 1):
            result = self._execute_one(row)
            if is_awaitable(result):
                result = await result
            yield result.data if not result.errors and type(result.data) is dict and not result.extensions else result
            if own is not None and i % LOADERS_EVERY == 0 and ctx.loaders is own:
                # What nested fields loaded so far goes: a page holds LOADERS_EVERY events' worth.
                ctx.release_loaders()
                own = ctx.loaders

    def share_key(self):
        """What subscriptions must have in common to share one execution per event."""
        viewer = getattr(self.context_value, "viewer", None)
        access = getattr(viewer, "access", None)
        # The access key is read each time: an admin may change the rule mid-subscription.
        return (self._document_key(), access.key if access is not None else None)

    def _document_key(self):
        key = self._baton_key
        if key is None:
            op = self.operation
            source = op.loc.source.body if op.loc is not None else print_ast(op) + "".join(
                print_ast(f) for f in self.fragments.values()
            )
            variables = getattr(self.variable_values, "coerced", self.variable_values)
            used = selection.data_variables(op, self.fragments)  # not those only choosing events
            viewer = getattr(self.context_value, "viewer", None)
            key = self._baton_key = (
                source,
                op.name.value if op.name else None,
                repr(sorted((k, v) for k, v in (variables or {}).items() if k in used)),
                getattr(viewer, "org_id", None),
                getattr(viewer, "department_id", None),
            )
        return key

    def cancellable_iterable(self, iterable):
        # A subscription's source stream is ready: its transport's live tap (if it
        # made one for this operation) writes shared results with this executor.
        tap = CURRENT_TAP.get(None)
        if tap is not None and tap.executor is None:
            tap.executor = self
        # From here on this executor is the template of the per-event ones for as long
        # as the subscription lives. Its ~35 attributes were set one by one (too many
        # for a shared-key dict, so it grew in steps to ~1.6 KB); a copy made at once
        # holds them in about half.
        self.__dict__ = dict(self.__dict__)
        return super().cancellable_iterable(iterable)

    def build_per_event_executor(self, payload):
        if type(payload) is ReplayBatch:
            return self._execute_batch(payload)
        shared = getattr(payload, SHARED, None)
        if shared is None:
            plan = self.plain_plan()
            data = plan(payload) if plan else None
            if data is not None:
                return _Done(ExecutionResult(data, None))
            return super().build_per_event_executor(payload)
        key = (self.share_key(), payload.seq)
        done = shared.get(key)
        if done is None:
            result = self._execute_one(payload)
            if self.is_awaitable(result):

                async def run(result=result):
                    return _shared_result(await result)

                task = asyncio.ensure_future(run())
                done = shared[key] = task

            else:
                done = shared[key] = _shared_result(result)
        if isinstance(done, asyncio.Future):
            if done.done() and not done.cancelled() and done.exception() is None:
                return _Done(done.result())
            return _Done(asyncio.shield(done))
        return _Done(done)


# --- Less extension work per live result ------------------------------------------

_PLAIN_RESULTS = SchemaExtension.get_results
_PLAIN_STREAM = SchemaExtension.on_stream_result
_NOTHING = contextlib.nullcontext()


class _ListExitStack(contextlib.AsyncExitStack):
    """contextlib's stack on a list instead of a deque (which alone is ~600 bytes):
    a live subscription keeps its operation's stack for as long as it runs."""

    def __init__(self):
        self._exit_callbacks = []


class _GeneratorHook:
    """A generator hook entered and exited once: what @contextmanager makes, minus
    what that keeps to be re-created (function, arguments, docstring) and the
    wrapper function Strawberry makes per hook and operation. Exits exactly as
    contextlib's does (same __exit__)."""

    __slots__ = ("gen",)

    def __init__(self, fn, extension):
        self.gen = fn(extension)

    def __enter__(self):
        try:
            return next(self.gen)
        except StopIteration:
            raise RuntimeError("generator didn't yield") from None

    __exit__ = contextlib._GeneratorContextManager.__exit__


@functools.cache
def _ends_at_yield(fn) -> bool:
    """True for a generator hook whose one `yield` is its last statement (outside any
    try or with): nothing of it runs after the yield, so it need not be kept until the
    operation ends. Strawberry's MaxTokensLimiter and AddValidationRules, and our
    on_execute hooks, are such; MaskErrors' and SchemaDisclosure's on_operation are not."""
    try:
        func = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return False
    yields = [node for node in ast.walk(func) if isinstance(node, (ast.Yield, ast.YieldFrom))]
    last = func.body[-1] if isinstance(func, ast.FunctionDef) else None
    return len(yields) == 1 and isinstance(last, ast.Expr) and last.value is yields[0] and yields[0].value is None


class _UpToYield:
    """A hook that ends at its yield (_ends_at_yield): entering runs it to the yield
    and finishes it there; there is nothing to exit (the hooks' managers below do not
    keep it)."""

    __slots__ = ("fn", "extension")

    def __init__(self, fn, extension):
        self.fn, self.extension = fn, extension

    def __enter__(self):
        gen = self.fn(self.extension)
        try:
            next(gen)
        except StopIteration:
            raise RuntimeError("generator didn't yield") from None
        gen.close()  # (at its last statement: closing it runs nothing)

    def __exit__(self, *exc):
        return None


class _LighterHooks:
    """Strawberry's hooks of one kind around an operation, kept lighter for as long as
    it runs (a live subscription: its whole life): generator hooks as _GeneratorHook,
    on a _ListExitStack, those that end at their yield not kept at all, and the hook
    list dropped once entered."""

    __slots__ = ()

    def get_hook(self, extension):
        fn = getattr(type(extension), self.HOOK_NAME)
        if fn is not self.default_hook and inspect.isgeneratorfunction(fn):
            cls = _UpToYield if _ends_at_yield(fn) else _GeneratorHook
            return WrappedHook(extension, functools.partial(cls, fn, extension), False)
        return super().get_hook(extension)

    async def __aenter__(self) -> None:
        self.async_exit_stack = stack = _ListExitStack()
        await stack.__aenter__()
        for hook in self.hooks:
            if hook.is_async:
                await stack.enter_async_context(hook.hook())
                continue
            manager = hook.hook()
            if type(manager) is _UpToYield:
                manager.__enter__()
            else:
                stack.enter_context(manager)
        self.hooks = ()


class _Operation(_LighterHooks, OperationContextManager):
    __slots__ = ()


class _Executing(_LighterHooks, ExecutingContextManager):
    __slots__ = ()


class LiveResultsRunner(SchemaExtensionsRunner):
    """Strawberry's extension runner, minus per-result work that does nothing:
    - results of extensions none of which defines `get_results` are `{}`;
    - `on_stream_result` for a result without errors whose data is shared or a
      replay batch: the only stream hook in use (MaskErrors) acts on errors only;
    - the operation's and execution's hooks are kept lighter (`_LighterHooks`), and
      extensions with no hook left to run are let go once execution starts."""

    def __init__(self, execution_context, extensions=None):
        super().__init__(execution_context, extensions)
        self._no_results = all(type(e).get_results is _PLAIN_RESULTS for e in self.extensions)

    async def get_extensions_results(self, ctx):
        if self._no_results and not ctx.extensions_results:
            return {}
        return await super().get_extensions_results(ctx)

    def on_stream_result(self, result):
        if not getattr(result, "errors", None) and type(getattr(result, "data", None)) in (SharedData, ResultBatch):
            return _NOTHING
        return super().on_stream_result(result)

    def operation(self):
        return _Operation(self.extensions)

    def executing(self):
        manager = _Executing(self.extensions)
        # After execution starts only stream and result hooks run: extensions with
        # neither (parser and validation caches, cost check) need not live on for
        # as long as a subscription does.
        self.extensions = [
            e for e in self.extensions
            if type(e).on_stream_result is not _PLAIN_STREAM or type(e).get_results is not _PLAIN_RESULTS
        ]
        # Validation is over: the operation's own copy of the rules (AddValidationRules
        # makes one per operation, ~300 bytes) need not live on either.
        self.execution_context.validation_rules = ()
        return manager


def install_shared_execution(schema) -> None:
    """Make `schema` execute each distinct live subscription once per shared event,
    replay in batches (the transport must be SharedResultsTransportWS; it tells the
    resolvers so through the context) and skip extension work that does nothing."""
    schema.execution_context_class = SharedEventExecutor
    schema.create_extensions_runner = lambda execution_context, extensions: LiveResultsRunner(
        execution_context, extensions
    )
    schema.baton_replay_batches = True
    # Live pages straight to graphql-transport-ws sockets (api/live/tap.py): only when no
    # extension adds results to each `next` message (those go through Strawberry).
    schema.baton_direct_writes = all(type(ext).get_results is _PLAIN_RESULTS for ext in schema.get_extensions())

