"""axe-core in the browser tests: installed from npm at a pinned version, run in the page.

The script is evaluated through the DevTools protocol (Playwright's `evaluate`), which the
page's content security policy does not govern, so the board keeps its CSP unchanged.
"""
import json
import shutil
import subprocess
from pathlib import Path

AXE_VERSION = "4.14.1"
AXE_DIR = Path(__file__).resolve().parent / ".axe"  # in .gitignore
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
FAILING = ("serious", "critical")


def install() -> Path:
    """axe.min.js at AXE_VERSION, installing it with npm when missing (a fresh CI machine)."""
    package = AXE_JS.parent / "package.json"
    if AXE_JS.exists() and json.loads(package.read_text())["version"] == AXE_VERSION:
        return AXE_JS
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError(f"npm is needed to install axe-core {AXE_VERSION} into {AXE_DIR}")
    subprocess.run([npm, "install", "--prefix", str(AXE_DIR), "--no-audit", "--no-fund", "--no-save", f"axe-core@{AXE_VERSION}"],
                   check=True, capture_output=True, timeout=300)
    return AXE_JS


async def audit(page, source: str) -> list[dict]:
    """axe's violations on the page as it is now (all rules but the experimental ones)."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(source)
    result = await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    return result["violations"]


def describe(found: dict[str, list[dict]], impacts=FAILING) -> str:
    """One line per state, rule and element: what a failing assertion prints."""
    lines = []
    for state, violations in found.items():
        for v in violations:
            if v["impact"] in impacts:
                for node in v["nodes"]:
                    lines.append(f"{state}: {v['id']} ({v['impact']}) {' '.join(map(str, node['target']))}: {node['failureSummary'].splitlines()[-1].strip()}")
    return "\n".join(lines)


def count_by_impact(found: dict[str, list[dict]]) -> dict[str, int]:
    """Distinct failing elements by impact, over all states (an element failing in two states counts once)."""
    seen = {}
    for violations in found.values():
        for v in violations:
            for node in v["nodes"]:
                seen[(v["id"], json.dumps(node["target"]))] = v["impact"]
    counts = {}
    for impact in seen.values():
        counts[impact] = counts.get(impact, 0) + 1
    return counts
