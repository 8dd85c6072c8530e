"""Settings › Access and Settings › Integrations (issue 24) in the browser (web/js/settings_access.js,
settings_integrations.js): a DEPARTMENT rule set through the form and "view as" showing the count the
user's own board gets; a read-only department API token created, used over HTTP (reads work, writes are
refused), revoked in the page and refused from then on; a webhook to a closed local port whose delivery
log shows the failure and a Redeliver making a new attempt, then deleted; both tabs in Chinese on a
phone with nothing wider than the screen. Screenshots go to test-artifacts/settings-access-*.png and
settings-integrations-*.png."""
import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import DESKTOP, PHONE, free_port, running_server, shoot, sign_in
from tests.browser.test_settings_people import OVERFLOW

pytestmark = pytest.mark.browser

COUNT = "{ opportunities { totalCount } }"


def post(base, query, token, variables=None) -> dict:
    return httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}},
                      headers={"authorization": f"Bearer {token}"}, timeout=10).json()


async def fits(page, state):
    assert await page.evaluate(OVERFLOW) == [], state


@pytest.fixture
def webhook_baton(monkeypatch):
    # Loopback targets are refused unless allowed; deliveries are tried every half second.
    monkeypatch.setenv("BATON_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("BATON_WEBHOOK_INTERVAL_SECONDS", "0.5")
    with running_server() as server:
        yield server


async def test_access_rules_view_as_tokens_and_webhooks(webhook_baton, browser):
    baton = webhook_baton
    admin_token = baton.token("admin@demo.baton")
    legal = next(u for u in baton.gql("{ users { id name email } }", token=admin_token)["users"] if u["email"] == "legal@demo.baton")

    # ---------------------------------------------------------------- access: a DEPARTMENT rule, view as
    page = await sign_in(browser, baton, "admin", viewport=DESKTOP, route="settings/access")
    await expect(page.get_by_test_id("settings-tab-access")).to_have_attribute("aria-selected", "true")
    tabs = await page.get_by_test_id("settings-tabs").locator("[role=tab]").evaluate_all("els => els.map((a) => a.dataset.tab)")
    assert tabs == ["people", "departments", "pipeline", "assignment", "access", "integrations", "log", "profile"]
    await expect(page.get_by_test_id("access-rules-empty")).to_be_visible()
    # Before any rule: legal sees every card.
    await page.get_by_test_id("access-view-user").select_option(legal["id"])
    count = page.get_by_test_id("access-preview-count")
    total = baton.gql(COUNT, token=admin_token)["opportunities"]["totalCount"]
    await expect(count).to_have_attribute("data-visible", str(total))

    form = page.get_by_test_id("access-form")
    await form.get_by_test_id("access-role").select_option("MEMBER")
    await form.get_by_test_id("access-department").select_option("legal")
    await form.get_by_test_id("access-scope").select_option("DEPARTMENT")
    await form.get_by_test_id("access-hide-amount").check()
    await form.get_by_test_id("access-hide-probability").check()
    await form.get_by_test_id("access-save").click()
    row = page.get_by_test_id("access-rule-row")
    await expect(row).to_have_count(1)
    await expect(row.get_by_test_id("access-rule-scope")).to_have_attribute("data-scope", "DEPARTMENT")
    # The preview follows the saved rule and equals legal's own read.
    seen = baton.gql(COUNT, token=baton.token("legal@demo.baton"))["opportunities"]["totalCount"]
    assert seen < total
    await expect(count).to_have_attribute("data-visible", str(seen))
    await expect(count).to_have_attribute("data-total", str(total))
    await expect(count).to_contain_text(f"{legal['name']} sees {seen} of {total} cards")
    await expect(page.get_by_test_id("access-preview-hidden")).to_contain_text("Amount")
    await expect(page.get_by_test_id("access-preview-hidden")).to_contain_text("Probability")
    await shoot(page, "settings-access-en-desktop")

    # ---------------------------------------------------------------- a read-only department token
    await page.get_by_test_id("settings-tab-integrations").click()
    await expect(page.get_by_test_id("settings-panel")).to_have_attribute("data-tab", "integrations")
    tokens = page.get_by_test_id("token-form")
    await tokens.get_by_test_id("token-name").fill("Legal dashboard")
    await tokens.get_by_test_id("token-scope-select").select_option("READ")
    await tokens.get_by_test_id("token-department").select_option("legal")
    await tokens.get_by_test_id("token-create").click()
    secret = page.get_by_test_id("token-secret")
    await expect(secret).to_be_visible()
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.get_by_test_id("token-secret-copy").click()
    await expect(page.get_by_test_id("token-secret-copied")).not_to_be_empty()
    value = await page.get_by_test_id("token-secret-value").input_value()
    assert value
    row = page.get_by_test_id("token-row").filter(has_text="Legal dashboard")
    await expect(row.get_by_test_id("token-scope")).to_have_text("Read only")
    await expect(row).to_contain_text("Legal")
    await shoot(page, "settings-integrations-token-en-desktop")
    # It reads over HTTP, and a write is refused.
    assert post(baton.base, COUNT, value)["data"]["opportunities"]["totalCount"] >= 0
    write = post(baton.base, 'mutation { createOpportunity(input: {title: "Via token", accountName: "Token Ltd"}) { userErrors { code message } } }', value)
    refused = write.get("errors") or write["data"]["createOpportunity"]["userErrors"]
    assert refused and (write.get("errors") or refused[0]["code"] == "FORBIDDEN")
    # Revoked in the page, it stops working.
    await row.get_by_test_id("token-revoke").click()
    await page.get_by_test_id("confirm-dialog").get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("token-row").filter(has_text="Legal dashboard")).to_have_count(0)
    await page.get_by_test_id("show-revoked").check()
    await expect(page.get_by_test_id("token-row").filter(has_text="Legal dashboard")).to_have_attribute("data-revoked", "true")
    after = httpx.post(f"{baton.base}/graphql", json={"query": COUNT}, headers={"authorization": f"Bearer {value}"}, timeout=10)
    assert after.status_code == 401 or after.json().get("errors"), after.text

    # ---------------------------------------------------------------- a webhook to a closed port
    closed = f"http://127.0.0.1:{free_port()}/hook"
    hooks = page.get_by_test_id("webhook-form")
    await hooks.get_by_test_id("webhook-url").fill(closed)
    await hooks.get_by_test_id("webhook-event-OPPORTUNITY_CREATED").check()
    await hooks.get_by_test_id("webhook-create").click()
    await expect(page.get_by_test_id("webhook-secret-value")).not_to_have_value("")
    hook = page.get_by_test_id("webhook-row").filter(has_text=closed)
    await expect(hook).to_contain_text("OPPORTUNITY_CREATED")
    created = baton.gql('mutation { createOpportunity(input: {title: "Hooked deal", accountName: "Hook Ltd"}) { userErrors { message } } }', token=admin_token)
    assert created["createOpportunity"]["userErrors"] == []
    await hook.get_by_test_id("webhook-deliveries").click()
    dialog = page.get_by_test_id("deliveries-dialog")
    delivery = dialog.get_by_test_id("delivery-row")
    for _ in range(40):  # the worker tries every half second
        await dialog.get_by_test_id("deliveries-refresh").click()
        await page.wait_for_timeout(500)
        if await delivery.count() and int(await delivery.first.get_attribute("data-attempts")) >= 1:
            break
    await expect(delivery).to_have_count(1)
    assert int(await delivery.first.get_attribute("data-attempts")) >= 1
    await expect(delivery.first.get_by_test_id("delivery-status")).not_to_contain_text("Delivered")
    await shoot(page, "settings-integrations-deliveries-en-desktop")
    await delivery.first.get_by_test_id("delivery-redeliver").click()
    await expect(delivery).to_have_count(2)
    await dialog.get_by_role("button", name="Close").first.click()
    await hook.get_by_test_id("webhook-delete").click()
    await page.get_by_test_id("confirm-dialog").get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("webhook-row")).to_have_count(0)
    assert baton.gql("{ webhooks { id } }", token=admin_token)["webhooks"] == []

    # ---------------------------------------------------------------- a department's channel: added, removed
    channels = page.get_by_test_id("channel-form")
    await channels.get_by_test_id("channel-department").select_option("legal")
    await channels.get_by_test_id("channel-type").select_option("EMAIL")
    await channels.get_by_test_id("channel-name").fill("Legal inbox")
    await channels.get_by_test_id("channel-target").fill("legal-team@example.com")
    await channels.get_by_test_id("channel-create").click()
    channel = page.get_by_test_id("channel-row").filter(has_text="Legal inbox")
    await expect(channel).to_contain_text("legal-team@example.com")
    await expect(channel.get_by_test_id("channel-status")).to_have_text("On")
    await channel.scroll_into_view_if_needed()
    await shoot(page, "settings-integrations-channels-en-desktop")
    await channel.get_by_test_id("channel-remove").click()
    await page.get_by_test_id("confirm-dialog").get_by_test_id("confirm-ok").click()
    await expect(channel).to_have_count(0)
    await expect(page.get_by_test_id("rates-link")).to_have_attribute("href", "#/rates")
    await shoot(page, "settings-integrations-en-desktop")
    await fits(page, "integrations desktop")
    assert page.errors == []

    # ---------------------------------------------------------------- Chinese on a phone
    phone = await sign_in(browser, baton, "admin", viewport=PHONE)
    await phone.get_by_test_id("lang-switch").click()
    await expect(phone.locator("html")).to_have_attribute("lang", "zh-CN")
    await phone.goto(baton.base + "/#/settings/access")
    await expect(phone.get_by_test_id("access-rule-row")).to_have_count(1)
    await expect(phone.get_by_test_id("settings-tab-access")).to_have_text("访问权限")
    await phone.get_by_test_id("access-view-user").select_option(legal["id"])
    await expect(phone.get_by_test_id("access-preview-count")).to_have_attribute("data-visible", str(seen))
    await fits(phone, "access zh phone")
    await shoot(phone, "settings-access-zh-phone")
    await phone.get_by_test_id("access-preview").scroll_into_view_if_needed()
    await shoot(phone, "settings-access-preview-zh-phone")
    await phone.get_by_test_id("settings-tab-integrations").click()
    await expect(phone.get_by_test_id("token-form")).to_be_visible()
    await phone.get_by_test_id("show-revoked").check()
    await expect(phone.get_by_test_id("token-row").first).to_be_visible()
    await fits(phone, "integrations zh phone")
    await shoot(phone, "settings-integrations-zh-phone")
    await phone.get_by_test_id("token-row").first.scroll_into_view_if_needed()
    await shoot(phone, "settings-integrations-tokens-zh-phone")
    await phone.get_by_test_id("webhook-form").scroll_into_view_if_needed()
    await shoot(phone, "settings-integrations-webhooks-zh-phone")
    await phone.get_by_test_id("channel-form").scroll_into_view_if_needed()
    await shoot(phone, "settings-integrations-channels-zh-phone")
    # Desktop in Chinese too.
    await phone.set_viewport_size(DESKTOP)
    await fits(phone, "integrations zh desktop")
    await shoot(phone, "settings-integrations-zh-desktop")
    await phone.goto(baton.base + "/#/settings/access")
    await expect(phone.get_by_test_id("access-rule-row")).to_have_count(1)
    await shoot(phone, "settings-access-zh-desktop")
    assert phone.errors == []
