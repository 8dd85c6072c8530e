"""`make mutation`'s configuration agrees with itself (tests/mutation_suites.py, pyproject.toml,
the Makefile): every mutated module has suites that exist, the stats run collects exactly
their union, and a mutant is judged by its own module's suites only."""
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace

from tests import mutation_suites

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]


def test_every_mutated_module_has_suites_that_exist():
    mutated = {Path(p).stem for p in MUTMUT["only_mutate"]}
    assert mutated == set(mutation_suites.SUITES)
    for name in mutation_suites.ALL:
        assert (ROOT / "tests" / "api" / name).is_file(), name


def test_the_stats_run_collects_the_union_of_the_suites():
    files = [a for a in MUTMUT["pytest_add_cli_args_test_selection"] if a.endswith(".py")]
    assert sorted(Path(f).name for f in files) == mutation_suites.ALL


def test_make_mutation_names_every_mutated_module():
    makefile = (ROOT / "Makefile").read_text()
    named = set(re.findall(r"'resolvers\.(\w+)\.", makefile))
    assert named == set(mutation_suites.SUITES)


class Deselected:
    def __init__(self):
        self.items = []

    def pytest_deselected(self, items):
        self.items += items


def _items(*names):
    return [SimpleNamespace(path=Path("tests/api") / name, name=name) for name in names]


def _narrow(monkeypatch, mutant, names):
    monkeypatch.setenv("MUTANT_UNDER_TEST", mutant)
    hook = Deselected()
    items = _items(*names)
    mutation_suites.narrow(SimpleNamespace(hook=hook), items)
    return [i.name for i in items], [i.name for i in hook.items]


def test_a_mutant_runs_its_modules_suites_only(monkeypatch):
    kept, dropped = _narrow(monkeypatch, "resolvers.gates.x_gated_path__mutmut_10",
                            ["test_workflow_gates.py", "test_visibility_exact.py", "test_opportunities.py"])
    assert kept == ["test_workflow_gates.py", "test_opportunities.py"]
    assert dropped == ["test_visibility_exact.py"]


def test_a_mutant_its_suites_never_reach_keeps_the_tests_mutmut_chose(monkeypatch):
    assert _narrow(monkeypatch, "resolvers.records.x_clean__mutmut_1", ["test_workflow_gates.py"]) == (
        ["test_workflow_gates.py"], [])


def test_stats_clean_and_ordinary_runs_are_left_alone(monkeypatch):
    for value in ("stats", "", "fail"):
        assert _narrow(monkeypatch, value, ["test_records.py", "test_workflow_gates.py"]) == (
            ["test_records.py", "test_workflow_gates.py"], [])
