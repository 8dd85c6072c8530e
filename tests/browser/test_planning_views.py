"""Planning on the board (issue 18): the Pool view (公海) with claims and releases, the targets
strip kept live, the analytics department breakdown, and why a card is stuck with the
stuckForHours filter. One demo server for the module; each test touches its own deals.
Screenshots of the new views go to /tmp/shots/."""
import datetime
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.conftest import LIVE_TIMEOUT, PHONE

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
DESKTOP = {"width": 1280, "height": 800}
RELEASE = "mutation($i: ReleaseOpportunityInput!){ releaseOpportunity(input: $i){ opportunity{ inPool } userErrors{ message } } }"
CARD = "query($id: ID!){ node(id: $id){ ... on Opportunity { version inPool owner{ name } poolDepartment{ key } stuckReason } } }"
SET_TARGET = "mutation($i: SetTargetInput!){ setTarget(input: $i){ target{ scope } userErrors{ message } } }"
TARGETS = "query($p: String!){ targets(period: $p){ scope owner{ name } department{ key } wonAmount wonAttainment newQualifiedCount } }"
CHECK = "mutation($i: CheckDeliverableInput!){ checkDeliverable(input: $i){ userErrors{ message } } }"
MOVE = "mutation($i: MoveOpportunityInput!){ moveOpportunity(input: $i){ opportunity{ stage{ key } } userErrors{ message } } }"
CATEGORY = "query($id: ID!){ node(id: $id){ ... on Opportunity { forecastCategory } } }"
LOCALE = "mutation($l: String!){ setMyLocale(input: {locale: $l}){ userErrors{ message } } }"
CREATE = "mutation($i: CreateOpportunityInput!){ createOpportunity(input: $i){ userErrors{ message } } }"
STUCK = """query($f: OpportunityFilter){ board(filter: $f){ columns{ opportunities(first: 200){ edges{ node{ title stuckReason } } } } } }"""


TOKENS: dict[tuple[str, str], str] = {}


def token(server, who: str) -> str:
    """One sign-in per person for the module: sign-ins are rate limited per email."""
    key = (server.base, who)
    if key not in TOKENS:
        TOKENS[key] = server.token(f"{who}@demo.baton")
    return TOKENS[key]


async def sign_in(browser, server, who: str, *, viewport, route: str):
    """A fresh context already signed in as <who> (the session token where the board keeps it)."""
    context = await browser.new_context(viewport=viewport)
    await context.add_init_script(f"sessionStorage.setItem('baton.token', {token(server, who)!r})")
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.goto(f"{server.base}/#/{route}")
    await page.locator(".topbar").wait_for()
    return page


def card(page, title: str):
    return page.locator('[data-testid="card"]', has=page.locator(".card-title", has_text=title))


def pool_item(page, title: str):
    return page.locator(f'[data-testid="pool-item"][data-title="{title}"]')


async def live(page):
    await expect(page.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)


def new_deal(server, title: str, token: str) -> None:
    """A lead the admin owns: a claim of it is nobody's reclaim (the cooldown counts the owner who gave it back)."""
    me = server.gql("{ viewer { id } }", token=token)["viewer"]["id"]
    made = server.gql(CREATE, {"i": {"title": title, "accountName": "Northwind", "amount": "48000", "currency": "USD", "ownerId": me}}, token=token)
    assert made["createOpportunity"]["userErrors"] == []


def release(server, title: str, token: str, reason: str = "Budget frozen until spring"):
    found = server.card_id(title, token)
    done = server.gql(RELEASE, {"i": {"id": found["id"], "version": found["version"], "reason": reason}}, token=token)
    assert done["releaseOpportunity"] == {"opportunity": {"inPool": True}, "userErrors": []}
    return found["id"]


def usd(n: float) -> str:
    """What Intl's compact en-US currency writes: $182K, $1.4M, $9,500."""
    if n < 10_000:
        return f"${n:,.0f}"
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"${round(n / div, 1):g}{suffix}"
    raise AssertionError(n)


async def shoot(page, name: str, full_page: bool = True):
    SHOTS.mkdir(exist_ok=True)
    await page.wait_for_timeout(300)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)
    # Nothing sticks out sideways on a phone.
    wide = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"{name}: {wide}px wider than the window"


async def test_claim_from_the_pool_and_release_back_with_a_reason(shared_baton, browser):
    admin, sales = token(shared_baton, "admin"), token(shared_baton, "sales")
    title = "Depot scanners"
    new_deal(shared_baton, title, admin)
    page = await sign_in(browser, shared_baton, "sales", viewport=DESKTOP, route="pool")
    await live(page)
    await expect(page.get_by_test_id("pool-empty")).to_have_text("The pool is empty: every deal has an owner.")

    # An admin gives a deal back: it appears in the sales pool live.
    card_id = release(shared_baton, title, admin)
    item = pool_item(page, title)
    await expect(item).to_have_count(1, timeout=LIVE_TIMEOUT)
    await expect(page.get_by_test_id("pool-count")).to_have_text("1 deal in the pool")
    await expect(item.locator(".pool-title")).to_have_attribute("href", f"#/opportunity/{card_id}")
    # Others' changes are announced a second after they arrive: heard before going on, so the
    # announcement cannot take the place of the forecast's confirmation below.
    await expect(page.locator("#announcer")).to_contain_text("Ada Admin changed “Depot scanners”.", timeout=LIVE_TIMEOUT)

    await item.get_by_test_id("pool-claim").click()
    await expect(item).to_have_count(0)
    await expect(page.get_by_test_id("pool-empty")).to_be_visible()
    assert shared_baton.gql(CARD, {"id": card_id}, token=sales)["node"]["owner"] == {"name": "Sam Sales"}

    # The board shows it as the viewer's; its drawer releases it with a reason, which is required.
    await page.goto(f"{shared_baton.base}/#/board")
    await expect(card(page, title).locator(".owner")).to_have_text("Sam Sales")
    await card(page, title).locator(".card-title").click()
    drawer = page.get_by_test_id("drawer")
    # The owner's forecast call, from the drawer.
    await drawer.get_by_test_id("forecast-category").select_option("COMMIT")
    await drawer.get_by_test_id("forecast-save").click()
    # (a live announcement of the same change may share the polite region: contained, not equal)
    await expect(page.locator("#announcer")).to_contain_text("Forecast category set to Commit.")
    await expect(drawer.get_by_test_id("forecast-category")).to_have_value("COMMIT")
    assert shared_baton.gql(CATEGORY, {"id": card_id}, token=sales)["node"]["forecastCategory"] == "COMMIT"
    await drawer.get_by_test_id("release-open").click()
    dialog = page.get_by_test_id("release-dialog")
    await dialog.get_by_test_id("release-ok").click()
    await expect(dialog.locator(".form-error")).to_have_text("Give a reason for releasing the deal.")
    await expect(dialog.get_by_test_id("release-reason")).to_have_attribute("aria-invalid", "true")
    await expect(dialog.get_by_test_id("release-reason")).to_be_focused()
    await dialog.get_by_test_id("release-reason").fill("Customer chose to wait a year")
    await dialog.get_by_test_id("release-ok").click()
    await expect(dialog).to_have_count(0)
    await expect(drawer.get_by_test_id("drawer-pool")).to_contain_text("In the Sales pool")
    node = shared_baton.gql(CARD, {"id": card_id}, token=sales)["node"]
    assert (node["inPool"], node["poolDepartment"]) == (True, {"key": "sales"})
    await page.keyboard.press("Escape")

    # Back in the pool; claiming one's own release again within the cooldown is refused beside the deal.
    await page.goto(f"{shared_baton.base}/#/pool")
    await item.get_by_test_id("pool-claim").click()
    await expect(item.get_by_test_id("pool-error")).to_contain_text("You gave this deal back less than")
    await expect(item).to_have_count(1)
    assert shared_baton.gql(CARD, {"id": card_id}, token=sales)["node"]["inPool"] is True
    assert not page.errors, page.errors


async def test_the_targets_strip_shows_exact_figures_and_follows_a_win_live(shared_baton, browser):
    admin, sales = token(shared_baton, "admin"), token(shared_baton, "sales")
    page = await sign_in(browser, shared_baton, "sales", viewport=DESKTOP, route="board")
    await expect(card(page, "Fleet telematics pilot")).to_be_visible()
    await live(page)
    strip = page.get_by_test_id("targets-strip")
    await expect(strip).to_be_hidden()  # no target yet

    period = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")
    sam = shared_baton.gql("{ viewer { id } }", token=sales)["viewer"]["id"]
    for target in ({"scope": "OWNER", "ownerId": sam, "wonAmount": "1000000", "newQualifiedCount": 10},
                   {"scope": "DEPARTMENT", "departmentKey": "sales", "wonAmount": "2000000"}):
        assert shared_baton.gql(SET_TARGET, {"i": {**target, "period": period}}, token=admin)["setTarget"]["userErrors"] == []

    def expected():
        got = shared_baton.gql(TARGETS, {"p": period}, token=sales)["targets"]
        own = next(x for x in got if x["scope"] == "OWNER")
        dept = next(x for x in got if x["scope"] == "DEPARTMENT")
        return (float(own["wonAmount"]),
                f"Won this month {usd(float(own['wonAmount']))} / $1M · {round(own['wonAttainment'] * 100)}% · "
                f"New qualified {own['newQualifiedCount']}/10",
                f"Won this month {usd(float(dept['wonAmount']))} / $2M · {round(dept['wonAttainment'] * 100)}%")

    won_before, own_text, dept_text = expected()
    # Members are not sent the configuration log's events (admins only): the strip shows new targets on the next read.
    await page.reload()
    await expect(page.get_by_test_id("target-own-text")).to_have_text(own_text)
    await live(page)
    await expect(page.get_by_test_id("target-department-text")).to_have_text(dept_text)
    await expect(page.get_by_test_id("target-department").locator(".target-who")).to_have_text("Sales")

    # Legal and finance tick Contract's deliverables, then an admin moves the deal to Won: the strip follows.
    deal = shared_baton.card_id("Security operations platform", admin)
    for who, key in (("legal", "legal-review"), ("finance", "payment-terms")):
        done = shared_baton.gql(CHECK, {"i": {"opportunityId": deal["id"], "stageKey": "contract", "key": key, "done": True}},
                                token=token(shared_baton, who))
        assert done["checkDeliverable"]["userErrors"] == []
    deal = shared_baton.card_id("Security operations platform", admin)
    moved = shared_baton.gql(MOVE, {"i": {"id": deal["id"], "version": deal["version"], "stageKey": "won"}}, token=admin)
    assert moved["moveOpportunity"] == {"opportunity": {"stage": {"key": "won"}}, "userErrors": []}
    won_after, own_text, dept_text = expected()
    assert won_after == won_before + 310_000
    await expect(page.get_by_test_id("target-own-text")).to_have_text(own_text, timeout=LIVE_TIMEOUT)
    await expect(page.get_by_test_id("target-department-text")).to_have_text(dept_text)
    assert not page.errors, page.errors


async def test_department_breakdown_and_why_cards_are_stuck(shared_baton, browser):
    sales = token(shared_baton, "sales")
    page = await sign_in(browser, shared_baton, "sales", viewport=DESKTOP, route="analytics")
    rows = page.get_by_test_id("dept-row")
    await expect(rows).to_have_count(5)
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    got = shared_baton.gql("query($f: DateTime!, $t: DateTime!){ collaboration(from: $f, to: $t){ department{ key } dealCount } }",
                           {"f": start.isoformat(), "t": (now + datetime.timedelta(minutes=1)).isoformat()}, token=sales)
    for row in got["collaboration"]:
        cell = page.locator(f'[data-testid="dept-row"][data-department="{row["department"]["key"]}"] [data-testid="dept-deals"]')
        await expect(cell).to_have_text(str(row["dealCount"]))
    assert any(row["dealCount"] for row in got["collaboration"])
    await expect(page.get_by_test_id("forecast-total")).to_have_text(re.compile(r"^\$[\d.,]+[KM]?$"))

    # The pending handoff to legal says so on its card, icon and words.
    await page.goto(f"{shared_baton.base}/#/board")
    stuck = card(page, "Campus-wide licence").get_by_test_id("card-stuck")
    await expect(stuck).to_contain_text(re.compile(r"Waiting for Legal to accept · \d+ h$"))
    await expect(card(page, "Fleet telematics pilot").get_by_test_id("card-stuck")).to_have_count(0)

    # Stuck for more than 24 hours: exactly the cards the API lists under that filter.
    board = shared_baton.gql(STUCK, {"f": {"stuckForHours": 24}}, token=sales)["board"]
    titles = sorted(e["node"]["title"] for c in board["columns"] for e in c["opportunities"]["edges"])
    assert "Campus-wide licence" in titles and "Fleet telematics pilot" not in titles
    await page.get_by_test_id("filter-stuck").fill("24")
    await page.get_by_test_id("filter-stuck").press("Enter")
    await expect(card(page, "Fleet telematics pilot")).to_have_count(0)
    shown = sorted(await page.locator('[data-testid="card"] .card-title').all_inner_texts())
    assert shown == titles
    await expect(page.locator('[data-testid="card"]:not(:has([data-testid="card-stuck"]))')).to_have_count(0)
    await expect(page.get_by_test_id("filter-toggle").locator(".count-pill")).to_have_text("1 set")
    assert not page.errors, page.errors


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_screenshots_of_the_planning_views(shared_baton, browser, lang):
    admin = token(shared_baton, "admin")
    if lang == "en":  # something to claim (once: the module shares its server)
        for title in ("Kiosk refresh", "Loyalty app pilot for the northern region stores"):
            new_deal(shared_baton, title, admin)
            release(shared_baton, title, admin, "Waiting for next year's budget")
    period = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")
    me = shared_baton.gql("{ viewer { id } }", token=admin)["viewer"]["id"]
    for target in ({"scope": "OWNER", "ownerId": me, "wonAmount": "300000", "newQualifiedCount": 6},
                   {"scope": "DEPARTMENT", "departmentKey": "sales", "wonAmount": "2000000"}):
        assert shared_baton.gql(SET_TARGET, {"i": {**target, "period": period}}, token=admin)["setTarget"]["userErrors"] == []
    shared_baton.gql(LOCALE, {"l": lang}, token=admin)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = await sign_in(browser, shared_baton, "admin", viewport=viewport, route="board")
        await expect(page.get_by_test_id("lang-switch")).to_have_text("中文" if lang == "en" else "English")
        await expect(page.get_by_test_id("targets-strip")).to_be_visible()
        await shoot(page, f"board-{lang}-{name}")
        await page.goto(f"{shared_baton.base}/#/pool")
        await expect(page.get_by_test_id("pool-item").first).to_be_visible()
        await shoot(page, f"pool-{lang}-{name}")
        await page.goto(f"{shared_baton.base}/#/analytics")
        await expect(page.get_by_test_id("dept-row").first).to_be_visible()
        await expect(page.get_by_test_id("report-owners")).to_be_visible()
        await page.get_by_test_id("planning-period").evaluate("(el) => el.scrollIntoView()")
        await shoot(page, f"analytics-{lang}-{name}", full_page=False)
        assert not page.errors, page.errors
        await page.context.close()
    shared_baton.gql(LOCALE, {"l": "en"}, token=admin)
