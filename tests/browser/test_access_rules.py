"""Access rules on the board: a marketing member restricted to marketing's cards
without amounts sees a sales card once marketing is asked to act on it, with a lock
where its amount and account would be."""
import pytest
from playwright.async_api import expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

SET_RULE = """mutation($i: SetAccessRuleInput!) { setAccessRule(input: $i) { userErrors { code message } } }"""
NODE = "query($id: ID!) { node(id: $id) { ... on Opportunity { title amount hiddenFields } } }"
TASK = 'mutation($id: ID!) { createTask(input: {opportunityId: $id, title: "Launch brief", departmentKey: "marketing"}) { userErrors { code } } }'


async def test_marketing_sees_a_sales_card_only_when_involved_and_never_its_amount(baton, browser, artifacts):
    admin = baton.token("admin@demo.baton")
    rule = {"role": "MEMBER", "departmentKey": "marketing", "scope": "DEPARTMENT", "hiddenFields": ["amount", "account"]}
    assert baton.gql(SET_RULE, {"i": rule}, token=admin)["setAccessRule"]["userErrors"] == []
    sales = baton.token("sales@demo.baton")
    opp = baton.card_id("Fleet telematics pilot", sales)
    marketing = baton.token("marketing@demo.baton")
    assert baton.gql(NODE, {"id": opp["id"]}, token=marketing)["node"] is None

    page = await sign_in(browser, baton, "marketing", route="board")
    await expect(page.get_by_test_id("column-lead")).to_be_visible()
    card = page.locator(f'[data-testid="card"][data-id="{opp["id"]}"]')
    await expect(card).to_have_count(0)

    assert baton.gql(TASK, {"id": opp["id"]}, token=sales)["createTask"]["userErrors"] == []
    assert baton.gql(NODE, {"id": opp["id"]}, token=marketing)["node"] == {
        "title": "Fleet telematics pilot", "amount": None, "hiddenFields": ["account", "amount"]}
    await page.reload()
    await expect(card).to_be_visible()
    await expect(card.get_by_test_id("locked")).to_have_count(2)  # amount and account
    await expect(card).not_to_contain_text("Northwind")
    await expect(card.locator(".amount")).not_to_contain_text("No amount")
    await page.screenshot(path=str(artifacts / "board-locked.png"))
    assert not page.errors, page.errors
