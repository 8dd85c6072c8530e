"""Kill rate per rules module from the last `mutmut run` (`make mutation`, docs/testing.md).

Reads mutants/<module>.py.meta for the results and mutants/<module>.py, where mutmut
keeps each mutant beside the original as a function of its own, for what each changed.
A *message* mutant only rewrites prose inside string literals (a user error's or a log
line's words); those are counted apart, and the kill rate is that of the other mutants.
`--survivors` prints the diff of every surviving non-message mutant.

A mutant judged equivalent is recorded in tests/mutation_equivalents.toml with why, and
with a digest of its diff: while the mutated function and the mutant are what was judged,
`make mutation` does not run it again (mutmut's "skipped", exit code 34) and it is counted
as equivalent here; once either changes it runs, and shows up to be judged anew.
`--record NAME WHY` adds a surviving mutant to the file; with `--killed-by TEST`, one that
only a test outside the run kills: a PostgreSQL test (the run is SQLite) or one outside
the module's suites (counted as killed).

    python -m tests.mutation_report [--survivors] [--record NAME WHY [--killed-by TEST]]
"""
import ast
import contextlib
import difflib
import hashlib
import io
import json
import sys
import textwrap
import tokenize
import tomllib
from pathlib import Path

KILLED = {1, 3, 24, -24, 152, 255, 36}  # a failing test, pytest's internal error, a timeout
RECORDED = 34  # mutmut's "skipped": a recorded equivalent (tests/conftest.py ends its session with it)
STATUS = {0: "survived", 5: "no tests", 33: "no tests", -11: "segfault", -9: "segfault"}
EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.toml")


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


def digest(original: list[str], mutant: list[str]) -> str:
    """What a recorded equivalent was judged on: the original function and the mutant."""
    return hashlib.sha256("\n".join([*original, "\0", *mutant]).encode()).hexdigest()[:16]


def recorded() -> dict[str, dict]:
    """Mutant name -> {"diff": digest, "why": reason} from tests/mutation_equivalents.toml."""
    return {entry["name"]: entry for entry in tomllib.loads(EQUIVALENTS.read_text()).get("mutant", [])}


def mutated_file(mutant: str) -> Path:
    """Where mutmut keeps 'resolvers.gates.x_f__mutmut_3' (relative to mutants/)."""
    return Path(*mutant.split(".")[:-1]).with_suffix(".py")


def function_lines(lines: list[str], name: str) -> list[str] | None:
    """The lines of function `name` in a mutated file, as `functions` finds them, without
    parsing the whole file (a mutant's test session checks its record before any test)."""
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith((f"def {name}(", f"async def {name}(")):
            indent = len(line) - len(stripped)
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip()
                        and len(lines[j]) - len(lines[j].lstrip()) <= indent), len(lines))
            node = ast.parse(textwrap.dedent("\n".join(lines[i:end]))).body[0]
            return lines[i:i + node.end_lineno]
    return None


def current_digest(mutant: str) -> str | None:
    """The digest of the mutant as mutmut generated it now (run from mutants/); None if gone."""
    path = mutated_file(mutant)
    if not path.is_file():
        return None
    lines = path.read_text().splitlines()
    function = mutant.rsplit(".", 1)[1]
    name = function.rsplit("__mutmut_", 1)[0]
    found = {key: function_lines(lines, key) for key in (function, f"{name}__mutmut_orig")}
    if None in found.values():
        return None
    return digest(*original_and_mutant(found, function))


def record(name: str, why: str, killed_by: str | None = None) -> None:
    """Append a judged mutant to tests/mutation_equivalents.toml (run from the project root)."""
    with contextlib.chdir("mutants"):
        judged = current_digest(name)
    if judged is None:
        raise SystemExit(f"{name}: no such mutant in mutants/")
    entry = f'\n[[mutant]]\nname = "{name}"\ndiff = "{judged}"\nwhy = {json.dumps(why, ensure_ascii=False)}\n'
    if killed_by:
        entry += f"killed_by = {json.dumps(killed_by)}\n"
    with EQUIVALENTS.open("a") as out:
        out.write(entry)


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
    if argv[:1] == ["--record"] and len(argv) in (3, 5) and argv[3:4] in ([], ["--killed-by"]):
        record(argv[1], argv[2], *argv[4:])
        return 0
    show = "--survivors" in argv
    equivalents = recorded()
    rows, survivors, stale = [], [], []
    seconds = {verdict: [0, 0.0] for verdict in ("killed", "message", "not killed", "recorded, not run")}  # mutants, their time
    for meta in sorted(Path("mutants").glob("resolvers/*.py.meta")):
        results = json.loads(meta.read_text())
        codes = {k: v for k, v in results["exit_code_by_key"].items() if v is not None}
        durations = results.get("durations_by_key") or {}
        if not codes:
            continue
        found = functions(meta.with_suffix("").read_text())
        counts = {"messages": 0, "killed": 0, "equivalent": 0, "other": 0}
        for name, code in sorted(codes.items()):
            original, mutant = original_and_mutant(found, name.rsplit(".", 1)[1])
            took = durations.get(name) or 0.0
            spent = "message" if is_message(original, mutant) else "killed" if code in KILLED else \
                "recorded, not run" if code == RECORDED else "not killed"
            seconds[spent][0] += 1
            seconds[spent][1] += took
            if spent in ("message", "killed"):
                counts["messages" if spent == "message" else "killed"] += 1
            elif code == RECORDED or name in equivalents and equivalents[name]["diff"] == digest(original, mutant):
                # Killed only outside the run (`killed_by`), or equivalent; or recorded after it ran.
                counts["killed" if equivalents.get(name, {}).get("killed_by") else "equivalent"] += 1
            else:
                counts["other"] += 1
                survivors.append((name, f"{STATUS.get(code, f'exit {code}')}, {took:.1f} s", diff(original, mutant)))
            if name in equivalents and code != RECORDED and equivalents[name]["diff"] != digest(original, mutant):
                stale.append(name)
        judged = counts["killed"] + counts["other"]
        rows.append((meta.name.split(".")[0], len(codes), counts["messages"], judged + counts["equivalent"],
                     counts["equivalent"], counts["killed"], 100 * counts["killed"] / judged if judged else 100.0))

    if not rows:
        print("No mutation results: run `make mutation` first.")
        return 1
    print(f"{'module':<16}{'mutants':>8}{'message':>9}{'others':>8}{'equivalent':>12}{'killed':>8}{'kill rate':>11}")
    for module, total, messages, others, equivalent, killed, rate in rows:
        print(f"{module:<16}{total:>8}{messages:>9}{others:>8}{equivalent:>12}{killed:>8}{rate:>10.1f}%")
    others, equivalent, killed = (sum(r[i] for r in rows) for i in (3, 4, 5))
    print(f"{'all':<16}{sum(r[1] for r in rows):>8}{sum(r[2] for r in rows):>9}{others:>8}{equivalent:>12}{killed:>8}"
          f"{100 * killed / max(others - equivalent, 1):>10.1f}%")
    print("\nkill rate: killed / (others - equivalent); recorded in tests/mutation_equivalents.toml and not run: the equivalents, and those killed only outside the run (counted killed)")
    total = sum(t for _, t in seconds.values())
    print(f"\nmutant time (both children together): {total:,.1f} s; " + ", ".join(
        f"{verdict} {n:,} mutants {t:,.1f} s ({t / n:.2f} s each)" for verdict, (n, t) in seconds.items() if n))
    if stale:
        print(f"\n{len(stale)} recorded equivalents changed since they were judged (they ran again): " + ", ".join(stale))
    print(f"\n{len(survivors)} non-message mutants not killed" + (":" if survivors and show else " (--survivors shows them)"))
    if show:
        for name, status, text in survivors:
            print(f"\n# {name}: {status}\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
