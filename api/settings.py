"""Configuration from the environment (prefix BATON_)."""
from functools import cached_property
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BATON_", env_file=".env", extra="ignore")

    # Storage: SQLite file by default; postgresql+asyncpg://... in production.
    database_url: str = "sqlite+aiosqlite:///./baton.db"
    # Live fan-out: memory:// for one process, postgres://... or redis://... for several.
    broadcast_url: str = "memory://"
    # PostgreSQL connections this process keeps open. Connections beyond the pool
    # are opened and closed per use, which costs a connect per request, so size it
    # to the concurrent requests one process serves (a request may hold two).
    db_pool_size: int = 20
    # Connections opened beyond the pool at peaks. A process may hold up to
    # db_pool_size + db_max_overflow + 8 (two side pools of 2 + 2 for webhook and channel
    # deliveries) plus one LISTEN connection with a postgres:// broadcast (docs/operations.md).
    db_max_overflow: int = 10
    # Set when database_url points at PgBouncer in transaction pooling mode: prepared
    # statements get unique names and are never cached (db/engine.py). The broadcast URL
    # must still reach PostgreSQL directly, since LISTEN needs a session of its own.
    db_pgbouncer: bool = False
    # Signs the board's download links (createExportLink). Unset: each `baton serve` makes
    # a random one for its workers; set it when several servers share links.
    secret_key: str = ""
    web_dir: Path = WEB_DIR

    # Sessions from `login` expire after this many hours, or once unused for
    # `session_idle_hours` (0: no idle expiry).
    session_hours: int = 24 * 14
    session_idle_hours: float = 72
    # Relay connections never return more than this many edges.
    max_page_size: int = 100
    # Subscriptions one websocket may hold at once.
    max_subscriptions_per_connection: int = 20
    # Events buffered for one subscriber before it is disconnected (4429).
    subscriber_buffer: int = 500
    # Seconds between checks that each live channel has seen the log's newest event
    # (recovers events whose announcement was lost, e.g. a failed publish).
    catch_up_seconds: float = 5.0
    # Seconds between graphql-ws keep-alive messages (graphql-transport-ws clients ping themselves).
    keep_alive_seconds: float = 15.0
    # Seconds a websocket may take to send connection_init.
    connection_init_timeout_seconds: float = 10.0
    # Background alerts: thresholds in hours and the loop's period in seconds.
    handoff_alert_hours: int = 48
    approval_alert_hours: int = 48
    alerts_interval_seconds: float = 60.0
    # Events older than this many days leave the log (0: keep every event). On PostgreSQL whole
    # months go, once all of a month is past it (db/partitions.py); run by the alerts leader.
    event_retention_days: int = 0
    # Each organization keeps at most its newest this many events (0: no limit by count);
    # older ones are deleted in batches (db/retention.py). A cursor older than what is kept
    # answers RESYNC_REQUIRED.
    event_retention_events: int = 0
    # The shared pool (公海, docs/administration.md): claims one user may make in 24 hours, and
    # hours before one may claim again a deal they released (or that returned to the pool from them).
    pool_claims_per_day: int = 10
    pool_reclaim_cooldown_hours: float = 72

    # --- Hardening (docs/security.md) ---
    # Query limits: nesting depth, aliases, lexer tokens, estimated cost (nested `first`
    # and list bounds multiplied: the board's own query is ~1.9 million at the bounds),
    # seconds per query/mutation (TIMEOUT error after that).
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    max_query_cost: int = 2_500_000
    operation_timeout_seconds: float = 15.0
    # GraphQL introspection (which GraphiQL relies on) and "Did you mean ...?" suggestions,
    # for signed-in viewers only: anonymous clients never get them. false: for nobody.
    introspection: bool = True
    # Request bodies larger than this are refused with 413.
    max_body_bytes: int = 256 * 1024
    # Multipart uploads (spreadsheet imports) may be this large.
    max_upload_bytes: int = 20 * 1024 * 1024
    # Files attached to deals (attachFile) may be this large, in MB; a multipart request
    # carrying one that size passes the body limit (create_app raises it as needed).
    max_attachment_mb: float = 20
    # Where attachments are stored (content-addressed, ab/cd/<sha256>). Unset: a `files`
    # directory next to the SQLite database, or ./baton-files with PostgreSQL.
    files_dir: Path | None = None
    # Origins allowed by CORS (JSON list, e.g. '["https://board.example"]'); none by default.
    cors_origins: list[str] = []
    # Rate limits (token buckets): sustained requests per second and burst, per token and per IP.
    rate_limit_enabled: bool = True
    rate_limit_per_token: float = 20.0
    rate_limit_token_burst: int = 60
    rate_limit_per_ip: float = 50.0
    rate_limit_ip_burst: int = 150
    # Sign-in attempts per email+IP: burst, then one more every `login_refill_seconds`.
    login_attempts: int = 5
    login_refill_seconds: float = 60.0
    # Shared buckets across processes (redis://...); falls back to BATON_BROADCAST_URL when that
    # is redis://, else buckets are per process.
    rate_limit_redis_url: str | None = None
    # Reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated addresses or
    # networks, e.g. "10.0.0.5,127.0.0.1"); empty: the headers are ignored from everyone.
    trusted_proxies: str = ""
    # Websockets: open connections per user; inbound message size (uvicorn ws_max_size).
    max_ws_connections_per_user: int = 10
    ws_max_message_bytes: int = 64 * 1024
    # Websockets per process: not yet signed in per client address, and open in all; more
    # are refused at the handshake (HTTP 429 and 503). Keep max_sockets below `ulimit -n`.
    max_unauthenticated_sockets_per_ip: int = 20
    max_sockets: int = 4000
    # Bytes one websocket may have waiting to be written (a client that reads slowly or
    # not at all) before it is closed with 4429, however many subscriptions it holds.
    ws_connection_buffer_bytes: int = 4 * 1024 * 1024
    # Outgoing webhooks: allow private-network/loopback targets (tests, on-premise receivers),
    # the delivery loop's period and one attempt's timeout, in seconds.
    webhook_allow_private: bool = False
    webhook_interval_seconds: float = 5.0
    webhook_timeout_seconds: float = 10.0
    # Notification channels (docs/notifications.md): the delivery loop's period (0: off in
    # this process), where messages link to (the board's address as people reach it), and
    # the SMTP server for email (empty host: email channels wait, failing, until it is set).
    # Bots share the webhook settings for private targets and timeouts.
    channel_interval_seconds: float = 5.0
    base_url: str = "http://localhost:8000"
    # Invitation links (inviteUser) stop working after this many hours.
    invite_ttl_hours: float = 168
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_ssl: bool = False  # implicit TLS (usually port 465) instead of STARTTLS
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "Baton <baton@localhost>"
    smtp_timeout_seconds: float = 20.0
    # PEM certificates that verify the SMTP server instead of the system's (a private CA);
    # verification itself is never switched off.
    smtp_ca_file: Path | None = None
    # A channel whose deliveries fail this many times in a row is disabled (0: never).
    channel_disable_after_failures: int = 20
    # Persisted queries: only operations listed in the JSON manifest {sha256: query} run.
    persisted_queries_only: bool = False
    persisted_queries_file: Path | None = None
    # Query results kept per process, keyed by viewer and the organization's event
    # seq (exact invalidation: every change bumps the seq); 0 switches it off.
    result_cache_size: int = 256
    # Automatic persisted queries (APQ) kept in memory per process.
    apq_cache_size: int = 1000

    @property
    def public_url(self) -> str:
        """The board's address as people reach it, when the operator set BATON_BASE_URL (the
        default is only a guess): invitation, reset and setup links use it; "" without it."""
        return self.base_url.rstrip("/") if "base_url" in self.model_fields_set else ""

    @property
    def files_path(self) -> Path:
        if self.files_dir is not None:
            return self.files_dir
        if self.is_sqlite:
            database = self.database_url.split("///", 1)[-1].split("?", 1)[0]
            if database and database != ":memory:":
                return Path(database).parent / "files"
        return Path("baton-files")

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def get_settings(**overrides) -> Settings:
    return Settings(**overrides)
