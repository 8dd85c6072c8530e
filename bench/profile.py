"""py-spy on the Baton server during a board read run, summarised by function and by layer."""
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from bench.common import ROOT

LAYERS = [
    ("asyncpg (driver)", ("asyncpg",)),
    ("SQLAlchemy ORM/core", ("sqlalchemy",)),
    ("graphql-core (execution, validation)", ("graphql/",)),
    ("strawberry (types, resolvers glue)", ("strawberry",)),
    ("DataLoader", ("dataloader",)),
    ("uvicorn/h11/httptools (HTTP)", ("uvicorn", "h11", "httptools")),
    ("starlette", ("starlette",)),
    ("json encode/decode", ("json/",)),
    ("asyncio event loop", ("asyncio/",)),
    ("Baton code (resolvers/, schema/, db/, api/)", ("/resolvers/", "/schema/", "/db/", "/api/")),
]


def py_spy() -> str | None:
    exe = Path(ROOT / ".venv" / "bin" / "py-spy")
    return str(exe) if exe.exists() else shutil.which("py-spy")


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen | None:
    exe = py_spy()
    if not exe:
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
                             "--nonblocking", "--format", "raw", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def _frame_file(frame: str) -> str:
    # "func (path/file.py:123)"
    if "(" in frame:
        return frame.rsplit("(", 1)[1]
    return frame


def summarise(raw: Path, top: int = 15) -> dict:
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    total = sum(c for _, c in stacks) or 1
    idle = sum(c for frames, c in stacks if any(("select (selectors.py" in f or "epoll" in f or "_run_once" in f and frames[-1] == f) for f in frames[-2:]))
    self_time, inclusive, layer_self = Counter(), Counter(), Counter()
    for frames, c in stacks:
        leaf = frames[-1]
        self_time[_short(leaf)] += c
        for f in set(_short(f) for f in frames):
            inclusive[f] += c
        layer_self[_layer(frames)] += c
    pct = lambda c: round(100 * c / total, 1)  # noqa: E731
    return {
        "samples": total,
        "idle_pct": pct(idle),
        "by_layer_self_pct": {k: pct(v) for k, v in layer_self.most_common()},
        "top_self_pct": [(k, pct(v)) for k, v in self_time.most_common(top)],
        "top_inclusive_pct": [(k, pct(v)) for k, v in inclusive.most_common(top * 3) if _interesting(k)][:top],
    }


def _short(frame: str) -> str:
    name, _, rest = frame.partition(" (")
    path = rest.rstrip(")")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path.rsplit(':', 1)[0]})"


def _layer(frames: list[str]) -> str:
    # attribute a sample to the innermost frame that belongs to a known layer
    for f in reversed(frames):
        path = _frame_file(f)
        for layer, needles in LAYERS:
            if any(n in path for n in needles):
                return layer
    return "other (interpreter, C code)"


def _interesting(name: str) -> bool:
    return not any(s in name for s in ("asyncio/", "_run_once", "run (", "<module>", "run_forever", "_run (", "serve (", "main ("))
