"""Approval actions on the board (issue 14): return, transfer and urge, from the queues and the drawer,
seen live by everyone concerned. The demo's "Nationwide store rollout" (1,250,000) has a contract approval
where legal approved and finance decides next, then a finance MANAGER step."""

import pytest
from playwright.async_api import expect

from tests.browser import axe
from tests.browser.conftest import LIVE_TIMEOUT, PHONE, shoot, sign_in

pytestmark = pytest.mark.browser

TITLE = "Nationwide store rollout"


def queue_item(page, approval_id: str):
    return page.get_by_test_id("lens").locator(f'[data-testid="lens-approval"][data-approval="{approval_id}"]')


def step(scope, position: int):
    return scope.locator(f'[data-testid="approval-step"][data-position="{position}"]')


async def live(*pages):
    for page in pages:
        await expect(page.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)


async def open_approvals(page, card_id: str):
    """Open the card's drawer on its approvals; the drawer's contract approval."""
    await page.locator(f'[data-testid="card"][data-id="{card_id}"] .card-title').click()
    drawer = page.get_by_test_id("drawer")
    await drawer.get_by_role("tab", name="Handoffs & approvals").click()
    return drawer.get_by_test_id("approval").first



# The new controls: at least 24×24 px (WCAG 2.5.8), 44×44 px on a phone like the board's other controls.
SMALL_CONTROLS = """(minimum) => Array.from(document.querySelectorAll('.decide button, .decide select, .more-actions summary'))
    .filter((el) => { const r = el.getBoundingClientRect(); return r.width > 0 && (r.width < minimum - 0.5 || r.height < minimum - 0.5); })
    .map((el) => `${el.localName}.${el.className} "${el.textContent.trim().slice(0, 30)}"`)"""


async def check_the_controls(page, source: str, minimum: int):
    assert await page.evaluate(SMALL_CONTROLS, minimum) == []
    failing = axe.describe({"approvals pane": await axe.audit(page, source)})
    assert not failing, failing


async def test_return_transfer_and_urge_are_seen_live(baton, browser, axe_source):
    sales_token = baton.token("sales@demo.baton")
    card_id = baton.card_id(TITLE, sales_token)["id"]
    approvals = baton.gql("query($id: ID!){ node(id: $id){ ... on Opportunity { approvals { id kind status } } } }",
                          {"id": card_id}, token=sales_token)["node"]["approvals"]
    approval_id = next(a["id"] for a in approvals if a["kind"] == "contract" and a["status"] == "PENDING")

    legal = await sign_in(browser, baton, "legal")  # Lee Legal lands on legal's queue
    finance = await sign_in(browser, baton, "finance")  # Fay Finance on finance's
    product = await sign_in(browser, baton, "product")  # Pat Product on product's
    await live(legal, finance, product)
    await expect(queue_item(legal, approval_id)).to_have_count(0)  # legal has approved already
    await expect(queue_item(product, approval_id)).to_have_count(0)

    # 退回: finance returns it to legal's step from its queue, with a comment.
    item = queue_item(finance, approval_id)
    await expect(item.get_by_test_id("approve")).to_be_visible()
    await expect(step(item, 1).get_by_test_id("step-mode")).to_contain_text("any one decides")
    await expect(step(item, 2)).to_contain_text("Finance managers")
    await item.locator("textarea").fill("The indemnity cap changed in their last draft: please re-check")
    await item.locator("details.more-actions summary").click()
    await item.locator("select[name=toStep]").select_option(label="step 1: Legal")
    await item.get_by_test_id("return-approval").click()
    await expect(item).to_have_count(0)

    # Legal's queue shows it reopened, live, with who returned it and why.
    back = queue_item(legal, approval_id)
    await expect(back).to_be_visible(timeout=LIVE_TIMEOUT)
    await expect(step(back, 0)).to_have_attribute("data-status", "PENDING")
    await expect(step(back, 0).get_by_test_id("step-words")).to_contain_text("open")
    await expect(step(back, 1)).to_contain_text("waits for the step before")
    returned = step(back, 1).locator('[data-testid="decision"][data-action="RETURNED"]')
    await expect(returned).to_contain_text("Fay Finance returned it")
    await expect(returned).to_contain_text("indemnity cap changed")
    await expect(back.get_by_test_id("approve")).to_have_accessible_name(f"Approve the contract approval of {TITLE}")

    # 转交: Lee hands the decision to Pat Product from the drawer; it lands in Pat's own queue, live.
    await back.locator(f'[data-open="{card_id}"]').click()
    drawer = legal.get_by_test_id("drawer")
    approval = drawer.get_by_test_id("approval").first
    await expect(approval.get_by_test_id("approve")).to_be_visible()
    await approval.locator("textarea").fill("Pat owns the SLA terms: over to you")
    await approval.locator("details.more-actions summary").click()
    await approval.locator("select[name=toUserId]").select_option(label="Pat Product · Product")
    await expect(approval.get_by_test_id("transfer-approval")).to_have_accessible_name(f"Transfer the contract approval of {TITLE}")
    await approval.get_by_test_id("transfer-approval").click()
    await expect(approval.get_by_test_id("approve")).to_have_count(0)  # no longer Lee's to decide
    await expect(step(approval, 0).locator('[data-testid="decision"][data-action="TRANSFERRED"]')).to_contain_text("Lee Legal handed their decision to Pat Product")
    await expect(step(approval, 0)).to_contain_text("Pat Product")  # now among the approvers
    handed = queue_item(product, approval_id)
    await expect(handed.get_by_test_id("approve")).to_be_visible(timeout=LIVE_TIMEOUT)
    await expect(handed).to_contain_text("Pat owns the SLA terms")
    await handed.get_by_test_id("approve").click()
    await expect(handed).to_have_count(0)
    await expect(queue_item(finance, approval_id).get_by_test_id("approve")).to_be_visible(timeout=LIVE_TIMEOUT)  # finance is next again
    await legal.keyboard.press("Escape")

    # 催办: the requester urges from the drawer; finance's board shows it live, on the card and in its drawer.
    await finance.goto(f"{baton.base}/#/board")
    await live(finance)
    fin_approval = await open_approvals(finance, card_id)
    await expect(fin_approval.get_by_test_id("approve")).to_be_visible()
    await expect(fin_approval.get_by_test_id("approval-urges")).to_have_count(0)
    unread = int(await finance.get_by_test_id("inbox-count").get_attribute("data-count"))

    sales = await sign_in(browser, baton, "sales", route="board")
    await live(sales)
    mine = await open_approvals(sales, card_id)
    await expect(mine.get_by_test_id("approve")).to_have_count(0)  # sales only urges or withdraws
    await expect(mine.get_by_test_id("withdraw-approval")).to_be_visible()
    await mine.locator("textarea").fill("The customer signs on Friday")
    await mine.get_by_test_id("urge-approval").click()
    await expect(mine.get_by_test_id("approval-urges")).to_have_text("urged 1×")

    await expect(fin_approval.get_by_test_id("approval-urges")).to_have_text("urged 1×", timeout=LIVE_TIMEOUT)
    await expect(step(fin_approval, 1).get_by_test_id("step-words")).to_contain_text("urged")
    await expect(step(fin_approval, 1).locator('[data-testid="decision"][data-action="URGED"]')).to_contain_text("The customer signs on Friday")
    await expect(finance.locator(f'[data-testid="card"][data-id="{card_id}"]').get_by_test_id("urge-count")).to_contain_text("contract urged 1×")
    await expect(finance.locator(".toast")).to_contain_text(["Sam Sales is waiting for your contract approval"], timeout=LIVE_TIMEOUT)
    assert int(await finance.get_by_test_id("inbox-count").get_attribute("data-count")) > unread
    # The pending chip is a clock, never a check mark.
    chip = finance.locator(f'[data-testid="card"][data-id="{card_id}"]').get_by_test_id("wait-approval")
    assert not (await chip.inner_text()).lstrip().startswith("✓")

    # A second urge within the hour is refused, and says so.
    await mine.get_by_test_id("urge-approval").click()
    await expect(sales.locator(".toast-error")).to_contain_text("less than an hour ago")
    await expect(mine.get_by_test_id("approval-urges")).to_have_text("urged 1×")

    # The approvals pane with its controls, as finance sees it, on a desktop and on a phone.
    await fin_approval.locator("details.more-actions summary").click()
    await fin_approval.scroll_into_view_if_needed()
    await shoot(finance, "approvals-desktop")
    await check_the_controls(finance, axe_source, 24)
    await shoot(sales, "approvals-requester-desktop")
    phone = await sign_in(browser, baton, "finance.manager", route="board", viewport=PHONE)
    await live(phone)
    on_phone = await open_approvals(phone, card_id)
    await expect(on_phone.get_by_test_id("approve")).to_be_visible()
    await on_phone.locator("details.more-actions summary").click()
    await on_phone.scroll_into_view_if_needed()
    await shoot(phone, "approvals-phone")
    await on_phone.get_by_test_id("add-signer").scroll_into_view_if_needed()
    await shoot(phone, "approvals-phone-more")
    await check_the_controls(phone, axe_source, 44)
    overflow = await phone.evaluate("""() => { const d = document.querySelector('.drawer-body');
        return Array.from(d.querySelectorAll('.approval *')).filter((el) => el.getBoundingClientRect().right > d.clientWidth + 1)
          .map((el) => el.localName + '.' + el.className).slice(0, 5); }""")
    assert overflow == [], overflow

    pages = (legal, finance, product, sales, phone)
    errors = [e for p in pages for e in p.errors]
    assert not errors, errors
