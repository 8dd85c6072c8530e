"""What every resolver receives: who is asking, storage, loaders, the clock, and
how to announce committed events. Built per request (or per websocket) by api/."""
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from db.engine import Database
from db.loaders import Loaders
from db.models import User
from db.types import utcnow
from resolvers.errors import FORBIDDEN, Unauthenticated, fail
from resolvers.feeds import OnOverflow, Subscribe
from resolvers.i18n import DEFAULT, negotiate, supported
from resolvers.visibility import Access, opportunity_clause

Publish = Callable[[int, dict], Awaitable[None]]


async def _no_publish(org_id: int, message: dict) -> None:
    return None


async def _no_announce(token_ids: list[int]) -> None:
    return None


SCOPES = ("read", "write")  # narrowest first


@dataclass
class Viewer:
    user: User
    scope: str = "write"  # read | write (API tokens may be read-only)
    department_id: int | None = None  # a department-scoped API token sees only that department
    token_id: int | None = None
    # "session" (sign-in; also the CLI and internal jobs) acts with its user's full rights;
    # "api" is a token whose scope, department and expiry bound what it may delegate.
    kind: str = "session"
    expires_at: datetime | None = None
    # The organization's event seq when this request was authenticated: every
    # committed change bumps it, so it versions whatever the request reads.
    org_seq: int | None = None
    # ...and how far back its log reaches (db/retention.py): retention changes results too.
    log_floor: int = 0
    # The user's access rule (resolvers/visibility.py): loaded with the sign-in, or by
    # visibility.ensure_access before anything is read.
    access: Access | None = None
    # The organization's language (loaded with the sign-in): the last resort for texts.
    org_locale: str = DEFAULT

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

    def delegate(self, *, scope: str, department_id: int | None, user_id: int) -> datetime | None:
        """Check that a token with these rights is no wider than this viewer's own, and
        return the expiry it must have (None: no limit). FORBIDDEN otherwise: an API
        token never mints a wider token, or one that outlives it."""
        if self.kind == "session":
            return None
        if SCOPES.index(scope) > SCOPES.index(self.scope):
            fail(FORBIDDEN, "A {own_scope} token cannot create a {scope} token", "scope", own_scope=self.scope.upper(), scope=scope.upper())
        if self.department_id is not None and department_id != self.department_id:
            fail(FORBIDDEN, "A department token can only create tokens for its own department", "departmentKey")
        if user_id != self.id:
            fail(FORBIDDEN, "A token cannot create tokens for another user", "userId")
        return self.expires_at


@dataclass
class Ctx:
    db: Database
    viewer: Viewer | None = None
    publish: Publish = _no_publish
    subscribe: Subscribe | None = None
    clock: Callable[[], datetime] = utcnow
    max_page_size: int = 100
    session_hours: int = 24 * 14
    # A session unused for this long stops working (0: no idle expiry).
    session_idle_hours: float = 72
    # After revoking tokens: close their open websockets in every process (api/ sets it).
    announce_revoked: Callable[[list[int]], Awaitable[None]] = _no_announce
    # Webhook endpoints may point at private networks / loopback (BATON_WEBHOOK_ALLOW_PRIVATE).
    webhook_allow_private: bool = False
    # Signs download links (resolvers/exports.py); api/ sets it from BATON_SECRET_KEY.
    secret_key: str = ""
    # Attachments (resolvers/attachments.py): the content-addressed file store (db/files.py)
    # and the largest file accepted (BATON_FILES_DIR, BATON_MAX_ATTACHMENT_MB).
    files: Any = None
    max_attachment_bytes: int = 20 * 1024 * 1024
    # People (resolvers/people.py): the board's public address for invitation and reset
    # links ("" when BATON_BASE_URL is not set: the links are relative), how long an
    # invitation lasts, and how to send an email when SMTP is configured (None: it is not).
    base_url: str = ""
    invite_ttl_hours: float = 168
    send_mail: Callable[[str, str, str], Awaitable[None]] | None = None
    # The shared pool (resolvers/pool.py): claims per user in 24 hours, and hours before
    # one may claim again a deal they gave back (BATON_POOL_CLAIMS_PER_DAY, BATON_POOL_RECLAIM_COOLDOWN_HOURS).
    pool_claims_per_day: int = 10
    pool_reclaim_cooldown_hours: float = 72
    # Sign-in attempts per email+IP (api/ratelimit.py LoginAttempts; None: not limited).
    login_limiter: Any = None
    # Set by the transport: the Starlette request or websocket, and graphql-ws init params.
    request: Any = None
    response: Any = None
    connection_params: Any = None
    # Websockets only: drop this connection because one of its subscribers fell too
    # far behind (passed to `subscribe` as its on_overflow; api/ closes the socket).
    drop_slow_subscriber: OnOverflow | None = None
    # Websockets only: the transport takes replayed events in batches (live.ReplayBatch).
    batch_replay: bool = False
    # Websockets only: `async with replay_turn():` around each page a subscriber reads
    # from the log itself, so a socket that does not read stops them (api/live/socket.py).
    replay_turn: Callable[[], AbstractAsyncContextManager] | None = None
    _loaders: Loaders | None = field(default=None, repr=False)
    # (the Accept-Language's supported match or None,) once read: headers do not change mid-request.
    _asked_locale: tuple[str | None] | None = field(default=None, repr=False)

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            viewer = self.require_viewer()
            # Every by-id load of a card, or of what hangs off one, sees only visible cards.
            self._loaders = Loaders(self.db, viewer.org_id, visible_cards=opportunity_clause(self.access))
        return self._loaders

    @property
    def access(self) -> Access:
        """The viewer's access rule; reading before it is loaded is a bug (it would leak)."""
        access = self.require_viewer().access
        if access is None:
            raise RuntimeError("the viewer's access rule is not loaded (visibility.ensure_access)")
        return access

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

    @property
    def locale(self) -> str:
        """The language of this request's texts: the viewer's own choice, else the best
        match of the request's (or websocket handshake's) Accept-Language, else the
        organization's."""
        viewer = self.viewer
        chosen = supported(viewer.user.locale) if viewer is not None else None
        if chosen:
            return chosen
        if self._asked_locale is None:
            headers = getattr(self.request, "headers", None)
            self._asked_locale = (negotiate(headers.get("accept-language")) if headers is not None else None,)
        if self._asked_locale[0]:
            return self._asked_locale[0]
        return (supported(viewer.org_locale) if viewer is not None else None) or DEFAULT

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


def system_ctx(db: Database, now: datetime, publish: Publish | None = None) -> Ctx:
    """The context of background work (alerts, the pool's returns, deliveries) at `now`:
    no viewer, so it sees everything; `publish` announces what it commits."""
    ctx = Ctx(db=db, clock=lambda: now)
    if publish is not None:
        ctx.publish = publish
    return ctx
