"""`make mutation`'s configuration agrees with itself (tests/mutation_suites.py, pyproject.toml,
the Makefile): every mutated module has suites that exist, the stats run collects exactly
their union, and a mutant is judged by its own module's suites only."""
import re
import tomllib
from pathlib import Path

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


def _plan(monkeypatch, mutant, tests):
    monkeypatch.setenv("MUTANT_UNDER_TEST", mutant)
    return mutation_suites.plan([f"tests/api/{test}" for test in tests])


def test_a_mutant_runs_its_modules_suites_only(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    tests = ["test_workflow_gates.py::test_a[sqlite]", "test_visibility_exact.py::test_b[sqlite]",
             "test_opportunities.py::test_c[sqlite]"]
    assert _plan(monkeypatch, "resolvers.gates.x_gated_path__mutmut_10", tests) == [
        "tests/api/test_workflow_gates.py::test_a[sqlite]", "tests/api/test_opportunities.py::test_c[sqlite]"]


def test_a_mutant_its_suites_never_reach_keeps_the_tests_mutmut_chose(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert _plan(monkeypatch, "resolvers.records.x_clean__mutmut_1", ["test_workflow_gates.py::test_a"]) == [
        "tests/api/test_workflow_gates.py::test_a"]


def test_stats_clean_and_ordinary_runs_are_left_alone(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    tests = ["test_workflow_gates.py::test_a", "test_records.py::test_b"]
    for value in ("stats", "", "fail", "resolvers.records"):
        assert _plan(monkeypatch, value, tests) == [f"tests/api/{test}" for test in tests]
        mutation_suites.record_kill("tests/api/test_records.py::test_b")
    assert not (tmp_path / "kills").exists()


def test_the_tests_that_killed_a_functions_mutants_run_first(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(mutation_suites, "_recorded", set())
    tests = ["test_records.py::fast", "test_records.py::slow[a b]", "test_records_exact.py::slower",
             "test_records_exact.py::slowest"]
    monkeypatch.setenv("MUTANT_UNDER_TEST", "resolvers.records.x_clean__mutmut_1")
    mutation_suites.record_kill("tests/api/test_records_exact.py::slowest")
    monkeypatch.setenv("MUTANT_UNDER_TEST", "resolvers.records.x_clean__mutmut_2")
    mutation_suites.record_kill("tests/api/test_records_exact.py::slowest")
    monkeypatch.setenv("MUTANT_UNDER_TEST", "resolvers.records.x_clean__mutmut_4")
    mutation_suites.record_kill("tests/api/test_records.py::slow[a b]")
    mutation_suites.record_kill("tests/api/test_records.py::slow[a b]")  # its teardown failed too: one kill
    monkeypatch.setenv("MUTANT_UNDER_TEST", "resolvers.records.x_other__mutmut_1")
    mutation_suites.record_kill("tests/api/test_records.py::fast")  # another function's kill: no say

    assert _plan(monkeypatch, "resolvers.records.x_clean__mutmut_3", tests) == [
        "tests/api/test_records_exact.py::slowest", "tests/api/test_records.py::slow[a b]",
        "tests/api/test_records.py::fast", "tests/api/test_records_exact.py::slower"]
