"""Which tests judge a mutant of each rules module (`make mutation`, docs/testing.md).

mutmut runs, per mutant, the tests that called the mutated function. Every read path
reaches visibility, the gates and the stuck reasons, so for most functions that is
hundreds of tests, and a surviving mutant would run them all. Each rules module has
suites that pin its outcomes exactly; a mutant is judged by those. `plan` (called from
tests/conftest.py before collection, so other files are not even collected) keeps, of the
tests mutmut asked for, the ones in the mutated module's suites, and runs first the tests
that killed the function's other mutants.
"""
import os
from collections import Counter
from pathlib import Path

APPROVALS = ("test_workflow_approvals.py", "test_approval_flows.py", "test_approval_actions_exact.py",
             "test_approval_signers_exact.py", "test_approval_lists.py", "test_workflow_gates.py", "test_alerts.py",
             "test_approval_supersede_exact.py", "test_approval_rules_exact.py")
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

KILLS = Path("kills")

# The test files mutmut's stats run collects from (pyproject.toml's selection lists the same).
ALL = sorted({name for suite in SUITES.values() for name in suite})


def mutant_under_test() -> str | None:
    """'resolvers.gates.x_gated_path__mutmut_3' while mutmut runs that mutant; None otherwise
    (stats, clean and forced-fail runs, ordinary test runs)."""
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    parts = name.split(".")
    return name if len(parts) > 2 and parts[0] == "resolvers" and "__mutmut_" in parts[-1] else None


def recorded_equivalent() -> bool:
    """Whether the running mutant is a recorded equivalent, unchanged since it was judged
    (tests/mutation_equivalents.toml; `MUTATION_RECHECK=1` runs them all the same)."""
    mutant = mutant_under_test()
    if mutant is None or os.environ.get("MUTATION_RECHECK"):
        return False
    from tests import mutation_report

    entry = mutation_report.recorded().get(mutant)
    return entry is not None and entry["diff"] == mutation_report.current_digest(mutant)


def _file(test: str) -> str:
    return Path(test.split("::")[0]).name


def _kills(mutant: str) -> Path:
    # Beside the mutated code (mutmut runs tests in mutants/): one file per function.
    return KILLS / mutant.rsplit("__mutmut_", 1)[0]


def plan(tests: list[str]) -> list[str]:
    """The tests (node ids, fastest first as mutmut orders them) a mutant is judged by, in the
    order to run them: of those in its module's suites (all, when none of them called the
    function), first the ones that killed other mutants of the same function, most kills
    first. mutmut stops at the first failure, so a killed mutant usually runs one test."""
    mutant = mutant_under_test()
    if mutant is None:
        return tests
    suites = SUITES.get(mutant.split(".")[1], ())
    own = [test for test in tests if _file(test) in suites] or tests
    try:
        killed = Counter(_kills(mutant).read_text().splitlines())
    except FileNotFoundError:
        return own
    return sorted(own, key=lambda test: -killed[test])  # stable: fastest first among equals


def functions(tests: list[str]) -> set[tuple[str, str]] | None:
    """(file, test function) of each node id in `tests`; None when one names a whole file."""
    if not all("::" in test for test in tests):
        return None
    return {(_file(test), test.split("::")[1].split("[")[0]) for test in tests}


_recorded: set[str] = set()


def record_kill(nodeid: str) -> None:
    """Remember the test that failed on the running mutant (see `plan`): the first failure
    only (a failed test may also fail its teardown)."""
    mutant = mutant_under_test()
    if mutant is not None and mutant not in _recorded:
        _recorded.add(mutant)
        KILLS.mkdir(exist_ok=True)
        with _kills(mutant).open("a") as out:  # one short append per kill: safe beside other workers
            out.write(nodeid + "\n")
