"""WCAG 2.2 AA in the browser: axe-core over every view and state, targets, announcements, keyboard only.

The keyboard walkthrough is in test_keyboard.py; the colour contrast of the stylesheet in test_contrast.py.
"""
import pytest
from playwright.async_api import expect

from tests.browser import axe
from tests.browser.conftest import DESKTOP, LIVE_TIMEOUT, PASSWORD, PHONE, open_board

pytestmark = pytest.mark.browser



def card(page, title: str):
    return page.locator('[data-testid="card"]', has=page.locator(".card-title", has_text=title))


async def sign_in_here(page, who: str):
    await page.get_by_test_id("login-email").fill(f"{who}@demo.baton")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.locator(".topbar").wait_for()


async def go(page, server, route: str, ready: str):
    await page.goto(f"{server.base}/#/{route}")
    await page.locator(ready).first.wait_for()
    await expect(page.locator("[aria-busy=true]")).to_have_count(0)


async def every_state(browser, server, viewport, source) -> dict[str, list[dict]]:
    """Walk the board through its views and states; axe's violations for each."""
    found = {}

    async def check(page, state):
        await page.wait_for_timeout(250)  # let transitions settle: axe reads computed colours
        found[state] = await axe.audit(page, source)

    page = await open_board(browser, server, viewport=viewport)
    await check(page, "sign-in")
    await page.get_by_test_id("login-submit").click()
    await expect(page.locator("#login-error")).not_to_be_empty()
    await check(page, "sign-in refused")
    await sign_in_here(page, "sales")
    await go(page, server, "board", '[data-testid="card"]')
    await expect(page.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    await check(page, "board")

    subject = card(page, "Analytics add-on")  # qualified, no amount: Proposal's gate refuses it
    await subject.locator(".move-btn").click()
    menu = page.get_by_test_id("move-menu")
    await check(page, "move menu")
    await menu.get_by_role("menuitem", name="Proposal").click()
    await expect(page.get_by_test_id("gate-dialog")).to_be_visible()
    await check(page, "gate dialog")
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("gate-dialog")).to_have_count(0)

    await page.locator("#new-card").click()
    await expect(page.get_by_test_id("new-card-dialog")).to_be_visible()
    await check(page, "new deal dialog")
    await page.keyboard.press("Escape")

    await card(page, "Campus-wide licence").locator(".card-title").click()  # tasks, comments, a pending handoff
    drawer = page.get_by_test_id("drawer")
    await expect(drawer.locator("h2")).to_have_text("Campus-wide licence")
    for name in ("Details", "Tasks", "Comments", "Customer", "Handoffs & approvals", "History"):
        await drawer.get_by_role("tab", name=name).click()
        await expect(drawer.locator("[data-pane]:not([hidden])")).to_have_count(1)
        await check(page, f"drawer: {name}")
    await page.keyboard.press("Escape")
    await expect(drawer).to_be_hidden()

    await card(page, "Fleet telematics pilot").locator(".move-btn").click()  # a move that succeeds (lead <-> qualified): its toast
    await page.get_by_test_id("move-menu").locator("[role=menuitem]:not([disabled])").first.click()
    await expect(page.locator(".toast-ok")).to_be_visible()
    await check(page, "board after a move")

    await go(page, server, "lens/legal", '[data-testid="lens"]')
    await check(page, "another department's queue")
    await go(page, server, "inbox", '[data-testid="notification"]')
    await check(page, "inbox")
    await go(page, server, "analytics", '[data-testid="chart-funnel"] svg')
    await check(page, "analytics")
    await go(page, server, "pool", '[data-testid="pool-list"] > li')
    await check(page, "pool")

    legal = await open_board(browser, server, viewport=viewport)
    await sign_in_here(legal, "legal")  # lands on its own queue, with a handoff to answer
    await expect(legal.get_by_test_id("lens-handoff").first).to_be_visible()
    await check(legal, "own queue")
    assert not page.errors and not legal.errors, page.errors + legal.errors
    return found


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_axe_finds_nothing_serious_in_any_view_or_state(shared_baton, browser, axe_source, viewport):
    found = await every_state(browser, shared_baton, viewport, axe_source)
    failing = axe.describe(found)
    assert not failing, f"axe-core {axe.AXE_VERSION} at {viewport}:\n{failing}"


MOVE = "mutation($i: MoveOpportunityInput!){ moveOpportunity(input: $i){ userErrors{ message } } }"
COMMENT = "mutation($i: AddCommentInput!){ addComment(input: $i){ userErrors{ message } } }"


async def test_other_peoples_changes_are_announced_in_one_short_sentence(shared_baton, browser):
    sales = await open_board(browser, shared_baton)
    await sign_in_here(sales, "sales")
    await expect(sales.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    announcer = sales.get_by_test_id("announcer")
    await expect(announcer).to_have_attribute("aria-live", "polite")

    admin = shared_baton.token("admin@demo.baton")
    opp = shared_baton.card_id("Shop-floor IoT", admin)
    moved = shared_baton.gql(MOVE, {"i": {"id": opp["id"], "version": opp["version"], "stageKey": "qualified"}}, token=admin)
    assert moved["moveOpportunity"]["userErrors"] == []
    await expect(announcer).to_have_text("Ada Admin moved “Shop-floor IoT” to Qualified.", timeout=LIVE_TIMEOUT)

    # A burst is one summary, not a queue of sentences.
    marketing = shared_baton.token("marketing@demo.baton")
    for title in ("Campus-wide licence", "Payments gateway", "Claims automation"):
        card_id = shared_baton.card_id(title, marketing)["id"]
        shared_baton.gql(COMMENT, {"i": {"opportunityId": card_id, "body": "Campaign brief attached"}}, token=marketing)
    await expect(announcer).to_have_text("Mia Marketing made 3 changes to 3 cards.", timeout=LIVE_TIMEOUT)

    # What sales does itself is not announced (its toasts say it).
    me = shared_baton.token("sales@demo.baton")
    own = shared_baton.card_id("EU expansion seats", me)
    shared_baton.gql(COMMENT, {"i": {"opportunityId": own["id"], "body": "Call booked"}}, token=me)
    await sales.wait_for_timeout(2000)
    await expect(announcer).to_have_text("Mia Marketing made 3 changes to 3 cards.")
    assert not sales.errors, sales.errors


# Controls a finger uses most on a phone: WCAG 2.5.5's 44×44 px; everything else WCAG 2.2's 24×24 px (2.5.8).
PRIMARY_ON_PHONE = ".move-btn, #new-card, .nav a, .inbox-btn, #sign-out, .filters .check, [data-close], [role=tab], [data-approve], [data-accept]"
UNDERSIZED = """([minimum, selector]) => Array.from(document.querySelectorAll(selector)).filter((el) => {
    if (el.closest('[hidden], .sr-only, .skip-link')) return false;
    const target = el.matches('input[type=checkbox]') ? el.closest('label') || el : el;  // the label takes the tap too
    const r = target.getBoundingClientRect();
    return r.width > 0 && (r.width < minimum - 0.5 || r.height < minimum - 0.5);
  }).map((el) => `${el.localName}.${el.className} "${(el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 40)}"`)"""
CONTROLS = "a[href], button, input, select, textarea, [tabindex='0']"


async def undersized(page, minimum, selector=CONTROLS):
    return await page.evaluate(UNDERSIZED, [minimum, selector])


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_touch_targets_are_big_enough(shared_baton, browser, viewport):
    page = await open_board(browser, shared_baton, viewport=viewport)
    assert await undersized(page, 24) == []
    await sign_in_here(page, "marketing")  # sign-ins are limited per person: the other tests here use sales
    await go(page, shared_baton, "board", '[data-testid="card"]')
    phone = viewport == PHONE
    assert await undersized(page, 24) == []
    if phone:
        assert await undersized(page, 44, PRIMARY_ON_PHONE) == []
    await card(page, "Campus-wide licence").locator(".card-title").click()
    drawer = page.get_by_test_id("drawer")
    await expect(drawer.locator("h2")).to_have_text("Campus-wide licence")
    for name in ("Details", "Tasks", "Customer", "Handoffs & approvals"):
        await drawer.get_by_role("tab", name=name).click()
        assert await undersized(page, 24) == [], name
        if phone:
            assert await undersized(page, 44, PRIMARY_ON_PHONE) == [], name
    legal = await open_board(browser, shared_baton, viewport=viewport)
    await sign_in_here(legal, "legal")
    await expect(legal.get_by_test_id("lens-handoff").first).to_be_visible()
    assert await undersized(legal, 24) == []
    if phone:
        assert await undersized(legal, 44, PRIMARY_ON_PHONE) == []
