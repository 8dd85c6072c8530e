"""The published API contract (docs/contract.graphql) and the check that keeps it.

`python -m tests.contract OTHER.graphql` compares the in-repository copy with another
copy of the contract (CI passes the workspace's published one when it exists) and
exits 1 when either has something the other lacks or types differently."""
import sys
from pathlib import Path

from graphql import build_schema, find_breaking_changes

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "docs" / "contract.graphql"


def breaking_changes(old_sdl: str, new_sdl: str) -> list[str]:
    """What `new_sdl` removes or retypes from `old_sdl` (additions are fine)."""
    changes = find_breaking_changes(build_schema(old_sdl), build_schema(new_sdl))
    return [f"{c.type.name}: {c.description}" for c in changes]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ours, theirs = CONTRACT.read_text(), Path(argv[1]).read_text()
    problems = [f"{argv[1]} lacks: {c}" for c in breaking_changes(ours, theirs)]
    problems += [f"{CONTRACT.name} lacks: {c}" for c in breaking_changes(theirs, ours)]
    for line in problems:
        print(line)
    print(f"{len(problems)} differences between {CONTRACT.name} and {argv[1]}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
