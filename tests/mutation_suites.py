"""Which tests judge a mutant of each rules module (`make mutation`, docs/testing.md).

mutmut runs, per mutant, the tests that called the mutated function. Every read path
reaches visibility, the gates and the stuck reasons, so for most functions that is
hundreds of tests, and a surviving mutant would run them all. Each rules module has
suites that pin its outcomes exactly; a mutant is judged by those. `narrow` (called from
tests/conftest.py) keeps, of the tests mutmut asked for, the ones in the mutated module's
suites, and leaves the list alone when none of them called it.
"""
import os

APPROVALS = ("test_workflow_approvals.py", "test_approval_flows.py", "test_approval_actions_exact.py",
             "test_approval_lists.py", "test_workflow_gates.py", "test_alerts.py")
ASSIGNMENT = ("test_assignment.py", "test_assignment_rules.py", "test_opportunity_source.py", "test_pool.py",
              "test_pool_rules.py")

SUITES = {
    "approvals": APPROVALS,
    "approval_rules": APPROVALS,
    "approval_actions": APPROVALS,
    "stage_work": ("test_stage_work.py", "test_stage_work_exact.py", "test_analytics.py"),
    "handoffs": ("test_workflow_handoffs.py",),
    "gates": ("test_workflow_gates.py", "test_opportunities.py", "test_attachments.py", "test_stage_work.py"),
    "opportunities": ("test_opportunities.py", "test_workflow_gates.py", "test_concurrency.py"),
    "assignment": ASSIGNMENT,
    "pool": ASSIGNMENT,
    "stuck": ("test_stuck.py", "test_stuck_rules.py"),
    "visibility": ("test_access_rules.py", "test_access_preview.py", "test_visibility_exact.py"),
    "records": ("test_records.py", "test_records_exact.py"),
    "accounts": ("test_accounts.py", "test_accounts_exact.py"),
}

# The test files mutmut's stats run collects from (pyproject.toml's selection lists the same).
ALL = sorted({name for suite in SUITES.values() for name in suite})


def module_under_test() -> str | None:
    """'gates' while mutmut runs a mutant of resolvers/gates.py; None otherwise (stats, clean runs)."""
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    parts = name.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "resolvers" else None


def narrow(config, items: list) -> None:
    module = module_under_test()
    if module not in SUITES:
        return
    keep = [item for item in items if item.path.name in SUITES[module]]
    if keep and len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.path.name not in SUITES[module]])
        items[:] = keep
