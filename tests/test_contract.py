"""The served schema keeps the published contract (docs/contract.graphql)."""
import subprocess
import sys

from schema import schema
from tests.contract import CONTRACT, ROOT, breaking_changes


def test_served_schema_keeps_the_contract():
    assert breaking_changes(CONTRACT.read_text(), schema.as_str()) == []


def test_check_catches_a_removed_field():
    # Guards the guard: dropping a contract field must be reported.
    contract = CONTRACT.read_text()
    broken = contract.replace("  nextStep: String\n  lostReason: String\n", "  lostReason: String\n", 1)
    assert broken != contract
    assert any("nextStep" in c for c in breaking_changes(contract, broken))


def test_check_catches_a_retyped_argument():
    contract = CONTRACT.read_text()
    broken = contract.replace("node(id: ID!): Node", "node(id: String!): Node", 1)
    assert broken != contract
    assert any("Query.node" in c for c in breaking_changes(contract, broken))


def test_copies_compare_both_ways(tmp_path):
    # The CI check of the copy against the workspace's published contract.
    same = tmp_path / "same.graphql"
    same.write_text(CONTRACT.read_text())
    ok = subprocess.run([sys.executable, "-m", "tests.contract", str(same)], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    grown = tmp_path / "grown.graphql"
    grown.write_text(CONTRACT.read_text() + "\ntype Extra { id: ID! }\n")
    # A published contract that has grown past the copy is a difference too: the copy is stale.
    stale = subprocess.run([sys.executable, "-m", "tests.contract", str(grown)], capture_output=True, text=True, cwd=ROOT)
    assert stale.returncode == 1
    assert "contract.graphql lacks" in stale.stdout


def test_baton_schema_command_prints_sdl():
    result = subprocess.run([sys.executable, "-m", "api.cli", "schema"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "type Opportunity implements Node" in result.stdout
