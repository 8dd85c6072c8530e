"""The websocket handlers of both protocols, writing every message through the
socket's SocketWriter (data never waited on, the connection's byte budget) and
pacing replays by the socket (SocketWriter.turn):

- SharedResultsTransportWS (graphql-transport-ws): Strawberry's handler, sending
  shared results as spliced bytes and replay batches as one `next` message per
  event, and making a LiveTap per subscription so the channel's pump can write live
  pages itself.
- LegacyTransportWS (graphql-ws): Strawberry's handler, plus the connection_init
  timeout its protocol lacks (4408, as graphql-transport-ws). Its subscribers take
  every page themselves."""
import asyncio
import contextlib

from strawberry.extensions import MaskErrors
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from api.live.codes import NO_INIT, SLOW_READER
from api.live.execution import ResultBatch, SharedData
from api.live.hub import CURRENT_TAP
from api.live.socket import RAW_SEND, SocketWriter, close_soon, transport_of
from api.live.tap import LiveTap

CONNECTION_BUFFER_BYTES = 4 * 1024 * 1024  # BATON_WS_CONNECTION_BUFFER_BYTES' default
CHUNK = 64 * 1024  # a replay batch's messages are handed over in chunks of this many bytes
DATA = frozenset({"next", "data"})  # messages posted (never waited on), both protocols


class _LiveSocket:
    """What both handlers add to Strawberry's: one SocketWriter for every message,
    data posted and the rest sent in turn, replays paced by the socket, and a socket
    past its byte budget closed (SLOW_READER) with its operations ended at once."""

    writer: SocketWriter | None = None

    def _out(self) -> SocketWriter:
        writer = self.writer
        if writer is None:
            ws = self.websocket.ws
            settings = getattr(getattr(self.view, "app_state", None), "settings", None)
            budget = getattr(settings, "ws_connection_buffer_bytes", CONNECTION_BUFFER_BYTES)
            writer = self.writer = SocketWriter(ws.scope.get(RAW_SEND) or ws.send, budget, self._given_up)
        return writer

    def _live_context(self) -> None:
        """Before a subscription starts: its own reads of the log take the socket's turn."""
        with contextlib.suppress(AttributeError, TypeError):
            self.context.replay_turn = self._out().turn

    def _tasks(self) -> list:
        """The tasks of this socket's operations."""
        raise NotImplementedError

    def _given_up(self) -> None:
        """More than the budget waits for this socket: close it and end its operations
        now (their pages and feeds go with them), not when the close completes."""
        close_soon(self.websocket.close, SLOW_READER, transport_of(self.websocket.ws.scope))
        for task in self._tasks():
            task.cancel()

    async def send_message(self, message) -> None:
        writer = self._out()
        if writer.closed:
            return  # given up or gone: nothing more goes out (its operations are ending)
        text = self.view.encode_json(message)
        if not isinstance(text, str):
            await super().send_message(message)
        elif message.get("type") in DATA:
            writer.post([text])
        else:
            await writer.send(text)

    def _close_writer(self) -> None:
        if self.writer is not None:
            self.writer.close()
        with contextlib.suppress(AttributeError, TypeError):
            self.context.replay_turn = None


class LegacyTransportWS(_LiveSocket, BaseGraphQLWSHandler):
    """The view's graphql_ws_handler_class (api/app.py)."""

    async def handle(self) -> None:
        # graphql-ws has no connection_init timeout of its own: close as graphql-transport-ws does.
        timeout = self.view.connection_init_wait_timeout.total_seconds()
        self._init_timer = asyncio.get_running_loop().call_later(
            timeout, close_soon, self.websocket.close, NO_INIT, transport_of(self.websocket.ws.scope)
        )
        try:
            await super().handle()
        finally:
            self._init_timer.cancel()
            self._close_writer()

    async def handle_connection_init(self, message) -> None:
        self._init_timer.cancel()
        await super().handle_connection_init(message)

    async def handle_start(self, message) -> None:
        self._live_context()
        await super().handle_start(message)

    def _tasks(self) -> list:
        return list(self.tasks.values())


class SharedResultsTransportWS(_LiveSocket, BaseGraphQLTransportWSHandler):
    """The view's graphql_transport_ws_handler_class (api/app.py)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Set here, not later: attributes added after __init__ cost each handler a dict.
        self._envelopes: dict | None = None
        self.writer: SocketWriter | None = None  # every message of this socket goes through it
        self._taps: dict | None = None  # operation id -> LiveTap

    def _tasks(self) -> list:
        return [op.task for op in self.operations.values() if op.task is not None]

    def _drop_tap(self, op_id) -> None:
        tap = self._taps.pop(op_id, None) if self._taps else None
        if tap is not None:
            tap.live = False
        if self._envelopes:
            self._envelopes.pop(op_id, None)

    def forget_id(self, id: str) -> None:
        self._drop_tap(id)
        super().forget_id(id)

    async def cleanup_operation(self, operation_id: str) -> None:
        self._drop_tap(operation_id)
        await super().cleanup_operation(operation_id)

    async def shutdown(self) -> None:
        await super().shutdown()
        self._close_writer()

    async def handle_connection_init(self, message) -> None:
        await super().handle_connection_init(message)
        # Signed in (or refused): the cancelled timeout task (with its traceback)
        # and the init payload are not needed for the rest of the socket's life.
        self.connection_init_timeout_task = None
        with contextlib.suppress(AttributeError):
            self.context.connection_params = None

    def _envelope(self, op_id: str):
        """The view's encoding of this operation's `next` message around its data."""
        tap = self._taps.get(op_id) if self._taps else None
        if tap is not None:
            return tap.head, tap.tail
        if self._envelopes is None:
            self._envelopes = {}
        env = self._envelopes.get(op_id)
        if env is None:
            env = self._envelopes[op_id] = self._new_envelope(op_id)
        return env

    def _new_envelope(self, op_id: str):
        text = self.view.encode_json({"id": op_id, "type": "next", "payload": {"data": None}})
        head, null, tail = text.rpartition("null") if isinstance(text, str) else ("", "", "")
        return (head, tail) if null else False

    async def handle_subscribe(self, message) -> None:
        # Resolvers may hand replayed events over in batches (live.ReplayBatch):
        # this handler sends each event's result as its own `next` message.
        if getattr(self.schema, "baton_replay_batches", False) and not getattr(self.context, "batch_replay", False):
            with contextlib.suppress(AttributeError, TypeError):
                self.context.batch_replay = True
        self._live_context()
        # Live pages may be written for this subscription by the channel's pump.
        op_id = message.get("id")
        tap = None
        if getattr(self.schema, "baton_direct_writes", False) and isinstance(op_id, str) and (
            op_id not in self.operations
        ):
            env = self._new_envelope(op_id)  # kept by the tap (see _envelope)
            tap = LiveTap(self, op_id, *env) if env else None
        token = CURRENT_TAP.set(tap)
        try:
            await super().handle_subscribe(message)
        finally:
            CURRENT_TAP.reset(token)
        # handle()'s loop holds the message until the next one, which on a live socket
        # may never come: what the operation needs of it (query, variables) it took.
        message.clear()
        if tap is not None:
            if op_id in self.operations:
                if self._taps is None:
                    self._taps = {}
                self._taps[op_id] = tap
            else:
                tap.live = False

    def _masked(self, errors):
        """What Strawberry's stream does to a result's errors: log, then mask."""
        self.schema._process_errors(errors)
        for extension in self.schema.get_extensions():
            if isinstance(extension, MaskErrors):
                errors = extension._process_errors(errors)
        return errors

    def _text(self, item, env):
        """The `next` message of a replayed event's result, spliced (None: build it in full)."""
        if type(item) is dict:
            data, errors = item, None
        else:
            data, errors = item.data, item.errors
        if env and not errors:
            text = self.view.encode_json(data)
            if isinstance(text, str):
                return env[0] + text + env[1]
        return None

    async def _send_item(self, op_id: str, item, extensions) -> None:
        """What Operation.send_next would send for a replayed event's result."""
        data, errors = (item, None) if type(item) is dict else (item.data, item.errors)
        payload = {"data": data}
        if errors:
            payload["errors"] = [err.formatted for err in self._masked(errors)]
        if extensions:
            payload["extensions"] = extensions
        await self.send_message({"id": op_id, "type": "next", "payload": payload})

    async def _send_batch(self, op_id: str, batch: ResultBatch, extensions) -> None:
        """One `next` message per event, handed over as they are encoded: those the
        plain plan completed in chunks (the socket takes what it can between them), then
        the others one at a time as they are executed (batch.rest). Never waits on the
        socket: a page that does not fit in the budget closes it (SLOW_READER)."""
        env = self._envelope(op_id) if not extensions else False
        post = self._out().post
        texts: list[str] = []
        n = 0
        for item in batch:
            text = self._text(item, env)
            if text is None:
                post(texts)
                texts, n = [], 0
                await self._send_item(op_id, item, extensions)
                continue
            texts.append(text)
            n += len(text)
            if n >= CHUNK:
                post(texts)
                texts, n = [], 0
                await asyncio.sleep(0)
        post(texts)
        if batch.rest is not None:
            async with contextlib.aclosing(batch.rest) as rest:
                async for item in rest:
                    text = self._text(item, env)
                    if text is None:
                        await self._send_item(op_id, item, extensions)
                    else:
                        post([text])

    async def send_message(self, message) -> None:
        if message.get("type") == "next":
            payload = message["payload"]
            data = payload.get("data")
            if type(data) is ResultBatch and "errors" not in payload:
                await self._send_batch(message["id"], data, payload.get("extensions"))
                return
            if type(data) is SharedData and len(payload) == 1:
                text = data.text
                if text is None:
                    text = data.text = self.view.encode_json(data)
                env = self._envelope(message["id"]) if isinstance(text, str) else False
                if env:
                    self._out().post([env[0] + text + env[1]])
                    return
        await super().send_message(message)
