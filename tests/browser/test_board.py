"""The browser board against a real `baton serve --demo`, in headless Chromium."""
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import LIVE_TIMEOUT, sign_in

pytestmark = pytest.mark.browser



def card(page, card_id: str, column: str | None = None):
    scope = page.get_by_test_id(f"column-{column}") if column else page
    return scope.locator(f'[data-testid="card"][data-id="{card_id}"]')


async def drag(page, source, target):
    """Drag with real pointer events (SortableJS fallback mode: the same path as touch)."""
    await source.scroll_into_view_if_needed()
    s = await source.bounding_box()
    await target.scroll_into_view_if_needed()
    s = await source.bounding_box()
    t = await target.bounding_box()
    await page.mouse.move(s["x"] + s["width"] / 2, s["y"] + 30)
    await page.mouse.down()
    await page.mouse.move(s["x"] + s["width"] / 2 + 10, s["y"] + 40, steps=4)
    await page.mouse.move(t["x"] + t["width"] / 2, t["y"] + 40, steps=15)
    await page.wait_for_timeout(150)
    await page.mouse.up()


async def test_drag_is_seen_live_by_another_department(baton, browser, artifacts):
    sales = await sign_in(browser, baton, "sales", route="board")
    legal = await sign_in(browser, baton, "legal", route="board")
    for page in (sales, legal):
        await expect(page.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    opp = baton.card_id("Fleet telematics pilot", baton.token("sales@demo.baton"))
    await expect(card(legal, opp["id"], "lead")).to_be_visible()

    await drag(sales, card(sales, opp["id"], "lead"), sales.get_by_test_id("column-qualified").locator(".cards"))

    await expect(card(sales, opp["id"], "qualified")).to_be_visible()
    # Legal's board follows without a reload.
    await expect(card(legal, opp["id"], "qualified")).to_be_visible(timeout=LIVE_TIMEOUT)
    await expect(card(legal, opp["id"], "lead")).to_have_count(0)
    assert (await baton_stage(baton, opp["id"])) == "qualified"
    await sales.wait_for_timeout(600)
    await sales.screenshot(path=str(artifacts / "board.png"))
    assert not sales.errors and not legal.errors, sales.errors + legal.errors


async def baton_stage(baton, opp_id):
    token = baton.token("admin@demo.baton")
    data = baton.gql("query($id: ID!){ node(id: $id){ ... on Opportunity { stage { key } } } }", {"id": opp_id}, token=token)
    return data["node"]["stage"]["key"]


async def test_handoff_and_approval_through_the_lenses(baton, browser, artifacts):
    title = "Hospital scheduling suite"  # proposal, nothing pending yet
    opp = baton.card_id(title, baton.token("sales@demo.baton"))
    sales = await sign_in(browser, baton, "sales", route="board")
    await expect(sales.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)

    # Sales asks legal to take the baton and requests the contract approval, from the drawer.
    await card(sales, opp["id"]).locator(".card-title").click()
    drawer = sales.get_by_test_id("drawer")
    await expect(drawer).to_be_visible()
    await drawer.get_by_role("tab", name="Handoffs & approvals").click()
    await drawer.get_by_test_id("handoff-department").select_option("legal")
    await drawer.get_by_placeholder("Note (what you need)").fill("Please review their redlines")
    await drawer.get_by_test_id("request-handoff").click()
    await expect(drawer.get_by_test_id("handoff")).to_have_count(1)
    await expect(drawer.get_by_test_id("handoff")).to_contain_text("Sales → Legal")
    await expect(drawer.get_by_test_id("handoff")).to_contain_text("Please review their redlines")
    await expect(drawer.get_by_test_id("handoff")).to_contain_text("Pending")
    await drawer.get_by_test_id("approval-kind").fill("contract")
    await drawer.get_by_test_id("request-approval").click()
    approval = drawer.get_by_test_id("approval").first
    await expect(approval.get_by_test_id("approval-status")).to_have_text("Pending")
    await expect(approval.locator('[data-testid="approval-step"][data-department="legal"]')).to_contain_text("open")
    await expect(card(sales, opp["id"]).get_by_test_id("wait-handoff")).to_contain_text("Legal")
    await expect(card(sales, opp["id"]).get_by_test_id("wait-approval")).to_contain_text("Legal")
    await sales.screenshot(path=str(artifacts / "drawer.png"))

    # Legal opens Baton and lands on its queue.
    legal = await sign_in(browser, baton, "legal")
    lens = legal.get_by_test_id("lens")
    await expect(lens).to_have_attribute("data-department", "legal")
    await expect(lens.locator(f'[data-testid="lens-handoff"][data-id="{opp["id"]}"]')).to_be_visible()
    item = lens.locator(f'[data-testid="lens-approval"][data-id="{opp["id"]}"]')
    await expect(item).to_be_visible()
    await legal.screenshot(path=str(artifacts / "lens-legal.png"))
    await lens.locator(f'[data-testid="lens-handoff"][data-id="{opp["id"]}"]').get_by_test_id("handoff-accept").click()
    await item.locator("textarea").fill("Redlines are fine")
    await item.get_by_test_id("approve").click()
    await expect(item).to_have_count(0)

    # Sales sees legal's step approved, live, with finance now open.
    await expect(approval.locator('[data-testid="approval-step"][data-department="legal"]')).to_have_attribute("data-status", "APPROVED", timeout=LIVE_TIMEOUT)
    await expect(approval.locator('[data-testid="approval-step"][data-department="finance"]')).to_contain_text("open")
    await expect(drawer.get_by_test_id("handoff").first).to_contain_text("Accepted", timeout=LIVE_TIMEOUT)

    finance = await sign_in(browser, baton, "finance", route="lens/finance")
    fitem = finance.get_by_test_id("lens").locator(f'[data-testid="lens-approval"][data-id="{opp["id"]}"]')
    await fitem.get_by_test_id("approve").click()
    await expect(fitem).to_have_count(0)

    await expect(approval.get_by_test_id("approval-status")).to_have_text("Approved", timeout=LIVE_TIMEOUT)
    await expect(card(sales, opp["id"]).get_by_test_id("wait-approval")).to_have_count(0, timeout=LIVE_TIMEOUT)
    await sales.screenshot(path=str(artifacts / "drawer-approved.png"))

    # With the approval in place the card may enter Contract.
    await sales.get_by_role("button", name="Close the card").click()
    await drag(sales, card(sales, opp["id"], "proposal"), sales.get_by_test_id("column-contract").locator(".cards"))
    await expect(card(sales, opp["id"], "contract")).to_be_visible()

    # The inbox counts what reached sales (approval decisions, handoff answers).
    await expect(sales.get_by_test_id("inbox-count")).not_to_have_text("0", timeout=LIVE_TIMEOUT)
    assert not sales.errors and not legal.errors and not finance.errors


async def test_gated_move_is_refused_and_explained(baton, browser, artifacts):
    title = "Analytics add-on"  # qualified, no amount, no close date
    opp = baton.card_id(title, baton.token("sales@demo.baton"))
    sales = await sign_in(browser, baton, "sales", route="board")
    await expect(card(sales, opp["id"], "qualified")).to_be_visible()

    await drag(sales, card(sales, opp["id"], "qualified"), sales.get_by_test_id("column-proposal").locator(".cards"))

    dialog = sales.get_by_test_id("gate-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("an amount")
    await expect(dialog).to_contain_text("an expected close date")
    await expect(card(sales, opp["id"], "qualified")).to_be_visible()  # put back
    await expect(card(sales, opp["id"], "proposal")).to_have_count(0)
    assert (await baton_stage(baton, opp["id"])) == "qualified"
    await sales.screenshot(path=str(artifacts / "gate.png"))

    # Fill what is missing right there and move.
    await dialog.locator('input[data-field="amount"]').fill("42000")
    await dialog.locator('input[data-field="expectedCloseDate"]').fill("2031-03-31")
    await dialog.get_by_role("button", name="Save and move to Proposal").click()
    await expect(card(sales, opp["id"], "proposal")).to_be_visible()
    assert (await baton_stage(baton, opp["id"])) == "proposal"

    # Keyboard: "Move to…" into Contract is refused for want of an approval, which can be requested there.
    await card(sales, opp["id"]).locator(".move-btn").focus()
    await sales.keyboard.press("Enter")
    menu = sales.get_by_test_id("move-menu")
    await menu.get_by_role("menuitem", name="Contract").click()
    await expect(dialog).to_contain_text("contract approval")
    await expect(card(sales, opp["id"], "proposal")).to_be_visible()
    assert not sales.errors, sales.errors


MOVE = "mutation($i: MoveOpportunityInput!){ moveOpportunity(input: $i){ userErrors{ message } } }"


def while_cut_off(baton, change) -> None:
    """Run `change(base_url)` against a second server on the same db file while the board's
    own server is stopped: what someone else does while the board is cut off."""
    from tests.browser.conftest import free_port
    side_port = free_port()
    side = baton.start(port=side_port)
    try:
        change(f"http://127.0.0.1:{side_port}")
    finally:
        baton.stop(side)


async def board_cut_off(baton, browser):
    """Sales' live board, then its server stopped: (token, a lead card, the page, the live pill)."""
    token = baton.token("sales@demo.baton")
    opp = baton.card_id("Data platform renewal", token)
    sales = await sign_in(browser, baton, "sales", route="board")
    status = sales.get_by_test_id("live-status")
    await expect(status).to_have_text("live", timeout=LIVE_TIMEOUT)
    baton.stop()
    await expect(status).to_have_text("reconnecting", timeout=LIVE_TIMEOUT)
    return token, opp, sales, status


async def test_board_reconnects_after_restart_and_catches_up(baton, browser, artifacts):
    token, opp, sales, status = await board_cut_off(baton, browser)
    announcer = sales.get_by_test_id("announcer")  # screen readers hear it too
    await expect(announcer).to_contain_text("Connection lost. Reconnecting…")

    # While the board is cut off, someone moves a card.
    def move(base):
        moved = baton.gql(MOVE, {"i": {"id": opp["id"], "version": opp["version"], "stageKey": "qualified"}}, token=token, base=base)
        assert moved["moveOpportunity"]["userErrors"] == []

    while_cut_off(baton, move)
    await expect(card(sales, opp["id"], "lead")).to_be_visible()  # not seen yet

    baton.start()  # same port, same db file
    await expect(status).to_have_text("live", timeout=30_000)
    await expect(announcer).to_contain_text("Live updates are back")
    await expect(card(sales, opp["id"], "qualified")).to_be_visible(timeout=LIVE_TIMEOUT)

    # And it is live again for changes after the reconnect.
    later = baton.card_id("Shop-floor IoT", token)
    baton.gql(MOVE, {"i": {"id": later["id"], "version": later["version"], "stageKey": "qualified"}}, token=token)
    await expect(card(sales, later["id"], "qualified")).to_be_visible(timeout=LIVE_TIMEOUT)


async def test_board_away_longer_than_the_log_keeps_reloads_and_goes_live(baton, browser):
    """While the board is cut off, retention removes events it has not seen: resuming from its
    seq answers RESYNC_REQUIRED, and the board reloads instead of retrying for ever."""
    token, opp, sales, status = await board_cut_off(baton, browser)

    def move_and_comment(base):
        moved = baton.gql(MOVE, {"i": {"id": opp["id"], "version": opp["version"], "stageKey": "qualified"}}, token=token, base=base)
        assert moved["moveOpportunity"]["userErrors"] == []
        commented = baton.gql(
            "mutation($i: AddCommentInput!){ addComment(input: $i){ userErrors{ message } } }",
            {"i": {"opportunityId": opp["id"], "body": "Qualified on the phone"}}, token=token, base=base,
        )
        assert commented["addComment"]["userErrors"] == []

    while_cut_off(baton, move_and_comment)
    # Only the comment's event is kept: the move the board has not seen is gone from the log.
    env = {k: v for k, v in os.environ.items() if k != "BATON_DATABASE_URL"}
    pruned = subprocess.run([sys.executable, "-m", "api.cli", "prune-events", "--keep-events", "1"], cwd=baton.workdir,
                            env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}, capture_output=True, text=True, timeout=60)
    assert pruned.returncode == 0 and "removed" in pruned.stdout, pruned.stderr

    baton.start()
    await expect(status).to_have_text("live", timeout=30_000)
    await expect(card(sales, opp["id"], "qualified")).to_be_visible(timeout=LIVE_TIMEOUT)
    await expect(sales.get_by_test_id("announcer")).to_contain_text("the board reloaded and is up to date")
    # Listening again from the head: a later change arrives live.
    later = baton.card_id("Shop-floor IoT", token)
    baton.gql(MOVE, {"i": {"id": later["id"], "version": later["version"], "stageKey": "qualified"}}, token=token)
    await expect(card(sales, later["id"], "qualified")).to_be_visible(timeout=LIVE_TIMEOUT)
    assert not sales.errors, sales.errors


async def test_analytics_and_phone_layout(baton, browser, artifacts):
    sales = await sign_in(browser, baton, "sales", route="analytics")
    await expect(sales.get_by_test_id("chart-funnel").locator("svg")).to_be_visible()
    await expect(sales.get_by_test_id("chart-winrate").locator("svg")).to_be_visible()
    await sales.wait_for_timeout(300)
    await sales.screenshot(path=str(artifacts / "analytics.png"), full_page=True)

    phone = await sign_in(browser, baton, "sales", route="board", viewport={"width": 390, "height": 844})
    await expect(phone.get_by_test_id("card").first).to_be_visible()
    await phone.screenshot(path=str(artifacts / "phone-board.png"))
    await phone.get_by_test_id("card").first.locator(".card-title").click()
    drawer = phone.get_by_test_id("drawer")
    await expect(drawer).to_be_visible()
    box = await drawer.bounding_box()
    assert box["width"] >= 389, box  # full screen on a phone
    await phone.screenshot(path=str(artifacts / "phone-drawer.png"))
    assert not sales.errors and not phone.errors


async def test_export_button_downloads_the_filtered_cards_through_a_one_time_link(baton, browser):
    sales = await sign_in(browser, baton, "sales", route="board")
    await sales.get_by_role("searchbox", name="Search").fill("Hospital")
    await expect(sales.get_by_test_id("card")).to_have_count(1)
    async with sales.expect_download() as started:
        await sales.get_by_test_id("export").click()
    download = await started.value
    token = await sales.evaluate("sessionStorage.getItem('baton.token')")
    assert "ticket=" in download.url and token and token not in download.url
    assert download.suggested_filename.startswith("opportunities-") and download.suggested_filename.endswith(".csv")
    rows = (Path(await download.path()).read_bytes()).decode("utf-8-sig").splitlines()
    assert rows[0].startswith("Title,Account") and len(rows) == 2 and "Hospital scheduling suite" in rows[1]
    # The link was good once.
    assert httpx.get(download.url).status_code == 401
    assert not sales.errors, sales.errors
