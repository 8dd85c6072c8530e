"""The board's reconnect back-off (web/js/util.js): exponential, capped, fully jittered,
so boards reconnecting after a deploy spread out instead of arriving together."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

UTIL = Path(__file__).resolve().parents[2] / "web" / "js" / "util.js"


def test_backoff_grows_spreads_and_caps():
    node = shutil.which("node")
    if not node:
        pytest.fail("node is needed (make test installs npm, which brings it)")
    script = f"""
      const {{ backoff }} = await import({json.dumps(UTIL.as_uri())});
      const sample = (n) => Array.from({{ length: 4000 }}, () => backoff(n));
      const out = {{}};
      for (const n of [0, 3, 6, 20]) {{ const xs = sample(n); out[n] = [Math.min(...xs), Math.max(...xs), new Set(xs.map(Math.round)).size]; }}
      console.log(JSON.stringify(out));
    """
    run = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30, check=True)
    found = {int(k): v for k, v in json.loads(run.stdout).items()}
    assert 0 <= found[0][0] and found[0][1] <= 500  # first retry within half a second
    assert 3000 < found[3][1] <= 4000  # 500 × 2³, spread over the whole range
    assert found[6][1] <= 30000 and found[20][1] <= 30000  # capped
    assert found[20][2] > 1000  # jittered: thousands of distinct waits, not one instant
