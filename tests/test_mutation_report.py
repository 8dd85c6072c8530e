"""`python -m tests.mutation_report` reads mutmut's results and mutated files as mutmut writes
them (each mutant a function beside the original) and tells message mutants from the others."""
import json

from tests import mutation_report

MUTATED = '''
def x_check__mutmut_orig(value):
    if value > 3:
        fail("TOO_BIG", "The value is too big", field="value")
    return value
def x_check__mutmut_1(value):
    if value > 3:
        fail("TOO_BIG", "XXThe value is too bigXX", field="value")
    return value
def x_check__mutmut_2(value):
    if value > 3:
        fail("TOO_BIG", "The value is too big", field="XXvalueXX")
    return value
def x_check__mutmut_3(value):
    if value >= 3:
        fail("TOO_BIG", "The value is too big", field="value")
    return value
class Flow:
    def xǁFlowǁopen__mutmut_orig(self, step):
        """Open steps, in order."""
        return [s for s in step if s.status == "PENDING"]
    def xǁFlowǁopen__mutmut_1(self, step):
        """Open steps, in order."""
        return [s for s in step if s.status != "PENDING"]
'''


def _pair(name):
    return mutation_report.original_and_mutant(mutation_report.functions(MUTATED), name)


def test_a_mutant_is_compared_with_its_original_under_one_name():
    original, mutant = _pair("x_check__mutmut_3")
    assert original[0] == mutant[0] == "def x_check(value):"
    assert mutation_report.diff(original, mutant).splitlines()[2:] == [
        "@@ -1,3 +1,3 @@", " def x_check(value):", "-    if value > 3:", "+    if value >= 3:",
        '         fail("TOO_BIG", "The value is too big", field="value")']
    original, mutant = _pair("xǁFlowǁopen__mutmut_1")  # a method, indented in its class
    assert original[0].strip() == mutant[0].strip() == "def xǁFlowǁopen(self, step):"


def test_only_prose_in_a_string_is_a_message():
    assert mutation_report.is_message(*_pair("x_check__mutmut_1"))
    assert not mutation_report.is_message(*_pair("x_check__mutmut_2"))  # a field name: a rule
    assert not mutation_report.is_message(*_pair("x_check__mutmut_3"))
    assert not mutation_report.is_message(*_pair("xǁFlowǁopen__mutmut_1"))


def _results(tmp_path, monkeypatch, exit_codes: list[int], durations=(0.5, 2.5, 0.25, 0.75)) -> None:
    """A run's results as mutmut leaves them, for MUTATED's four mutants in order."""
    (tmp_path / "mutants" / "resolvers").mkdir(parents=True)
    (tmp_path / "mutants" / "resolvers" / "rules.py").write_text(MUTATED)
    names = [f"resolvers.rules.{name}" for name in ("x_check__mutmut_1", "x_check__mutmut_2", "x_check__mutmut_3", "xǁFlowǁopen__mutmut_1")]
    (tmp_path / "mutants" / "resolvers" / "rules.py.meta").write_text(json.dumps({
        "exit_code_by_key": dict(zip(names, exit_codes, strict=True)), "durations_by_key": dict(zip(names, durations))}))
    monkeypatch.chdir(tmp_path)


def test_the_table_counts_messages_apart_and_lists_survivors(tmp_path, monkeypatch, capsys):
    _results(tmp_path, monkeypatch, [0, 0, 1, 1])

    assert mutation_report.main(["--survivors"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["rules", "4", "1", "3", "0", "2", "66.7%"]
    assert "1 non-message mutants not killed:" in out
    assert "# resolvers.rules.x_check__mutmut_2: survived, 2.5 s" in out
    # Where the run's time went: a survivor runs every test it has, a killed mutant stops at the first failure.
    assert "mutant time (both children together): 4.0 s; killed 2 mutants 1.0 s (0.50 s each), message 1 mutants 0.5 s " \
        "(0.50 s each), not killed 1 mutants 2.5 s (2.50 s each)" in out
    assert '+        fail("TOO_BIG", "The value is too big", field="XXvalueXX")' in out


def test_a_function_is_read_alone_as_the_whole_file_reads_it():
    lines, found = MUTATED.splitlines(), mutation_report.functions(MUTATED)
    assert found and all(mutation_report.function_lines(lines, name) == body for name, body in found.items())
    assert mutation_report.function_lines(lines, "x_check__mutmut_9") is None


def _report(tmp_path, monkeypatch, capsys, records: str) -> list[str]:
    """The report's lines with `records` as tests/mutation_equivalents.toml."""
    path = tmp_path / "equivalents.toml"
    path.write_text(records)
    monkeypatch.setattr(mutation_report, "EQUIVALENTS", path)
    assert mutation_report.main([]) == 0
    return capsys.readouterr().out.splitlines()


def test_recorded_mutants_are_counted_apart_from_the_survivors(tmp_path, monkeypatch, capsys):
    _results(tmp_path, monkeypatch, [0, 34, 0, 34])
    out = _report(tmp_path, monkeypatch, capsys,
                  '[[mutant]]\nname = "resolvers.rules.x_check__mutmut_2"\ndiff = "d"\nwhy = "w"\n'
                  '[[mutant]]\nname = "resolvers.rules.xǁFlowǁopen__mutmut_1"\ndiff = "d"\nwhy = "w"\nkilled_by = "t[postgres]"\n')
    # 3 others: 1 equivalent (out of the rate), 1 killed on PostgreSQL only, 1 survivor.
    assert out[1].split() == ["rules", "4", "1", "3", "1", "1", "50.0%"]
    assert "1 non-message mutants not killed (--survivors shows them)" in out


def test_a_survivor_recorded_after_its_run_counts_as_recorded_while_it_matches(tmp_path, monkeypatch, capsys):
    _results(tmp_path, monkeypatch, [1, 0, 0, 1])  # x_check 2 and 3 survived
    judged = mutation_report.digest(*_pair("x_check__mutmut_3"))
    out = _report(tmp_path, monkeypatch, capsys,
                  f'[[mutant]]\nname = "resolvers.rules.x_check__mutmut_3"\ndiff = "{judged}"\nwhy = "w"\n'
                  '[[mutant]]\nname = "resolvers.rules.x_check__mutmut_2"\ndiff = "0000000000000000"\nwhy = "w"\n')
    # x_check 3 is what was judged: equivalent. x_check 2's record is of another mutant: a survivor, listed as changed.
    assert out[1].split() == ["rules", "4", "1", "3", "1", "1", "50.0%"]
    assert "1 non-message mutants not killed (--survivors shows them)" in out
    assert any(line.endswith("resolvers.rules.x_check__mutmut_2") and "changed" in line for line in out)
