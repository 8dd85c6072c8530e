"""Apollo Client (npm, pinned) against a real `baton serve`, with the cache set up exactly as
docs/api.md's "For client developers" says: after the viewer's move, after another user's
live events and after a resubscription with `after`, the cached board equals a fresh read,
and Apollo printed no warning."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from db.engine import Database
from tests.api.workflow_helpers import create
from tests.conftest import make_org
from tests.processes import Process

VERSIONS = {"@apollo/client": "4.3.8", "graphql": "16.15.0", "graphql-ws": "6.4.2", "ws": "8.23.0", "rxjs": "7.8.2"}
HERE = Path(__file__).resolve().parent / "apollo"
MODULES = HERE / ".npm"  # in .gitignore
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
CHECKS = {"afterOwnMove", "afterOwnMoveEvent", "afterOtherUsersEvents", "afterResume"}


def install(where: Path) -> Path:
    """The pinned packages, installed with npm when missing; the scripts copied to `where` beside a link
    to them (Node resolves imports from a script's folder)."""
    def installed(name):
        package = MODULES / "node_modules" / name / "package.json"
        return package.exists() and json.loads(package.read_text())["version"] == VERSIONS[name]

    if not all(installed(name) for name in VERSIONS):
        npm = shutil.which("npm")
        if not npm:
            pytest.fail("npm is needed for the Apollo Client test (make test installs it)")
        subprocess.run([npm, "install", "--prefix", str(MODULES), "--no-audit", "--no-fund", "--no-save",
                        *(f"{name}@{version}" for name, version in VERSIONS.items())],
                       check=True, capture_output=True, timeout=300)
    for script in HERE.glob("*.mjs"):
        shutil.copyfile(script, where / script.name)
    (where / "node_modules").symlink_to(MODULES / "node_modules", target_is_directory=True)
    return where / "apollo.mjs"


def docs_blocks() -> list[str]:
    section = DOCS.read_text().split("## For client developers", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```js\n(.*?)```", section, re.S)]


COLUMNS = "columns%s { id stage { key } totalCount }"
BOARD = "query($f: OpportunityFilter) { board(filter: $f) { %s } }"
MOVE = """mutation($i: MoveOpportunityInput!, $f: OpportunityFilter) { moveOpportunity(input: $i) {
  %s userErrors { code } } }"""


async def test_the_columns_a_client_refetches_carry_the_boards_ids(gql, org):
    card = await create(gql, tags=["x"])
    await create(gql, tags=["y"])
    flt = {"tags": ["x"]}
    before = {c["stage"]["key"]: c for c in (await gql.ok(BOARD % (COLUMNS % ""), {"f": flt}))["board"]["columns"]}
    moved = (await gql.ok(MOVE % (COLUMNS % "(filter: $f)"), {"f": flt, "i": {
        "id": card["id"], "version": card["version"], "stageKey": "qualified"}}))["moveOpportunity"]
    assert [(c["id"], c["stage"]["key"], c["totalCount"]) for c in moved["columns"]] == [
        (before["lead"]["id"], "lead", 0), (before["qualified"]["id"], "qualified", 1)]
    # Another filter, other ids; a refused move, no columns.
    stale = (await gql.ok(MOVE % (COLUMNS % "(filter: $f)"), {"f": {"tags": ["y"]}, "i": {
        "id": card["id"], "version": card["version"], "stageKey": "lead"}}))["moveOpportunity"]
    assert stale == {"columns": [], "userErrors": [{"code": "CONFLICT"}]}
    some = (await gql.ok(BOARD % (COLUMNS % '(stageKeys: ["qualified", "lead"])'), {"f": flt}))["board"]["columns"]
    assert [(c["id"], c["totalCount"]) for c in some] == [(before["lead"]["id"], 0), (before["qualified"]["id"], 1)]


def test_the_docs_quote_the_type_policies_and_the_recipe_the_test_runs():
    blocks = docs_blocks()
    assert (HERE / "type_policies.mjs").read_text().strip() in blocks
    assert (HERE / "recipe.mjs").read_text().strip() in blocks


async def test_apollo_cache_equals_a_fresh_board_after_moves_and_live_events(tmp_path, sqlite_url):
    script = install(tmp_path)
    server = await Process({"BATON_DATABASE_URL": sqlite_url, "BATON_BROADCAST_URL": "memory://"}, tmp_path, "apollo").start()
    try:
        await server.ready()
        database = Database(sqlite_url)
        try:
            org = await make_org(database)
        finally:
            await database.dispose()
        env = {**os.environ, "BATON_TOKEN": org.tokens["sales_member"], "BATON_OTHER_TOKEN": org.tokens["sales_manager"]}
        run = subprocess.run(["node", "--conditions=development", str(script), f"http://127.0.0.1:{server.port}/graphql"],
                             capture_output=True, text=True, timeout=60, env=env)
    finally:
        await server.stop()
    assert run.stdout, run.stderr
    report = json.loads(run.stdout.splitlines()[-1])
    assert "error" not in report, report["error"]
    assert report["warnings"] == []
    assert report["checks"] == dict.fromkeys(CHECKS, True), report["diffs"]
    assert report["canaryWarned"]  # without the type policies Apollo does warn: the capture works
    assert report["moveUserErrors"] == [] and report["otherUserErrors"] == [] and report["backUserErrors"] == []
    assert report["moveColumns"] == ["lead", "qualified"]  # the payload's columns: left, entered
    assert report["cardAfterOwnMove"] == "qualified"
    assert report["gammaAfterOtherUser"] == {"column": "qualified", "amount": "250.00"}
    assert report["gammaAfterResume"] == "lead"
    assert report["resumedFrom"]["firstSeq"] == report["resumedFrom"]["lastSeq"] + 1  # no gap after resubscribing
    assert {"OPPORTUNITY_MOVED", "OPPORTUNITY_UPDATED"} <= set(report["appliedTypes"])
    assert dict(report["initial"])["lead"] == 3  # "Outside" is not under the filter
    assert run.returncode == 0
