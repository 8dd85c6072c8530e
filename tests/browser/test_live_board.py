"""A live event changes one card: the open board reads that card and the columns' figures
in one small request (`query BoardChanges`), never the whole board; a new deal, a move and
a card leaving the viewer's sight each land where a fresh load would put them."""
import json
import re

import httpx

import pytest
from playwright.async_api import expect

from tests.browser.conftest import LIVE_TIMEOUT, sign_in

pytestmark = pytest.mark.browser

MOVE = "mutation($i: MoveOpportunityInput!){ moveOpportunity(input: $i){ userErrors{ message } } }"
CREATE = "mutation($i: CreateOpportunityInput!){ createOpportunity(input: $i){ opportunity { id } userErrors{ message } } }"


def card(page, card_id: str, column: str):
    return page.get_by_test_id(f"column-{column}").locator(f'[data-testid="card"][data-id="{card_id}"]')


def reads(page) -> list[str]:
    """The names of the GraphQL queries the page sends from now on."""
    names: list[str] = []

    def on_request(request):
        if request.method == "POST" and "/graphql" in request.url:
            found = re.search(r"\b(query|mutation)\s+(\w+)", json.loads(request.post_data or "{}").get("query", ""))
            names.append(found.group(2) if found else "?")

    page.on("request", on_request)
    return names


async def column_figures(page) -> dict:
    return await page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.column')].map(c =>
        [c.dataset.stage, [c.querySelector('.col-count').textContent, c.querySelector('.col-total').textContent,
                           [...c.querySelectorAll('[data-testid=card]')].map(e => e.dataset.id)]]))""")


async def test_events_apply_one_card_and_the_figures_match_a_fresh_load(baton, browser, artifacts):
    sales = await sign_in(browser, baton, "sales", route="board")
    await expect(sales.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    sent = reads(sales)
    token = baton.token("admin@demo.baton")
    opp = baton.card_id("Fleet telematics pilot", token)

    # Another user moves a card: it changes columns, both columns' figures follow.
    moved = baton.gql(MOVE, {"i": {"id": opp["id"], "version": opp["version"], "stageKey": "qualified"}}, token=token)
    assert moved["moveOpportunity"]["userErrors"] == []
    await expect(card(sales, opp["id"], "qualified")).to_be_visible(timeout=LIVE_TIMEOUT)
    await expect(card(sales, opp["id"], "lead")).to_have_count(0)

    # A new deal appears at the top of its column (the newest first, as the server orders them).
    created = baton.gql(CREATE, {"i": {"title": "实时新商机", "accountName": "上海星辰科技", "amount": "1234.50", "currency": "CNY"}},
                        token=baton.token("sales@demo.baton"))["createOpportunity"]["opportunity"]
    await expect(card(sales, created["id"], "lead")).to_be_visible(timeout=LIVE_TIMEOUT)
    first = sales.get_by_test_id("column-lead").locator('[data-testid="card"]').first
    await expect(first).to_have_attribute("data-id", created["id"])
    await sales.wait_for_timeout(500)

    assert "Board" not in sent, sent  # no whole-board read for these events
    assert 1 <= sent.count("BoardChanges") <= 2, sent  # one per burst (the two events may share one)
    live = await column_figures(sales)
    await sales.reload()  # a fresh load of the same board
    await expect(sales.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    await sales.wait_for_timeout(300)
    assert await column_figures(sales) == live
    assert not sales.errors, sales.errors


async def test_a_filtered_board_applies_events_under_its_filter(baton, browser):
    """The server says which named cards belong under the filter: a matching card moves, a
    card that does not match never appears, and the whole board is not read again."""
    sales = await sign_in(browser, baton, "sales", route="board")
    await expect(sales.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    await sales.locator("input[name=search]").fill("Data platform")
    await sales.wait_for_timeout(800)
    sent = reads(sales)
    token = baton.token("sales@demo.baton")
    opp = baton.card_id("Data platform renewal", token)
    baton.gql(MOVE, {"i": {"id": opp["id"], "version": opp["version"], "stageKey": "qualified"}}, token=token)
    await expect(card(sales, opp["id"], "qualified")).to_be_visible(timeout=LIVE_TIMEOUT)
    await expect(card(sales, opp["id"], "lead")).to_have_count(0)
    other = baton.gql(CREATE, {"i": {"title": "不匹配的商机", "accountName": "北京"}}, token=token)["createOpportunity"]["opportunity"]
    await sales.wait_for_timeout(1500)
    await expect(sales.locator(f'[data-testid="card"][data-id="{other["id"]}"]')).to_have_count(0)
    assert "Board" not in sent and sent.count("BoardChanges") >= 2, sent
    assert await sales.get_by_test_id("column-lead").locator(".col-count").text_content() == "0"


async def test_cards_arriving_together_in_an_empty_column_all_land(baton, browser):
    """An import writes its deals in one transaction, so the board gets their events in one
    batch: each lands in its column, though the column's new count already includes the others."""
    sales = await sign_in(browser, baton, "sales", route="board")
    await expect(sales.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    await sales.locator("input[name=search]").fill("Twin harbor")
    await sales.wait_for_timeout(800)
    assert await sales.get_by_test_id("column-qualified").locator(".col-count").text_content() == "0"
    rows = ("Title,Account,Stage,Owner email\nTwin harbor north,Harbor Co,qualified,admin@demo.baton\n"
            "Twin harbor south,Harbor Co,qualified,admin@demo.baton\n")
    operations = {"query": "mutation($f: Upload!) { importOpportunities(input: {file: $f}) { created rejected { row } userErrors { message } } }",
                  "variables": {"f": None}}
    answer = httpx.post(f"{baton.base}/graphql", data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f"]})},
                        files={"0": ("deals.csv", rows.encode(), "text/csv")},
                        headers={"authorization": f"Bearer {baton.token('admin@demo.baton')}"}, timeout=10).json()
    assert answer["data"]["importOpportunities"] == {"created": 2, "rejected": [], "userErrors": []}, answer
    column = sales.get_by_test_id("column-qualified")
    await expect(column.locator(".card-title")).to_have_text(["Twin harbor south", "Twin harbor north"], timeout=LIVE_TIMEOUT)
    await expect(column.locator(".col-count")).to_have_text("2")
    assert not sales.errors, sales.errors


async def test_a_card_whose_event_comes_after_the_new_count_still_lands(baton, browser):
    """Two deals created one after the other reach the board in two batches; the first batch's
    answer already counts the second deal. Both cards land: the column was held whole."""
    sales = await sign_in(browser, baton, "sales", route="board")
    await expect(sales.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    await sales.locator("input[name=search]").fill("Split batch")
    await sales.wait_for_timeout(800)
    column = sales.get_by_test_id("column-qualified")
    assert await column.locator(".col-count").text_content() == "0"
    token = baton.token("sales@demo.baton")

    def create(title):
        made = baton.gql(CREATE, {"i": {"title": title, "accountName": "Split Co", "stageKey": "qualified"}}, token=token)
        assert made["createOpportunity"]["userErrors"] == [], made

    held = []

    async def hold_first_changes(route):
        if not held and "BoardChanges" in (route.request.post_data or ""):
            held.append(route)
            create("Split batch second")  # lands before the first batch's answer is read
        await route.continue_()

    await sales.route("**/graphql", hold_first_changes)
    create("Split batch first")
    await expect(column.locator(".card-title")).to_have_text(["Split batch second", "Split batch first"], timeout=LIVE_TIMEOUT)
    await expect(column.locator(".col-count")).to_have_text("2")
    assert held and not sales.errors, sales.errors


async def test_a_column_held_in_part_takes_new_cards_but_not_older_ones(baton, browser):
    """A column shows its newest page of cards (100, the server's page size). A change to a card beyond them leaves the column as
    it is (that card would be on a later page); a new deal goes on top; a held card changes in place."""
    rows = "Title,Account,Stage,Owner email\n" + "".join(f"Bulk deal {i:03},Bulk Co,qualified,sales@demo.baton\n" for i in range(101))
    operations = {"query": "mutation($f: Upload!) { importOpportunities(input: {file: $f}) { created userErrors { message } } }",
                  "variables": {"f": None}}
    token = baton.token("sales@demo.baton")
    answer = httpx.post(f"{baton.base}/graphql", data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f"]})},
                        files={"0": ("deals.csv", rows.encode(), "text/csv")},
                        headers={"authorization": f"Bearer {baton.token('admin@demo.baton')}"}, timeout=60).json()
    assert answer["data"]["importOpportunities"] == {"created": 101, "userErrors": []}, answer
    sales = await sign_in(browser, baton, "sales", route="board")
    await expect(sales.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    await sales.locator("input[name=search]").fill("Bulk deal")
    column = sales.get_by_test_id("column-qualified")
    await expect(column.locator(".col-count")).to_have_text("101", timeout=LIVE_TIMEOUT)
    titles = column.locator(".card-title")
    await expect(titles).to_have_count(100)
    await expect(titles.first).to_have_text("Bulk deal 100")
    await expect(titles.last).to_have_text("Bulk deal 001")

    update = "mutation($i: UpdateOpportunityInput!){ updateOpportunity(input: $i){ userErrors{ message } } }"
    for title in ("Bulk deal 000", "Bulk deal 050"):  # the one beyond the page first, then a held one
        card_ = baton.card_id(title, token)
        done = baton.gql(update, {"i": {"id": card_["id"], "version": card_["version"], "title": f"{title} renamed"}}, token=token)
        assert done["updateOpportunity"]["userErrors"] == [], done
    await expect(column.locator(".card-title", has_text="Bulk deal 050 renamed")).to_have_count(1, timeout=LIVE_TIMEOUT)
    await expect(column.locator(".card-title", has_text="Bulk deal 000")).to_have_count(0)
    await expect(titles).to_have_count(100)

    made = baton.gql(CREATE, {"i": {"title": "Bulk deal newest", "accountName": "Bulk Co", "stageKey": "qualified"}}, token=token)
    assert made["createOpportunity"]["userErrors"] == [], made
    await expect(titles.first).to_have_text("Bulk deal newest", timeout=LIVE_TIMEOUT)
    await expect(column.locator(".col-count")).to_have_text("102")
    await expect(titles).to_have_count(101)
    assert not sales.errors, sales.errors


async def test_the_board_offers_only_moves_and_edits_that_will_succeed(baton, browser):
    """viewerCanMove / viewerCanUpdate: a read-only viewer gets no move button, no drag and a
    read-only drawer; the owner gets all three."""
    viewer = await sign_in(browser, baton, "viewer", route="board")
    sales = await sign_in(browser, baton, "sales", route="board")
    opp = baton.card_id("Fleet telematics pilot", baton.token("sales@demo.baton"))
    mine = card(sales, opp["id"], "lead")
    theirs = card(viewer, opp["id"], "lead")
    await expect(mine.locator(".move-btn")).to_have_count(1)
    await expect(theirs).to_be_visible()
    await expect(theirs.locator(".move-btn")).to_have_count(0)
    await expect(theirs).to_have_class(re.compile(r"\bno-move\b"))

    # A drag attempt leaves the card where it is, and nothing is sent.
    sent = reads(viewer)
    box = await theirs.bounding_box()
    target = await viewer.get_by_test_id("column-qualified").locator(".cards").bounding_box()
    await viewer.mouse.move(box["x"] + box["width"] / 2, box["y"] + 30)
    await viewer.mouse.down()
    await viewer.mouse.move(target["x"] + target["width"] / 2, target["y"] + 40, steps=15)
    await viewer.mouse.up()
    await viewer.wait_for_timeout(500)
    await expect(theirs).to_be_visible()
    assert "Move" not in sent, sent

    await theirs.click()
    drawer = viewer.get_by_test_id("drawer")
    await expect(drawer.locator("#details-form input[name=title]")).to_be_disabled()
    await expect(drawer.locator("#drawer-move-go")).to_have_count(0)
    await expect(drawer.locator("#details-note")).not_to_be_empty()
    await mine.click()
    await expect(sales.get_by_test_id("drawer").locator("#details-form input[name=title]")).to_be_enabled()
    assert not viewer.errors and not sales.errors, viewer.errors + sales.errors
