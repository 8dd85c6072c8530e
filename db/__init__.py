"""Storage: SQLAlchemy models, engine and sessions, loaders, the event log, migrations."""
