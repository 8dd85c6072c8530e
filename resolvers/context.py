"""What every resolver receives: who is asking, storage, loaders, the clock, and
how to announce committed events. Built per request (or per websocket) by api/."""
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from db.engine import Database
from db.loaders import Loaders
from db.models import User
from db.types import utcnow
from resolvers.errors import FORBIDDEN, Unauthenticated, fail

Publish = Callable[[int, dict], Awaitable[None]]


async def _no_publish(org_id: int, message: dict) -> None:
    return None


# subscribe(org_id, on_overflow) -> async context manager yielding a feed whose
# `await feed.next()` returns the announcements (seqs, notified users) since the last
# call, or raises when the subscriber fell too far behind. Injected by api/ (the Hub).
Subscribe = Callable[..., Any]


@dataclass
class Viewer:
    user: User
    scope: str = "write"  # read | write (API tokens may be read-only)
    department_id: int | None = None  # a department-scoped API token sees only that department
    token_id: int | None = None
    # The organization's event seq when this request was authenticated: every
    # committed change bumps it, so it versions whatever the request reads.
    org_seq: int | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def org_id(self) -> int:
        return self.user.org_id

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def is_admin(self) -> bool:
        return self.user.role == "ADMIN"


@dataclass
class Ctx:
    db: Database
    viewer: Viewer | None = None
    publish: Publish = _no_publish
    subscribe: Subscribe | None = None
    clock: Callable[[], datetime] = utcnow
    max_page_size: int = 100
    session_hours: int = 24 * 14
    # Webhook endpoints may point at private networks / loopback (BATON_WEBHOOK_ALLOW_PRIVATE).
    webhook_allow_private: bool = False
    # Set by the transport: the Starlette request or websocket, and graphql-ws init params.
    request: Any = None
    response: Any = None
    connection_params: Any = None
    # Websockets only: close the whole connection with a code (e.g. 4429 for a slow consumer).
    close_connection: Callable[[int, str], Awaitable[None]] | None = None
    # Websockets only: the transport takes replayed events in batches (live.ReplayBatch).
    batch_replay: bool = False
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.db, self.require_viewer().org_id)
        return self._loaders

    def fresh_loaders(self) -> Loaders:
        """Forget cached loads (each live event is resolved from fresh data)."""
        self._loaders = None
        return self.loaders

    def release_loaders(self) -> None:
        """Forget this request's loads once it is answered (see Loaders.release).
        Not for a context using shared loaders (use_loaders)."""
        loaders, self._loaders = self._loaders, None
        if loaders is not None:
            loaders.release()

    def use_loaders(self, loaders: Loaders) -> Loaders:
        """Resolve with a loader cache shared with other subscribers of the same
        organization (live events: one cache per page of the log, see resolvers/live.py)."""
        self._loaders = loaders
        return loaders

    def require_viewer(self) -> Viewer:
        if self.viewer is None:
            raise Unauthenticated("Sign in first: send Authorization: Bearer <token>")
        return self.viewer

    def require_writer(self) -> Viewer:
        viewer = self.require_viewer()
        if viewer.role == "VIEWER":
            fail(FORBIDDEN, "Your role can view the board but not change it")
        if viewer.scope != "write":
            fail(FORBIDDEN, "This token is read-only")
        return viewer
