"""Stage owners and deliverables on the board (issue 25): each card's checklist progress and stage owner,
the drawer's checklist ticked by the responsible department and seen live by the others, the department's
queue, and the gate into Won naming what is missing. The demo's "Security operations platform" is in
Contract (legal's stage): "合同审核意见" is legal's to tick, "付款条款确认" finance's."""

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import expect

from tests.browser import axe
from tests.browser.conftest import LIVE_TIMEOUT, PHONE, shoot, sign_in

pytestmark = pytest.mark.browser

TITLE = "Security operations platform"
LEGAL_ITEM, FINANCE_ITEM = "合同审核意见", "付款条款确认"
UPDATE = "mutation($i: UpdateOpportunityInput!){ updateOpportunity(input: $i){ userErrors{ message } } }"


def card(page, card_id: str, column: str | None = None):
    scope = page.get_by_test_id(f"column-{column}") if column else page
    return scope.locator(f'[data-testid="card"][data-id="{card_id}"]')


def chip(page, card_id: str):
    return card(page, card_id).get_by_test_id("stage-work")


def item(drawer, key: str):
    return drawer.locator(f'[data-testid="deliverable"][data-deliverable="{key}"]')


async def live(*pages):
    for page in pages:
        await expect(page.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)


async def open_card(page, card_id: str):
    await card(page, card_id).locator(".card-title").click()
    drawer = page.get_by_test_id("drawer")
    await expect(drawer.get_by_test_id("checklist")).to_be_visible()
    return drawer


async def scroll_to(locator):
    """Scroll to `locator`, again if a live refresh replaced it meanwhile."""
    for attempt in range(3):
        try:
            return await locator.scroll_into_view_if_needed()
        except PlaywrightError:
            if attempt == 2:
                raise



# A checkbox's target is its label, which takes the tap too: 24×24 px, 44×44 px on a phone.
SMALL_TICKS = """(minimum) => Array.from(document.querySelectorAll('[data-testid=checklist] input[type=checkbox]'))
    .map((box) => box.closest('label') || box)
    .filter((el) => { const r = el.getBoundingClientRect(); return r.width > 0 && (r.width < minimum - 0.5 || r.height < minimum - 0.5); })
    .map((el) => el.textContent.trim().slice(0, 30))"""
OVERFLOW = """() => { const d = document.querySelector('.drawer-body'); const edge = d.getBoundingClientRect().left + d.clientWidth;
    return Array.from(d.querySelectorAll('.checklist *, .stage-times *')).filter((el) => el.getBoundingClientRect().right > edge + 1)
      .map((el) => el.localName + '.' + el.className).slice(0, 5); }"""


async def check_the_checklist(page, source: str, minimum: int):
    assert await page.evaluate(SMALL_TICKS, minimum) == []
    assert await page.evaluate(OVERFLOW) == []
    failing = axe.describe({"checklist": await axe.audit(page, source)})
    assert not failing, failing


async def test_a_tick_is_seen_live_on_another_departments_board(baton, browser, axe_source):
    card_id = baton.card_id(TITLE, baton.token("admin@demo.baton"))["id"]

    # Finance's queue lists its own deliverable, not legal's.
    finance = await sign_in(browser, baton, "finance")  # Fay Finance lands on finance's queue
    waiting = finance.get_by_test_id("lens").locator(f'[data-testid="lens-deliverable"][data-id="{card_id}"]')
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_have_attribute("data-deliverable", "payment-terms")
    await expect(waiting).to_contain_text(FINANCE_ITEM)
    await expect(waiting.get_by_role("checkbox")).to_have_accessible_name(f"{FINANCE_ITEM} on {TITLE}")

    await finance.goto(f"{baton.base}/#/board")
    await live(finance)
    await expect(chip(finance, card_id)).to_contain_text("Deliverables 0/2 · Legal")
    await expect(chip(finance, card_id)).to_have_attribute("data-done", "0")

    # Won needs Contract's deliverables: the gate dialog names them and who ticks each, and asks for no field.
    sales = await sign_in(browser, baton, "sales", route="board")
    await live(sales)
    await card(sales, card_id).locator(".move-btn").click()
    await sales.get_by_test_id("move-menu").get_by_role("menuitem", name="Won").click()
    gate = sales.get_by_test_id("gate-dialog")
    await expect(gate.get_by_test_id("gate-deliverable")).to_have_count(2)
    await expect(gate.get_by_test_id("gate-deliverable")).to_contain_text([f"{LEGAL_ITEM} · Contract · Legal ticks it",
                                                                           f"{FINANCE_ITEM} · Contract · Finance ticks it"])
    await expect(gate).to_contain_text("this card needs Contract’s deliverables ticked")
    await expect(gate.locator("input[data-field]")).to_have_count(0)
    await expect(gate.locator("button[type=submit]")).to_have_count(0)
    await shoot(sales, "deliverables-gate-desktop")
    await gate.get_by_role("button", name="Open the card’s checklist").click()
    await expect(gate).to_have_count(0)
    await expect(sales.get_by_test_id("drawer").get_by_test_id("checklist")).to_be_visible()
    await sales.keyboard.press("Escape")
    await expect(card(sales, card_id, "contract")).to_be_focused()

    # A refused tick says why, in place: Proposal's "报价单" needs the amount, cleared behind the browser's back.
    sales_token = baton.token("sales@demo.baton")
    quote = baton.card_id("Warehouse robotics integration", sales_token)
    baton.gql(UPDATE, {"i": {"id": quote["id"], "version": quote["version"], "amount": None}}, token=sales_token)
    proposal = await open_card(sales, quote["id"])
    await expect(item(proposal, "quote")).to_contain_text("needs an amount first")
    await item(proposal, "quote").get_by_role("checkbox").click()  # not check(): the refusal unticks it again
    await expect(item(proposal, "quote").get_by_role("alert")).to_have_text("Fill in amount before ticking “报价单”")
    await expect(item(proposal, "quote").get_by_role("checkbox")).not_to_be_checked()
    await sales.keyboard.press("Escape")

    # Legal ticks its item in the drawer; finance's is not legal's to tick.
    legal = await sign_in(browser, baton, "legal", route="board")
    await live(legal)
    drawer = await open_card(legal, card_id)
    mine, theirs = item(drawer, "legal-review"), item(drawer, "payment-terms")
    box = mine.get_by_role("checkbox")
    await expect(box).to_have_accessible_name(f"{LEGAL_ITEM} on {TITLE}")
    await expect(box).not_to_be_checked()
    await expect(theirs.get_by_role("checkbox")).to_have_count(0)
    await expect(theirs).to_contain_text("Finance ticks it")
    await box.check()
    await expect(mine).to_have_attribute("data-done", "true")
    await expect(mine).to_contain_text("ticked by Lee Legal")
    await expect(drawer.get_by_test_id("checklist-progress")).to_have_text("1/2")
    await expect(box).to_be_focused()  # the refresh keeps the keyboard user's place
    await expect(chip(legal, card_id)).to_contain_text("Deliverables 1/2 · Legal")

    # Finance's open board follows, and hears it in one sentence.
    await expect(chip(finance, card_id)).to_have_attribute("data-done", "1", timeout=LIVE_TIMEOUT)
    await expect(chip(finance, card_id)).to_contain_text("Deliverables 1/2 · Legal")
    await expect(finance.get_by_test_id("announcer")).to_have_text(f"Lee Legal ticked “{LEGAL_ITEM}” on “{TITLE}”.", timeout=LIVE_TIMEOUT)

    # Finance sees legal's tick read-only, with who and when, and ticks its own.
    fin_drawer = await open_card(finance, card_id)
    await expect(item(fin_drawer, "legal-review").get_by_role("checkbox")).to_have_count(0)
    await expect(item(fin_drawer, "legal-review")).to_contain_text("ticked by Lee Legal")
    await expect(item(fin_drawer, "legal-review")).to_have_attribute("data-done", "true")
    await expect(fin_drawer.get_by_test_id("stage-time").filter(has_text="Contract")).to_contain_text("so far")
    await expect(fin_drawer.get_by_test_id("stage-time").filter(has_text="Contract")).to_contain_text("Legal")
    await shoot(finance, "deliverables-drawer-desktop-before")
    await item(fin_drawer, "payment-terms").get_by_role("checkbox").check()
    await expect(item(fin_drawer, "payment-terms")).to_contain_text("ticked by Fay Finance")
    await expect(chip(finance, card_id)).to_contain_text("Deliverables 2/2 · Legal")
    await expect(chip(finance, card_id)).to_have_class("wait wait-stage is-complete")

    # Legal's board and open drawer follow.
    await expect(chip(legal, card_id)).to_have_attribute("data-done", "2", timeout=LIVE_TIMEOUT)
    await expect(theirs).to_contain_text("ticked by Fay Finance", timeout=LIVE_TIMEOUT)
    await expect(drawer.get_by_test_id("checklist-progress")).to_have_text("2/2")
    await drawer.get_by_role("tab", name="History").click()
    await expect(drawer.locator(".timeline")).to_contain_text("Fay Finance ticked a deliverable")
    await legal.keyboard.press("Escape")

    # A desktop and a phone: the card with its chip, the drawer with its checklist.
    await scroll_to(fin_drawer.get_by_test_id("checklist"))
    await shoot(finance, "deliverables-drawer-desktop")
    await check_the_checklist(finance, axe_source, 24)
    await finance.keyboard.press("Escape")
    await shoot(finance, "deliverables-card-desktop")
    phone = await sign_in(browser, baton, "legal2", route="board", viewport=PHONE)
    await live(phone)
    await scroll_to(card(phone, card_id))
    await expect(chip(phone, card_id)).to_contain_text("Deliverables 2/2 · Legal")
    await shoot(phone, "deliverables-card-phone")
    phone_drawer = await open_card(phone, card_id)
    await expect(item(phone_drawer, "legal-review").get_by_role("checkbox")).to_be_checked()  # Lou is in legal too
    await shoot(phone, "deliverables-drawer-phone")
    await check_the_checklist(phone, axe_source, 44)
    await scroll_to(phone_drawer.locator(".stage-times"))
    await shoot(phone, "deliverables-times-phone")

    # Everything ticked: the card moves on to Won.
    await card(sales, card_id).locator(".move-btn").click()
    await sales.get_by_test_id("move-menu").get_by_role("menuitem", name="Won").click()
    await expect(card(sales, card_id, "won")).to_be_visible()

    pages = (finance, sales, legal, phone)
    errors = [e for p in pages for e in p.errors]
    assert not errors, errors
