"""Browser fixtures: a real `baton serve --demo` subprocess and Debian's Chromium.

Each test gets its own server (temp dir, SQLite file, free port); `shared_baton` is
one server for a whole module, for tests that only read or whose changes do not
meet. The server can be stopped and started again on the same port with the same
database file.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("BATON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
PASSWORD = "baton-demo"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
LIVE_TIMEOUT = 30_000  # ms a live change may take to reach another board (CI machines are slow at times)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BatonServer:
    def __init__(self, workdir: Path, port: int, args: tuple[str, ...] = ()):
        self.workdir = workdir
        self.port = port
        self.args = list(args)  # more `baton serve` arguments, e.g. ("--locale", "zh-CN") for the Chinese demo
        self.proc = None
        self.base = f"http://127.0.0.1:{port}"
        self.log = workdir / "server.log"

    def start(self, port: int | None = None) -> "BatonServer":
        port = port or self.port
        # The repo on the path so `python -m api.cli` finds the packages from the temp dir.
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        env.pop("BATON_DATABASE_URL", None)
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--demo", "--port", str(port), *self.args],
                cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90  # migrations and the demo's seeding take a while on a busy machine
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"baton serve exited with {proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            proc.terminate()
            raise RuntimeError(f"baton serve did not become healthy:\n{self.log.read_text()[-3000:]}")
        if port == self.port:
            self.proc = proc
        return proc

    def stop(self, proc=None):
        proc = proc or self.proc
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is self.proc:
            self.proc = None

    # -- GraphQL over HTTP, for setting up and for acting "behind the browser's back"
    def token(self, email: str, base: str | None = None) -> str:
        data = self.gql(
            "mutation($i: LoginInput!){ login(input: $i){ token userErrors{ message } } }",
            {"i": {"email": email, "password": PASSWORD}}, base=base,
        )
        return data["login"]["token"]

    def gql(self, query: str, variables=None, token: str | None = None, base: str | None = None) -> dict:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        r = httpx.post(f"{base or self.base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=10)
        body = r.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def card_id(self, title: str, token: str) -> dict:
        data = self.gql(
            "query($s: String){ opportunities(filter: {search: $s}, first: 5){ edges{ node{ id title version stage{ key } } } } }",
            {"s": title}, token=token,
        )
        return next(e["node"] for e in data["opportunities"]["edges"] if e["node"]["title"] == title)


@contextmanager
def running_server(*args: str):
    with tempfile.TemporaryDirectory(prefix="baton-browser-") as tmp:
        server = BatonServer(Path(tmp), free_port(), args)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def baton():
    with running_server() as server:
        yield server


@pytest.fixture(scope="module")
def shared_baton():
    with running_server() as server:
        yield server


@pytest.fixture(scope="session")
def axe_source() -> str:
    from tests.browser import axe
    return axe.install().read_text()


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


async def shoot(page, name: str) -> None:
    """A screenshot to look at, test-artifacts/<name>.png, once animations have settled."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.wait_for_timeout(300)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def open_board(browser, server: BatonServer, *, viewport=None):
    """A fresh context on the sign-in page; page.errors collects uncaught page errors."""
    context = await browser.new_context(viewport=viewport or {"width": 1440, "height": 900})
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.goto(server.base + "/")
    return page


async def sign_in(browser, server: BatonServer, who: str, *, viewport=None, route: str | None = None):
    """A fresh context signed in as <who>@demo.baton through the login form; returns the page."""
    page = await open_board(browser, server, viewport=viewport)
    await page.get_by_test_id("login-email").fill(f"{who}@demo.baton")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.locator(".topbar").wait_for()
    if route:
        await page.goto(f"{server.base}/#/{route}")
    return page
