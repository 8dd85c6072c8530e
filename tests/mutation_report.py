"""Kill rate per rules module from the last `mutmut run` (`make mutation`, docs/testing.md).

Reads mutants/<module>.py.meta and counts the mutants that were run. A *message*
mutant only rewrites prose inside a string literal (a user error's or a log line's
words); those are counted apart, and the kill rate is that of the other mutants.
`--survivors` prints the diff of every surviving non-message mutant.

    python -m tests.mutation_report [--survivors]
"""
import io
import json
import sys
import tokenize
from pathlib import Path

KILLED = {1, 3, 24, -24, 152, 255, 36}  # a failing test, pytest's internal error, a timeout
STATUS = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", -11: "segfault", -9: "segfault"}


def _tokens(lines: list[str]) -> list[tuple[int, str]]:
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
            if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT):
                out.append((tok.type, tok.string))
    except (tokenize.TokenError, IndentationError):
        pass  # a diff hunk may end inside brackets: the tokens so far are enough
    return out


def is_message(diff: str) -> bool:
    """True when the mutant changes only the text of string literals holding prose."""
    lines = [line for line in diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
    old = _tokens([line[1:] for line in lines if line[:1] in ("-", " ")])
    new = _tokens([line[1:] for line in lines if line[:1] in ("+", " ")])
    if len(old) != len(new):
        return False
    changed = [(a, b) for a, b in zip(old, new) if a != b]
    return bool(changed) and all(
        a[0] == b[0] == tokenize.STRING and " " in a[1] for a, b in changed
    )


def main(argv: list[str]) -> int:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    show = "--survivors" in argv
    rows, survivors = [], []
    for meta in sorted(Path("mutants").glob("resolvers/*.py.meta")):
        source = Path(str(meta.relative_to("mutants"))[: -len(".meta")])
        codes = {k: v for k, v in json.loads(meta.read_text())["exit_code_by_key"].items() if v is not None}
        if not codes:
            continue
        counts = {"messages": 0, "killed": 0, "other": 0}
        for name, code in sorted(codes.items()):
            diff = get_diff_for_mutant(name, path=source)
            if is_message(diff):
                counts["messages"] += 1
            elif code in KILLED:
                counts["killed"] += 1
            else:
                counts["other"] += 1
                survivors.append((name, STATUS.get(code, f"exit {code}"), diff))
        run = counts["killed"] + counts["other"]
        rows.append((source.stem, len(codes), counts["messages"], run, counts["killed"], 100 * counts["killed"] / run if run else 100.0))

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
        for name, status, diff in survivors:
            print(f"\n# {name}: {status}\n{diff}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
