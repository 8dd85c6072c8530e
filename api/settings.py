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
    secret_key: str = "change-me"
    web_dir: Path = WEB_DIR

    # Sessions from `login` expire after this many hours.
    session_hours: int = 24 * 14
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

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def get_settings(**overrides) -> Settings:
    return Settings(**overrides)
