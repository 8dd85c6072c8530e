"""Kill rate per rules module from the last `mutmut run` (`make mutation`, docs/testing.md).

Reads mutants/<module>.py.meta for the results and mutants/<module>.py, where mutmut
keeps each mutant beside the original as a function of its own, for what each changed.
A *message* mutant only rewrites prose inside string literals (a user error's or a log
line's words); those are counted apart, and the kill rate is that of the other mutants.
`--survivors` prints the diff of every surviving non-message mutant.

    python -m tests.mutation_report [--survivors]
"""
import ast
import difflib
import io
import json
import sys
import textwrap
import tokenize
from pathlib import Path

KILLED = {1, 3, 24, -24, 152, 255, 36}  # a failing test, pytest's internal error, a timeout
STATUS = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", -11: "segfault", -9: "segfault"}


def functions(source: str) -> dict[str, list[str]]:
    """Every function of a mutated file (module level and in classes) -> its lines."""
    lines = source.splitlines()
    found = {}
    for node in ast.parse(source).body:
        for inner in [node, *(node.body if isinstance(node, ast.ClassDef) else [])]:
            if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[inner.name] = lines[inner.lineno - 1:inner.end_lineno]
    return found


def original_and_mutant(found: dict[str, list[str]], mutant: str) -> tuple[list[str], list[str]]:
    """The original function and the mutant ('x_clean__mutmut_3'), both under the original's name."""
    name = mutant.rsplit("__mutmut_", 1)[0]
    original = found[f"{name}__mutmut_orig"]
    return ([original[0].replace(f"{name}__mutmut_orig", name, 1), *original[1:]],
            [found[mutant][0].replace(mutant, name, 1), *found[mutant][1:]])


def _tokens(lines: list[str]) -> list[tuple[int, str]]:
    skip = (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT)
    readline = io.StringIO(textwrap.dedent("\n".join(lines)) + "\n").readline
    try:
        return [(t.type, t.string) for t in tokenize.generate_tokens(readline) if t.type not in skip]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []


def is_message(original: list[str], mutant: list[str]) -> bool:
    """True when the mutant changes only the text of string literals holding prose."""
    old, new = _tokens(original), _tokens(mutant)
    if len(old) != len(new):
        return False
    changed = [(a, b) for a, b in zip(old, new) if a != b]
    return bool(changed) and all(a[0] == b[0] == tokenize.STRING and " " in a[1] for a, b in changed)


def diff(original: list[str], mutant: list[str]) -> str:
    return "\n".join(difflib.unified_diff(original, mutant, "original", "mutant", lineterm="", n=1))


def main(argv: list[str]) -> int:
    show = "--survivors" in argv
    rows, survivors = [], []
    for meta in sorted(Path("mutants").glob("resolvers/*.py.meta")):
        codes = {k: v for k, v in json.loads(meta.read_text())["exit_code_by_key"].items() if v is not None}
        if not codes:
            continue
        found = functions(meta.with_suffix("").read_text())
        counts = {"messages": 0, "killed": 0, "other": 0}
        for name, code in sorted(codes.items()):
            original, mutant = original_and_mutant(found, name.rsplit(".", 1)[1])
            if is_message(original, mutant):
                counts["messages"] += 1
            elif code in KILLED:
                counts["killed"] += 1
            else:
                counts["other"] += 1
                survivors.append((name, STATUS.get(code, f"exit {code}"), diff(original, mutant)))
        run = counts["killed"] + counts["other"]
        rows.append((meta.name.split(".")[0], len(codes), counts["messages"], run, counts["killed"],
                     100 * counts["killed"] / run if run else 100.0))

    if not rows:
        print("No mutation results: run `make mutation` first.")
        return 1
    print(f"{'module':<16}{'mutants':>8}{'message':>9}{'others':>8}{'killed':>8}{'kill rate':>11}")
    for module, total, messages, run, killed, rate in rows:
        print(f"{module:<16}{total:>8}{messages:>9}{run:>8}{killed:>8}{rate:>10.1f}%")
    run = sum(r[3] for r in rows)
    killed = sum(r[4] for r in rows)
    print(f"{'all':<16}{sum(r[1] for r in rows):>8}{sum(r[2] for r in rows):>9}{run:>8}{killed:>8}{100 * killed / max(run, 1):>10.1f}%")
    print(f"\n{len(survivors)} non-message mutants not killed" + (":" if survivors and show else " (--survivors shows them)"))
    if show:
        for name, status, text in survivors:
            print(f"\n# {name}: {status}\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
