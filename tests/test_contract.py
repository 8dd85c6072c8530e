"""The served schema keeps the public contract (../shared/CONTRACT.graphql)."""
import subprocess
import sys
from pathlib import Path

from graphql import build_schema, find_breaking_changes

from schema import schema

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT.parent / "shared" / "CONTRACT.graphql"
CHECKER = ROOT.parent / "shared" / "tools" / "check_contract.py"


def test_schema_has_no_breaking_change_against_contract(tmp_path):
    served = tmp_path / "served.graphql"
    served.write_text(schema.as_str())
    result = subprocess.run([sys.executable, str(CHECKER), str(served)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 breaking differences" in result.stdout


def test_checker_would_catch_a_removed_field():
    # Guards the guard: dropping a contract field must be reported.
    contract = CONTRACT.read_text()
    broken = contract.replace("  nextStep: String\n  lostReason: String\n", "  lostReason: String\n", 1)
    assert broken != contract
    changes = find_breaking_changes(build_schema(contract), build_schema(broken))
    assert any("nextStep" in c.description for c in changes)


def test_baton_schema_command_prints_sdl():
    result = subprocess.run([sys.executable, "-m", "api.cli", "schema"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "type Opportunity implements Node" in result.stdout
