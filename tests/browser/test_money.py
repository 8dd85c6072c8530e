"""Column headers show one total per currency and the base-currency total (or which
rate is missing); the new-deal dialog offers a currency, the base one chosen."""
import pytest
from playwright.async_api import expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


async def test_column_header_totals_per_currency_and_in_the_base(baton, browser, artifacts):
    page = await sign_in(browser, baton, "sales", route="board")
    negotiation = page.get_by_test_id("column-negotiation")
    # The demo's Negotiation column: 1,250,000 + 240,000 USD and the 64,000 EUR payments deal.
    await expect(negotiation.get_by_test_id("col-totals")).to_have_text("$1.5M + €64K")
    await expect(negotiation.get_by_test_id("col-base-total")).to_have_text("≈ $1.6M")
    # A currency without a rate is named, not added.
    admin = baton.token("admin@demo.baton")
    made = baton.gql('mutation { createOpportunity(input: {title: "Pound deal", accountName: "Acme UK", amount: "5000", currency: "GBP"}) { userErrors { code } } }', token=admin)
    assert made["createOpportunity"]["userErrors"] == []
    lead = page.get_by_test_id("column-lead")
    await expect(lead.get_by_test_id("col-base-total")).to_have_text("· rate missing: GBP", timeout=15_000)
    await page.locator("#new-card").click()
    await expect(page.get_by_test_id("new-card-currency")).to_have_value("USD")
    await page.screenshot(path=str(artifacts / "money-columns.png"))
    assert not page.errors, page.errors
