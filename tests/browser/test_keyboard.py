"""A keyboard-only day on the board: Tab, Shift+Tab, Enter, Space, Escape and the arrow keys (and typing
into fields), asserting where focus is after every step."""
import pytest
from playwright.async_api import expect

from tests.browser.conftest import LIVE_TIMEOUT, PASSWORD, open_board

pytestmark = pytest.mark.browser

REQUEST_APPROVAL = "mutation($i: RequestApprovalInput!){ requestApproval(input: $i){ userErrors{ message } } }"
DECIDE = "mutation($i: DecideApprovalInput!){ decideApproval(input: $i){ userErrors{ message } } }"
PENDING_STEP = "query($id: ID!){ node(id: $id){ ... on Opportunity { approvals { id kind status } } } }"


async def focus_is(page, selector: str) -> bool:
    return await page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector)


async def tab_to(page, selector: str, *, back=False, limit=80) -> int:
    """Press Tab (Shift+Tab) until the focused element matches `selector`; how many presses it took."""
    for presses in range(1, limit + 1):
        await page.keyboard.press("Shift+Tab" if back else "Tab")
        if await focus_is(page, selector):
            return presses
    raise AssertionError(f"{selector} not reached in {limit} presses; focus is on {await where(page)}")


async def where(page) -> str:
    return await page.evaluate("""() => { const e = document.activeElement;
        return e ? `${e.localName}#${e.id}.${e.className} "${(e.getAttribute('aria-label') || e.textContent || '').trim().slice(0, 60)}"` : 'nothing'; }""")


async def tab_stays_inside(page, container: str, presses: int):
    """Focus is trapped: Tab and Shift+Tab never leave `container`."""
    for i in range(presses):
        await page.keyboard.press("Shift+Tab" if i % 5 == 4 else "Tab")
        assert await focus_is(page, f"{container}, {container} *"), f"focus left {container}: {await where(page)}"


async def sign_in_by_keyboard(page, who: str):
    await expect(page.get_by_test_id("login-email")).to_be_focused()  # autofocus
    await page.keyboard.type(f"{who}@demo.baton")
    await page.keyboard.press("Tab")
    await expect(page.get_by_test_id("login-password")).to_be_focused()
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.locator(".topbar").wait_for()
    await expect(page.locator("#view h1")).to_be_focused()  # the new page starts at its heading


async def test_a_keyboard_only_day(baton, browser):
    sales_token = baton.token("sales@demo.baton")
    opp = baton.card_id("Analytics add-on", sales_token)  # qualified, no amount: Proposal's gate asks for it
    card_sel = f'.card[data-id="{opp["id"]}"]'

    # Sign in and find the card.
    sales = await open_board(browser, baton)
    await sign_in_by_keyboard(sales, "sales")
    await expect(sales.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    await expect(sales.locator(card_sel)).to_be_visible()
    await tab_to(sales, card_sel)

    # Open it: a modal drawer whose tabs follow the arrow keys and which Tab cannot leave.
    await sales.keyboard.press("Enter")
    drawer = sales.get_by_test_id("drawer")
    await expect(drawer).to_be_focused()
    await expect(drawer.locator("h2")).to_have_text("Analytics add-on")
    await expect(drawer).to_have_attribute("aria-labelledby", "drawer-title")
    await tab_to(sales, "[role=tab][aria-selected=true]")
    await expect(drawer.get_by_role("tab", name="Details")).to_be_focused()
    for key, tab in (("ArrowRight", "Tasks"), ("End", "History"), ("Home", "Details"), ("ArrowLeft", "History")):
        await sales.keyboard.press(key)
        focused = drawer.get_by_role("tab", name=tab)
        await expect(focused).to_be_focused()
        await expect(focused).to_have_attribute("aria-selected", "true")
        await expect(sales.locator(f'#{await focused.get_attribute("aria-controls")}')).to_be_visible()
    await sales.keyboard.press("ArrowRight")  # wraps to Details
    await tab_stays_inside(sales, '[data-testid="drawer"]', 40)
    assert await sales.evaluate("document.querySelector('main').closest('[inert]') !== null")  # the page behind is inert
    await sales.keyboard.press("Escape")
    await expect(drawer).to_be_hidden()
    await expect(sales.locator(card_sel)).to_be_focused()

    # Move it with the "Move to…" button and the menu; the gate dialog takes focus and keeps it.
    await sales.keyboard.press("Tab")
    move = sales.locator(f"{card_sel} .move-btn")
    await expect(move).to_be_focused()
    await expect(move).to_have_accessible_name("Move Analytics add-on to…")
    await sales.keyboard.press("Enter")
    menu = sales.get_by_test_id("move-menu")
    await expect(menu.get_by_role("menuitem", name="Lead")).to_be_focused()
    await sales.keyboard.press("ArrowDown")
    await expect(menu.get_by_role("menuitem", name="Proposal")).to_be_focused()
    await sales.keyboard.press("Enter")
    gate = sales.get_by_test_id("gate-dialog")
    await expect(gate.locator('input[data-field="amount"]')).to_be_focused()
    await sales.keyboard.type("42000")
    await sales.keyboard.press("Tab")
    await expect(gate.locator('input[data-field="expectedCloseDate"]')).to_be_focused()
    await sales.keyboard.type("03312031")
    await expect(gate.locator('input[data-field="expectedCloseDate"]')).to_have_value("2031-03-31")
    await tab_stays_inside(sales, '[data-testid="gate-dialog"]', 12)
    await tab_to(sales, '[data-testid="gate-dialog"] button[type=submit]')
    await sales.keyboard.press("Enter")
    await expect(gate).to_have_count(0)
    moved = sales.get_by_test_id("column-proposal").locator(card_sel)
    await expect(moved).to_be_visible()
    await expect(moved).to_be_focused()  # the moved card keeps focus: no 16 Tabs back from the top

    # On to Contract: refused until legal and finance approve; the move asks them (the stage's automatic approval).
    await sales.keyboard.press("Tab")
    await sales.keyboard.press("Enter")
    await expect(menu.get_by_role("menuitem").first).to_be_focused()
    for _ in range(10):
        if await focus_is(sales, '[role=menuitem][data-stage="contract"]'):
            break
        await sales.keyboard.press("ArrowDown")
    await sales.keyboard.press("Enter")
    await expect(gate).to_contain_text("contract approval")
    await expect(gate.get_by_role("button", name="Close", exact=True)).to_be_focused()
    await sales.keyboard.press("Escape")
    await expect(gate).to_have_count(0)
    await expect(moved).to_be_focused()

    # Legal approves its step, keyboard only; a second approval waits behind it.
    hospital = baton.card_id("Hospital scheduling suite", sales_token)
    baton.gql(REQUEST_APPROVAL, {"i": {"opportunityId": hospital["id"], "kind": "pricing", "departmentKeys": ["legal"]}}, token=sales_token)
    legal = await open_board(browser, baton)
    await sign_in_by_keyboard(legal, "legal")
    item = legal.locator(f'[data-testid="lens-approval"][data-id="{opp["id"]}"]')
    await expect(item).to_be_visible()
    await tab_to(legal, f'[data-testid="lens-approval"][data-id="{opp["id"]}"] textarea')
    await legal.keyboard.type("Redlines are fine")
    await legal.keyboard.press("Tab")
    approve = item.get_by_test_id("approve")
    await expect(approve).to_be_focused()
    await expect(approve).to_have_accessible_name("Approve the contract approval of Analytics add-on")
    await legal.keyboard.press("Space")
    await expect(item).to_have_count(0)
    # Focus goes on to the next thing waiting on legal: the other approval's card.
    nxt = legal.locator(f'[data-testid="lens-approval"][data-id="{hospital["id"]}"] [data-open]')
    await expect(nxt).to_be_focused()

    # Finance approves behind the browser's back; sales hears of it and reads the inbox.
    finance_token = baton.token("finance@demo.baton")
    approvals = baton.gql(PENDING_STEP, {"id": opp["id"]}, token=finance_token)["node"]["approvals"]
    contract = next(a for a in approvals if a["kind"] == "contract" and a["status"] == "PENDING")
    baton.gql(DECIDE, {"i": {"id": contract["id"], "approve": True}}, token=finance_token)
    await expect(sales.get_by_test_id("announcer")).to_contain_text("Fay Finance", timeout=LIVE_TIMEOUT)
    await expect(sales.get_by_test_id("inbox-count")).not_to_have_text("0", timeout=LIVE_TIMEOUT)
    await expect(moved).to_be_focused()  # live refreshes did not move the keyboard user's place
    await tab_to(sales, 'a[data-route="inbox"]', back=True)
    await sales.keyboard.press("Enter")
    await expect(sales.locator("#view h1")).to_have_text("Inbox")
    await expect(sales.locator("#view h1")).to_be_focused()
    notice = sales.get_by_test_id("notification").filter(has_text="contract approval on Analytics add-on was approved")
    await expect(notice).to_have_class("note-item unread")
    await tab_to(sales, f'[data-testid="notification"][data-id="{await notice.get_attribute("data-id")}"] [data-read]')
    await sales.keyboard.press("Enter")
    await expect(notice).to_have_class("note-item read")
    assert await focus_is(sales, "[data-read], #view h1"), await where(sales)  # the next unread one, or the heading
    link = notice.locator(f'[data-open="{opp["id"]}"]')
    await tab_to(sales, f'[data-testid="notification"][data-id="{await notice.get_attribute("data-id")}"] [data-open]', back=True)
    await sales.keyboard.press("Enter")
    await expect(drawer).to_be_focused()
    await expect(drawer.locator("h2")).to_have_text("Analytics add-on")

    # Close everything: focus comes back to where the user was, and nothing is left inert.
    await sales.keyboard.press("Escape")
    await expect(drawer).to_be_hidden()
    await expect(link).to_be_focused()
    assert await sales.locator("[inert], [role=dialog]:visible, .menu").count() == 0
    assert not sales.errors and not legal.errors, sales.errors + legal.errors
