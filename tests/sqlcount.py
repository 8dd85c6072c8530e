"""Counting the SQL statements an engine runs (for tests that bound query counts)."""
from sqlalchemy import event


class StatementCounter:
    def __init__(self, engine):
        self.engine = engine.sync_engine
        self.count = 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._hit)

    def _hit(self, *args):
        self.count += 1
