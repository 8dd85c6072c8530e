"""Exchange rates (`#/rates`) and money that adds up: an admin sets a rate (or the base currency) and
the board's mixed-currency column and the analytics' totals convert at it, by the figure this test
computes; a currency without a rate is named instead of added; others read the rates but get no
form. In 简体中文 on the Chinese demo and in English, at 1440×900 and 390×844 (nothing scrolls
sideways, every label in the viewport, no word outside the page's language)."""
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import DESKTOP, LIVE_TIMEOUT, PASSWORD, PHONE, running_server
from tests.browser.test_i18n import HAN, Screens, data_strings, go

pytestmark = pytest.mark.browser

CENT = Decimal("0.01")

SET_RATE = "mutation($i: SetExchangeRateInput!){ setExchangeRate(input: $i){ userErrors { field code message } } }"
CREATE = "mutation($i: CreateOpportunityInput!){ createOpportunity(input: $i){ userErrors { message } } }"
COLUMNS = "{ board { columns { stage { key } totals { amount currency } baseTotal { amount currency missingRates } } } }"
MONEY = "{ analytics { openTotals { amount currency } openBaseTotal { amount currency missingRates } } }"

# Anything of the view (labels, headings, figures, fields, buttons) outside the viewport, and money figures
# spilling out of their cards.
OUTSIDE = """() => {
  const vw = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('#view :is(h1, h2, label, th, td, p, button, input, a, .kpi-value, .money-part)')) {
    if (!el.getClientRects().length) continue;
    const r = el.getBoundingClientRect();
    if (r.left < -1 || r.right > vw + 1) out.push(`${el.localName} "${(el.textContent || el.name).trim().slice(0, 30)}" ${Math.round(r.left)}–${Math.round(r.right)} of ${vw}`);
  }
  for (const el of document.querySelectorAll('#view .money-kpi > *')) {
    const card = el.parentElement.getBoundingClientRect();
    if (el.getBoundingClientRect().right > card.right + 1 || el.scrollWidth > el.clientWidth + 1) out.push(`spills its card: "${el.textContent.trim()}"`);
  }
  return out;
}"""


def convert(totals: list[dict], rates: dict[str, Decimal], base: str) -> Decimal:
    """As the server converts: each currency's sum at its rate, rounded to cents, then added."""
    total = Decimal(0)
    for m in totals:
        amount = Decimal(m["amount"])
        total += amount if m["currency"] == base else (amount * rates[m["currency"]]).quantize(CENT, ROUND_HALF_UP)
    return total


def plain(amount: Decimal, symbol: str) -> str:
    """A whole amount as the analytics' money cards write it: ¥15,168,300, €1,434,800."""
    assert amount == amount.to_integral_value(), amount
    return f"{symbol}{int(amount):,}"


def columns(server, token) -> dict[str, dict]:
    return {c["stage"]["key"]: c for c in server.gql(COLUMNS, token=token)["board"]["columns"]}


def server_says(server, token, rate_input: dict, language: str) -> list[str]:
    """The userErrors the API gives for this input, in `language`: the words the form must show as they are."""
    r = httpx.post(f"{server.base}/graphql", json={"query": SET_RATE, "variables": {"i": rate_input}},
                   headers={"authorization": f"Bearer {token}", "accept-language": language}, timeout=10)
    return [e["message"] for e in r.json()["data"]["setExchangeRate"]["userErrors"]]


async def signed_in(browser, server, who: str, *, locale: str, viewport: dict):
    context = await browser.new_context(viewport=viewport, locale=locale)
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.goto(server.base + "/")
    await page.get_by_test_id("login-email").fill(f"{who}@demo.baton")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.locator(".topbar").wait_for()
    return page


async def page_money(page, amount: Decimal, currency: str, compact: bool) -> str:
    """The board's own compact formatting (util.money) of a figure this test computed."""
    return await page.evaluate("async ([a, c, k]) => (await import('/static/js/util.js')).money(a, c, k)", [str(amount), currency, compact])


async def set_rate(page, currency: str, rate: str):
    form = page.get_by_test_id("rate-form")
    await form.get_by_test_id("rate-currency").fill(currency)
    await form.get_by_test_id("rate-value").fill(rate)
    await form.get_by_test_id("rate-submit").click()


async def fits(page, screens: Screens, screen: str):
    """No sideways scroll, nothing clipped, every label and figure inside the viewport, no word of the other language."""
    await screens.check(screen)
    assert await page.evaluate(OUTSIDE) == [], screen
    assert await page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


async def test_an_admin_sets_a_usd_rate_and_chinese_totals_convert(browser, artifacts):
    with running_server("--locale", "zh-CN") as server:
        admin = server.token("admin@demo.baton")
        assert server.gql("{ baseCurrency }", token=admin)["baseCurrency"] == "CNY"
        demo_rates = {r["currency"]: Decimal(r["rate"]) for r in server.gql("{ exchangeRates { currency rate } }", token=admin)["exchangeRates"]}
        assert demo_rates == {"USD": Decimal("7.1"), "EUR": Decimal("7.75")}
        data = data_strings(server, admin) + ["英镑测试商机", "伦敦贸易有限公司"]

        page = await signed_in(browser, server, "admin", locale="zh-CN", viewport=DESKTOP)
        screens = Screens(page, server, data, "zh-CN", "rates-zh-desktop", artifacts)
        await page.get_by_test_id("nav-settings").click()  # admins reach it from Settings › Integrations
        await page.get_by_test_id("settings-tab-integrations").click()
        await page.get_by_test_id("rates-link").click()
        await page.get_by_test_id("rate-row").first.wait_for()
        await expect(page.locator("#view h1")).to_have_text("汇率")
        await expect(page.get_by_test_id("base-code")).to_have_text("CNY")
        usd_now = page.locator('[data-testid="rate-row"][data-currency="USD"][data-status="current"]')
        await expect(usd_now.get_by_test_id("rate-figure")).to_have_text("7.1")

        # A rate that is not a number is caught here; the server's refusals are shown in its own (Chinese) words.
        await set_rate(page, "USD", "七点二")
        await expect(page.get_by_test_id("rate-error")).to_have_text("汇率须为数字，如 7.1。")
        await expect(page.get_by_test_id("rate-value")).to_have_attribute("aria-invalid", "true")
        await expect(page.get_by_test_id("rate-value")).to_be_focused()
        refused = server_says(server, admin, {"currency": "CNY", "rate": "-1"}, "zh-CN")
        assert len(refused) == 2 and all(HAN.search(m) for m in refused), refused
        await set_rate(page, "cny", "-1")
        await expect(page.get_by_test_id("rate-error")).to_have_text(" ".join(refused))
        await expect(page.get_by_test_id("rate-currency")).to_have_attribute("aria-invalid", "true")
        await expect(page.get_by_test_id("rate-value")).to_have_attribute("aria-invalid", "true")
        assert server.gql("{ exchangeRates(currency: \"CNY\") { rate } }", token=admin)["exchangeRates"] == []

        # USD at 7.2 from today: it applies, the demo's 7.1 is superseded.
        await set_rate(page, "USD", "7.2")
        await expect(page.locator(".toast-ok").last).to_contain_text("1 USD = 7.2 CNY")
        await expect(usd_now.get_by_test_id("rate-figure")).to_have_text("7.2")
        await expect(usd_now.locator(".rate-updated")).to_contain_text("设置于")  # who set it (ExchangeRate.setBy)
        await expect(page.locator('[data-testid="rate-row"][data-currency="USD"][data-status="superseded"]')).to_have_count(1)
        await expect(page.get_by_test_id("rate-error")).to_be_empty()
        await expect(page.get_by_test_id("rate-submit")).to_be_focused()  # ready for the next rate
        await fits(page, screens, "rates")
        rates = {**demo_rates, "USD": Decimal("7.2")}

        # The board's mixed column (yuan and dollars): its total in yuan at 7.2, as computed here.
        negotiation = columns(server, admin)["negotiation"]
        assert {m["currency"] for m in negotiation["totals"]} == {"CNY", "USD"}
        expected = convert(negotiation["totals"], rates, "CNY")
        assert Decimal(negotiation["baseTotal"]["amount"]) == expected
        await go(page, server, "board", '[data-testid="col-totals"]')
        shown = "≈ " + await page_money(page, expected, "CNY", True)
        assert shown != "≈ " + await page_money(page, convert(negotiation["totals"], demo_rates, "CNY"), "CNY", True)
        await expect(page.get_by_test_id("column-negotiation").get_by_test_id("col-base-total")).to_have_text(shown)

        # Analytics: the open pipeline per currency and in yuan; the stage table as the board's column.
        open_totals = server.gql(MONEY, token=admin)["analytics"]["openTotals"]
        assert len(open_totals) == 3, open_totals
        open_expected = convert(open_totals, rates, "CNY")
        symbols = {"CNY": "¥", "EUR": "€", "USD": "US$"}
        await go(page, server, "analytics", '[data-testid="money-open"]')
        await expect(page.get_by_test_id("money-open-base")).to_have_text(f"≈ {plain(open_expected, '¥')}")
        await expect(page.get_by_test_id("money-open-parts")).to_have_text(
            " + ".join(plain(Decimal(m["amount"]), symbols[m["currency"]]) for m in open_totals))
        await expect(page.locator('[data-testid="stage-money"][data-stage="negotiation"] [data-testid="stage-money-base"]')).to_have_text(shown)
        await expect(page.get_by_test_id("money-open")).to_contain_text("的汇率折算为 CNY")
        await fits(page, screens, "analytics")

        # A deal in pounds, which have no rate: named, never added, on the board, in analytics and on the rates page.
        made = server.gql(CREATE, {"i": {"title": "英镑测试商机", "accountName": "伦敦贸易有限公司", "amount": "5000", "currency": "GBP"}}, token=admin)
        assert made["createOpportunity"]["userErrors"] == []
        await expect(page.get_by_test_id("money-open-missing")).to_have_text("缺少 GBP 的汇率", timeout=LIVE_TIMEOUT)  # live refresh
        await expect(page.get_by_test_id("money-open-base")).to_have_count(0)
        await expect(page.get_by_test_id("money-all-missing")).to_have_text("缺少 GBP 的汇率")
        await expect(page.locator('[data-testid="stage-money"][data-stage="lead"] [data-testid="stage-money-base"]')).to_have_text("缺少 GBP 的汇率")
        await fits(page, screens, "analytics rate missing")
        await go(page, server, "board", '[data-testid="col-totals"]')
        await expect(page.get_by_test_id("column-lead").get_by_test_id("col-base-total")).to_contain_text("缺少汇率：GBP")
        await go(page, server, "rates", '[data-testid="rate-row"]')
        await expect(page.get_by_test_id("rates-missing")).to_contain_text("GBP 的商机还没有汇率")
        await set_rate(page, "GBP", "9.1")
        await expect(page.get_by_test_id("rates-missing")).to_be_hidden()
        await go(page, server, "analytics", '[data-testid="money-open"]')
        await expect(page.get_by_test_id("money-open-base")).to_have_text(f"≈ {plain(open_expected + Decimal(5000) * Decimal('9.1'), '¥')}")
        assert not page.errors, page.errors

        # On a phone: the forms, the list and the money cards fit, in Chinese.
        phone = await signed_in(browser, server, "admin", locale="zh-CN", viewport=PHONE)
        small = Screens(phone, server, data, "zh-CN", "rates-zh-phone", artifacts)
        await go(phone, server, "rates", '[data-testid="rate-row"]')
        await fits(phone, small, "rates")
        await go(phone, server, "analytics", '[data-testid="money-open"]')
        await fits(phone, small, "analytics")

        # Sales reads the rates (from the analytics' link; not in their header) but gets no form.
        sales = await signed_in(browser, server, "sales", locale="zh-CN", viewport=DESKTOP)
        reader = Screens(sales, server, data, "zh-CN", "rates-zh-sales", artifacts)
        await expect(sales.locator('.nav a[data-route="rates"]')).to_have_count(0)
        await go(sales, server, "analytics", '[data-testid="rates-link"]')
        await sales.get_by_test_id("rates-link").click()
        await sales.get_by_test_id("rate-row").first.wait_for()
        await expect(sales.locator('[data-testid="rate-row"][data-currency="GBP"][data-status="current"] [data-testid="rate-figure"]')).to_have_text("9.1")
        await expect(sales.get_by_test_id("rates-read-only")).to_have_text("只有管理员可以更改汇率和本位币。")
        await expect(sales.get_by_test_id("rate-form")).to_have_count(0)
        await expect(sales.get_by_test_id("base-form")).to_have_count(0)
        await fits(sales, reader, "rates read only")
        for screen in (screens, small, reader):
            screen.verdict()
        assert not phone.errors + sales.errors


async def test_an_english_admin_changes_the_base_then_sets_a_usd_rate_on_a_phone(browser, artifacts):
    with running_server() as server:
        admin = server.token("admin@demo.baton")
        data = data_strings(server, admin)
        page = await signed_in(browser, server, "admin", locale="en-US", viewport=PHONE)
        screens = Screens(page, server, data, "en", "rates-en-phone", artifacts)
        await go(page, server, "rates", '[data-testid="rate-row"]')
        await expect(page.get_by_test_id("base-code")).to_have_text("USD")
        await fits(page, screens, "rates")

        # Euros become the base: the dollar rates no longer apply, and dollars have no rate into euros.
        await page.get_by_test_id("base-input").fill("eur")
        await page.get_by_test_id("base-submit").click()
        await expect(page.locator(".toast-ok").last).to_contain_text("The base currency is now EUR.")
        await expect(page.get_by_test_id("base-code")).to_have_text("EUR")
        await expect(page.get_by_test_id("rates-empty")).to_have_text("No rates into EUR yet.")
        await expect(page.get_by_test_id("rates-missing")).to_contain_text("Deals in USD have no rate yet")
        assert server.gql(MONEY, token=admin)["analytics"]["openBaseTotal"]["missingRates"] == ["USD"]
        await fits(page, screens, "rates no rates")
        await go(page, server, "board", '[data-testid="col-totals"]')
        await expect(page.get_by_test_id("column-negotiation").get_by_test_id("col-base-total")).to_have_text("· rate missing: USD")
        await go(page, server, "analytics", '[data-testid="money-open"]')
        await expect(page.get_by_test_id("money-open-missing")).to_have_text("Rate missing for USD")
        await fits(page, screens, "analytics rate missing")

        # A dollar is worth 0.92 euros: the mixed column and the open pipeline convert into euros.
        await go(page, server, "rates", '[data-testid="rate-form"]')
        await set_rate(page, "USD", "0.92")
        await expect(page.locator('[data-testid="rate-row"][data-currency="USD"][data-status="current"] [data-testid="rate-figure"]')).to_have_text("0.92")
        await expect(page.get_by_test_id("rates-missing")).to_be_hidden()
        rates = {"USD": Decimal("0.92")}
        negotiation = columns(server, admin)["negotiation"]
        assert {m["currency"] for m in negotiation["totals"]} == {"USD", "EUR"}
        expected = convert(negotiation["totals"], rates, "EUR")
        assert Decimal(negotiation["baseTotal"]["amount"]) == expected
        await go(page, server, "board", '[data-testid="col-totals"]')
        await expect(page.get_by_test_id("column-negotiation").get_by_test_id("col-base-total")).to_have_text(
            "≈ " + await page_money(page, expected, "EUR", True))
        open_expected = convert(server.gql(MONEY, token=admin)["analytics"]["openTotals"], rates, "EUR")
        await go(page, server, "analytics", '[data-testid="money-open"]')
        await expect(page.get_by_test_id("money-open-base")).to_have_text(f"≈ {plain(open_expected, '€')}")
        await expect(page.get_by_test_id("money-open")).to_contain_text("In EUR at rates of")
        await fits(page, screens, "analytics converted")
        assert not page.errors, page.errors

        # A member reads the rates on a phone, without forms.
        sales = await signed_in(browser, server, "sales", locale="en-US", viewport=PHONE)
        reader = Screens(sales, server, data, "en", "rates-en-sales-phone", artifacts)
        await go(sales, server, "rates", '[data-testid="rate-row"]')
        await expect(sales.get_by_test_id("base-code")).to_have_text("EUR")
        await expect(sales.get_by_test_id("rates-read-only")).to_have_text("Only admins can change the exchange rates and the base currency.")
        await expect(sales.get_by_test_id("rate-form")).to_have_count(0)
        await expect(sales.get_by_test_id("base-form")).to_have_count(0)
        await fits(sales, reader, "rates read only")
        screens.verdict()
        reader.verdict()
        assert not sales.errors, sales.errors
