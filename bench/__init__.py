"""Baton benchmarks: `python -m bench all --quick|--full` (not part of the test run)."""
