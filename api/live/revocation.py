"""Revoked tokens close their open websockets, in every process.

Each process keeps its signed-in sockets by token id, weakly: a socket is released
when it ends, and the registry never keeps one alive. Revoking tokens (logout,
revokeApiToken, revokeUserSessions, `baton user sign-out`) closes their sockets
here at once and announces their ids on one broadcast channel that every process
listens to; each closes its own sockets for them with TOKEN_REVOKED (4403).

Announcements are hints, as on the organizations' channels: every `check_seconds`
(BATON_CATCH_UP_SECONDS) each process asks the database which of its sockets'
tokens are revoked or expired and closes those, so a lost announcement only delays
the close by up to that long."""
import asyncio
import json
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable

from broadcaster import Broadcast

from api.live.codes import TOKEN_REVOKED
from api.live.socket import close_soon, transport_of

log = logging.getLogger("baton.realtime")

CHANNEL = "baton_revocations"  # beside the organizations' baton_org_<id>
_TOKEN = "baton.token_id"  # in a tracked socket's scope: what to release when it ends

# dead_tokens(token ids) -> those that no longer sign anyone in
DeadTokens = Callable[[list[int]], Awaitable[set[int]]]


def _message(token_ids: Iterable[int]) -> str:
    return json.dumps({"tokens": sorted(token_ids)})


def _token_ids(text: str) -> list[int]:
    try:
        ids = json.loads(text)["tokens"]
        return [i for i in ids if isinstance(i, int)]
    except (TypeError, ValueError, KeyError):
        log.warning("ignoring malformed message on %s: %r", CHANNEL, text)
        return []


class Revocations:
    def __init__(self, broadcast: Broadcast, dead_tokens: DeadTokens, check_seconds: float):
        self.broadcast = broadcast
        self.dead_tokens = dead_tokens
        self.check_seconds = check_seconds
        self._sockets: dict[int, weakref.WeakSet] = {}
        self._tasks: list[asyncio.Task] = []

    @property
    def tokens(self) -> set[int]:
        """Ids of the tokens with open sockets here."""
        return {token_id for token_id, sockets in self._sockets.items() if sockets}

    def track(self, token_id: int, websocket) -> None:
        """A websocket signed in with this token (a Starlette WebSocket)."""
        self._sockets.setdefault(token_id, weakref.WeakSet()).add(websocket)
        websocket.scope[_TOKEN] = token_id

    def release(self, scope: dict) -> None:
        """The socket of this ASGI scope has ended."""
        token_id = scope.pop(_TOKEN, None)
        sockets = self._sockets.get(token_id)
        if sockets is None:
            return
        for websocket in [ws for ws in sockets if ws.scope is scope]:
            sockets.discard(websocket)
        if not sockets:
            del self._sockets[token_id]

    def close(self, token_ids: Iterable[int]) -> None:
        """Close this process's sockets of these tokens (without waiting on them)."""
        for token_id in token_ids:
            for websocket in list(self._sockets.pop(token_id, ())):
                close_soon(websocket.close, TOKEN_REVOKED, transport_of(websocket.scope))

    async def announce(self, token_ids: list[int]) -> None:
        """After revoking these tokens: close their sockets here and in every process."""
        if not token_ids:
            return
        self.close(token_ids)
        try:
            await self.broadcast.publish(CHANNEL, _message(token_ids))
        except Exception:  # noqa: BLE001 - the revocation is committed; the periodic check closes the rest
            log.exception("announcing revoked tokens failed")

    def start(self) -> None:
        """Once the broadcast is connected."""
        self._tasks.append(asyncio.create_task(self._listen(), name="revocations:listen"))
        if self.check_seconds > 0:
            self._tasks.append(asyncio.create_task(self._check(), name="revocations:check"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _listen(self) -> None:
        while True:
            try:
                async with self.broadcast.subscribe(CHANNEL) as subscriber:
                    async for event in subscriber:
                        self.close(_token_ids(event.message))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the periodic check still closes them
                log.exception("listening on %s failed; listening again", CHANNEL)
            await asyncio.sleep(1)

    async def _check(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            for token_id in [t for t, sockets in self._sockets.items() if not sockets]:
                del self._sockets[token_id]  # their sockets were collected without a release
            if not self._sockets:
                continue
            try:
                self.close(await self.dead_tokens(list(self._sockets)))
            except Exception:  # noqa: BLE001 - try again next time
                log.exception("checking the tokens of open websockets failed")


async def announce_once(broadcast_url: str, token_ids: list[int]) -> None:
    """Announce revoked tokens from outside a server (`baton user sign-out`)."""
    broadcast = Broadcast(broadcast_url)
    await broadcast.connect()
    try:
        await broadcast.publish(CHANNEL, _message(token_ids))
    finally:
        await broadcast.disconnect()
