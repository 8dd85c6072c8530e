"""`make mutation`'s configuration agrees with itself (tests/mutation_suites.py, pyproject.toml,
the Makefile): every mutated module has suites that exist, the stats run collects exactly
their union, a mutant is judged by its own module's suites only, and a recorded equivalent is
not run again while it is what was judged, and statements built once are built on every call
under mutmut."""
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from sqlalchemy import literal, select

from db import statements
from db.statements import built_once
from tests import mutation_report, mutation_suites

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


MUTATED = '''def x_clean__mutmut_orig(value):
    return value + 1


def x_clean__mutmut_1(value):
    return value - 1


def x_clean__mutmut_2(value):
    return value + 2
'''


def _equivalents(monkeypatch, tmp_path, text: str) -> None:
    path = tmp_path / "equivalents.toml"
    path.write_text(text)
    monkeypatch.setattr(mutation_report, "EQUIVALENTS", path)


def test_a_recorded_equivalent_is_not_run_while_it_is_what_was_judged(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # mutmut runs the tests from mutants/
    (tmp_path / "resolvers").mkdir()
    (tmp_path / "resolvers" / "records.py").write_text(MUTATED)
    judged = mutation_report.current_digest("resolvers.records.x_clean__mutmut_1")
    _equivalents(monkeypatch, tmp_path, f'[[mutant]]\nname = "resolvers.records.x_clean__mutmut_1"\ndiff = "{judged}"\nwhy = "w"\n')
    monkeypatch.setenv("MUTANT_UNDER_TEST", "resolvers.records.x_clean__mutmut_1")
    assert mutation_suites.recorded_equivalent()
    monkeypatch.setenv("MUTATION_RECHECK", "1")
    assert not mutation_suites.recorded_equivalent()
    monkeypatch.delenv("MUTATION_RECHECK")
    monkeypatch.setenv("MUTANT_UNDER_TEST", "resolvers.records.x_clean__mutmut_2")  # not recorded
    assert not mutation_suites.recorded_equivalent()
    # The function changed since: the same name is another mutant now, and runs.
    monkeypatch.setenv("MUTANT_UNDER_TEST", "resolvers.records.x_clean__mutmut_1")
    (tmp_path / "resolvers" / "records.py").write_text(MUTATED.replace("value + 1", "value + 3"))
    assert not mutation_suites.recorded_equivalent()
    # Ordinary test runs never skip.
    monkeypatch.delenv("MUTANT_UNDER_TEST")
    assert not mutation_suites.recorded_equivalent()


def test_every_recorded_mutant_says_why():
    entries = tomllib.loads(mutation_report.EQUIVALENTS.read_text()).get("mutant", [])
    assert entries, "tests/mutation_equivalents.toml records no mutant"
    for entry in entries:
        assert set(entry) <= {"name", "diff", "why", "killed_by"}, entry
        module = entry["name"].split(".")[1]
        assert re.fullmatch(r"resolvers\.\w+\.x[_ǁ]\w+__mutmut_\d+", entry["name"]) and module in mutation_suites.SUITES, entry
        assert re.fullmatch(r"[0-9a-f]{16}", entry["diff"]) and len(entry["why"]) > 20, entry
        if "killed_by" in entry:  # a test the SQLite run of the module's suites leaves out, that exists
            path, test = entry["killed_by"].split("::")
            assert test.endswith("[postgres]") or Path(path).name not in mutation_suites.SUITES[module], entry
            assert re.search(rf"def {re.escape(test.split('[')[0])}\(", (ROOT / path).read_text()), entry
    assert len({entry["name"] for entry in entries}) == len(entries)


def test_statements_are_built_once_except_under_mutation_testing(monkeypatch):
    calls = []

    def build():
        calls.append(1)
        return select(literal(len(calls)))

    first = built_once(build)
    assert built_once(build) is first and len(calls) == 1
    # Under mutmut every call builds again: a builder's mutant is what the tests run.
    assert statements.BUILD_EACH_TIME is bool(os.environ.get("MUTANT_UNDER_TEST"))
    monkeypatch.setattr(statements, "BUILD_EACH_TIME", True)
    assert built_once(build) is not built_once(build) and len(calls) == 3


def test_node_ids_name_their_file_and_test_function():
    assert mutation_suites.functions(["tests/api/test_a.py::test_x[sqlite]", "tests/api/test_a.py::test_y",
                                      "tests/api/test_b.py::test_x[postgres]"]) == {
        ("test_a.py", "test_x"), ("test_a.py", "test_y"), ("test_b.py", "test_x")}
    assert mutation_suites.functions(["tests/api/test_a.py::test_x", "tests/api/test_b.py"]) is None


MUTANT_SESSION = '''import pathlib

import pytest

def test_builds(): pass

def test_fails(): assert False

def test_after_the_failure(): pathlib.Path("ran").touch()

def _built(value):  # pytest calls it when it builds the test's items
    pathlib.Path("built").touch()
    return str(value)

@pytest.mark.parametrize("n", [1], ids=_built)
def test_not_named(n): pass
'''


def _mutant_session(tmp_path, *args) -> subprocess.CompletedProcess:
    """pytest with tests/conftest.py, as mutmut runs one mutant (a function no suite calls,
    so mutmut's tests stand), on the tests of MUTANT_SESSION it names."""
    (tmp_path / "test_session.py").write_text(MUTANT_SESSION)
    env = {**os.environ, "MUTANT_UNDER_TEST": "resolvers.stuck.x_nothing__mutmut_1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q",
                           "--rootdir", str(tmp_path), *args], cwd=tmp_path, env=env, capture_output=True, text=True)


def test_a_mutants_session_builds_only_its_tests_and_ends_at_the_first_failure(tmp_path):
    named = ["test_session.py::test_builds", "test_session.py::test_fails", "test_session.py::test_after_the_failure"]
    collected = _mutant_session(tmp_path, "--collect-only", *named)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert re.findall(r"test_session\.py::(\w+)", collected.stdout) == ["test_builds", "test_fails", "test_after_the_failure"]
    assert not (tmp_path / "built").exists()
    # No -x: the session stops at the failure itself, records the kill and exits 1 without a summary.
    ran = _mutant_session(tmp_path, *named)
    assert ran.returncode == 1 and "failed" not in ran.stdout, ran.stdout + ran.stderr
    assert (tmp_path / "kills" / "resolvers.stuck.x_nothing").read_text() == "test_session.py::test_fails\n"
    assert not (tmp_path / "ran").exists()
