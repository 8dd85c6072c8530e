"""Settings › Profile › Notifications (issue 24; web/js/settings_profile.js): a member adds their own email
channel and a WeCom bot (its key masked), routes mentions to the email only, sets quiet hours 22:00–07:00
and a digest at 9:00, saves, and the API's notificationPreferences holds exactly that; a test message is
queued; a channel switched off shows "Turn on"; a bot is removed after a confirmation; a bad time shows the
server's userError beside the form. In 简体中文 on a phone the section has no English word and nothing wider
than the screen. Screenshots: test-artifacts/settings-notify-en-desktop.png, settings-notify-zh-phone.png."""
import re

import pytest
from playwright.async_api import expect

from resolvers.channels import KINDS
from tests.browser.conftest import DESKTOP, PHONE, REPO, shoot, sign_in
from tests.browser.test_i18n import Screens, data_strings
from tests.browser.test_settings_people import OVERFLOW

pytestmark = pytest.mark.browser

CHANNELS = "{ notificationChannels { edges { node { id type target enabled } } } }"
PREFS = "{ notificationPreferences { timeZone quietHoursStart quietHoursEnd digestTime routes { kind channelIds } } }"
DELIVERIES = "query($c: ID){ channelDeliveries(channelId: $c){ edges { node { kind status } } } }"
SET_CHANNEL = "mutation($i: SetNotificationChannelInput!){ setNotificationChannel(input: $i){ userErrors { message } } }"
SET_LOCALE = "mutation{ setMyLocale(input: {locale: \"zh-CN\"}){ userErrors { message } } }"
EMAIL = "sales.alerts@example.com"
BOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=secret-key-123"


def test_the_modules_kinds_mirror_the_server():
    """No query lists the kinds a route may name: the module keeps a copy, kept equal here."""
    source = (REPO / "web" / "js" / "settings_profile.js").read_text(encoding="utf-8")
    body = re.search(r"export const KINDS = \[(.*?)\];", source, re.S).group(1)
    assert re.findall(r"'(\w+)'", body) == list(KINDS)


def mine(baton, token) -> dict:
    return {c["node"]["type"]: c["node"] for c in baton.gql(CHANNELS, token=token)["notificationChannels"]["edges"]}


async def test_own_channels_routes_quiet_hours_and_digest(baton, browser):
    token = baton.token("sales@demo.baton")
    page = await sign_in(browser, baton, "sales", viewport=DESKTOP, route="settings/profile")
    section = page.get_by_test_id("notify")
    await expect(section).not_to_have_attribute("aria-busy", "true")
    await expect(section.get_by_test_id("notify-channels-empty")).to_be_visible()
    await expect(section.get_by_test_id("notify-routes-empty")).to_be_visible()

    # Two channels of one's own: an email address and a WeCom bot (no secret: WeCom does not sign).
    form = page.get_by_test_id("notify-channel-form")
    await expect(form.get_by_test_id("notify-channel-secret")).to_be_hidden()
    await form.get_by_test_id("notify-channel-target").fill(EMAIL)
    await form.get_by_test_id("notify-channel-add").click()
    rows = section.get_by_test_id("notify-channel-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first.get_by_test_id("notify-channel-target")).to_have_text(EMAIL)
    await form.get_by_test_id("notify-channel-type").select_option("WECOM")
    await expect(form.get_by_test_id("notify-channel-secret")).to_be_hidden()
    await form.get_by_test_id("notify-channel-add").click()  # a bot needs its address
    await expect(form.get_by_test_id("notify-channel-error")).not_to_be_empty()
    await form.get_by_test_id("notify-channel-target").fill(BOT)
    await form.get_by_test_id("notify-channel-add").click()
    await expect(rows).to_have_count(2)
    bot_row = section.locator('[data-testid=notify-channel-row][data-type=WECOM]')
    await expect(bot_row.get_by_test_id("notify-channel-target")).to_have_text(re.compile(r"key=\*\*\*$"))
    channels = mine(baton, token)
    email_id, bot_id = channels["EMAIL"]["id"], channels["WECOM"]["id"]
    assert channels["EMAIL"]["target"] == EMAIL and "secret-key-123" not in channels["WECOM"]["target"]

    # Mentions to the email only; quiet hours 22:00–07:00; the digest at 9:00 (written 9:00, kept as 09:00).
    routes = section.get_by_test_id("notify-route")
    await expect(routes).to_have_count(len(KINDS))
    mention = section.locator("[data-testid=notify-route][data-kind=mention]")
    await expect(mention.locator(f'input[value="{email_id}"]')).to_be_checked()
    await mention.locator(f'input[value="{bot_id}"]').uncheck()
    prefs = page.get_by_test_id("notify-prefs-form")
    await prefs.get_by_test_id("notify-quiet-start").fill("22:00")
    await prefs.get_by_test_id("notify-quiet-end").fill("07:00")
    await prefs.get_by_test_id("notify-digest").fill("9:00")
    await prefs.get_by_test_id("notify-save").click()
    await expect(page.locator(".toast-ok").filter(has_text="notification settings are saved")).to_be_visible()
    await expect(prefs.get_by_test_id("notify-digest")).to_have_value("09:00")
    assert baton.gql(PREFS, token=token)["notificationPreferences"] == {
        "timeZone": "Asia/Shanghai", "quietHoursStart": "22:00", "quietHoursEnd": "07:00", "digestTime": "09:00",
        "routes": [{"kind": "mention", "channelIds": [email_id]}],
    }
    await expect(prefs.get_by_test_id("notify-time-zone")).to_contain_text("Asia/Shanghai")

    # A test message, queued on the email channel.
    await rows.filter(has_text=EMAIL).get_by_test_id("notify-channel-test").click()
    await expect(section.get_by_test_id("notify-test-status")).to_contain_text("queued")
    sent = baton.gql(DELIVERIES, {"c": email_id}, token=token)["channelDeliveries"]["edges"]
    assert [d["node"]["kind"] for d in sent] == ["test"]
    await page.locator("#notify-heading").scroll_into_view_if_needed()
    await shoot(page, "settings-notify-en-desktop-channels")

    # A bad time: the server's userError beside the form, the field marked; nothing saved.
    await prefs.get_by_test_id("notify-quiet-start").fill("25:00")
    await prefs.get_by_test_id("notify-save").click()
    await expect(prefs.get_by_test_id("notify-prefs-error")).to_contain_text("08:30")
    await expect(prefs.get_by_test_id("notify-quiet-start")).to_have_attribute("aria-invalid", "true")
    assert baton.gql(PREFS, token=token)["notificationPreferences"]["quietHoursStart"] == "22:00"
    assert await page.evaluate(OVERFLOW) == []
    await shoot(page, "settings-notify-en-desktop")

    # Switched off (here through the API): "Turn on" instead of "Send a test", and on again.
    assert baton.gql(SET_CHANNEL, {"i": {"id": bot_id, "enabled": False}}, token=token)["setNotificationChannel"]["userErrors"] == []
    await page.reload()
    await expect(bot_row).to_have_attribute("data-enabled", "false")
    await expect(bot_row.get_by_test_id("notify-channel-test")).to_have_count(0)
    await bot_row.get_by_test_id("notify-channel-enable").click()
    await expect(bot_row).to_have_attribute("data-enabled", "true")
    await expect(bot_row.get_by_test_id("notify-channel-test")).to_be_focused()

    # Removed after a confirmation.
    await bot_row.get_by_test_id("notify-channel-remove").click()
    dialog = page.get_by_test_id("confirm-dialog")
    await expect(dialog).to_contain_text("stay in your inbox")
    await dialog.get_by_test_id("confirm-ok").click()
    await expect(rows).to_have_count(1)
    assert list(mine(baton, token)) == ["EMAIL"]
    assert not page.errors, page.errors

    # In Chinese on a phone: no English word, nothing wider than the screen.
    assert baton.gql(SET_LOCALE, token=token)["setMyLocale"]["userErrors"] == []
    phone = await sign_in(browser, baton, "sales", viewport=PHONE, route="settings/profile")
    await expect(phone.locator("html")).to_have_attribute("lang", "zh-CN")
    zh = phone.get_by_test_id("notify")
    await expect(zh).not_to_have_attribute("aria-busy", "true")
    await expect(zh.locator("h2")).to_have_text("通知")
    await expect(zh.get_by_test_id("notify-channel-row")).to_contain_text("邮件")
    await expect(zh.get_by_test_id("notify-channel-test")).to_contain_text("发送测试消息")
    await expect(zh.get_by_test_id("notify-quiet-start")).to_have_value("22:00")
    await phone.locator("#notify-heading").scroll_into_view_if_needed()
    await shoot(phone, "settings-notify-zh-phone-channels")
    screens = Screens(phone, baton, data_strings(baton, baton.token("admin@demo.baton")) + ["Asia/Shanghai"], "zh-CN", "notify", REPO / "test-artifacts")
    await screens.check("profile notifications", shoot=False)
    screens.verdict()
    assert await phone.evaluate(OVERFLOW) == []
    await phone.locator("#notify-prefs-heading").evaluate("(h) => h.scrollIntoView()")
    await shoot(phone, "settings-notify-zh-phone")
    assert not phone.errors, phone.errors
