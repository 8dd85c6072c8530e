"""Settings (issue 24) in the browser: the first run from an empty database, invitations, deactivation,
one's own password, an administrator's reset link and departments — through the pages a person uses
(web/js/welcome.js, settings.js, settings_people.js, settings_profile.js), in 简体中文 and English, at
1440×900 and 390×844 (nothing wider than the screen, tables as stacked rows), with axe-core finding
nothing serious. Screenshots go to test-artifacts/settings-*.png.

The first test starts its own `baton serve` on an empty database; the others share one demo server
(`shared_baton`), each with people of its own (a new invitee, sales, legal, a new department)."""
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from tests.browser import axe
from tests.browser.conftest import DESKTOP, LIVE_TIMEOUT, PASSWORD, PHONE, REPO, free_port, shoot, sign_in

pytestmark = pytest.mark.browser

SETUP_LINE = re.compile(r"Set up Baton: (\S+#/setup/\S+)")

# Anything on the page wider than the screen, or outside it: a phone must never scroll sideways.
OVERFLOW = """() => {
  const vw = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > vw + 1) out.push(`page ${document.documentElement.scrollWidth} > ${vw}`);
  for (const el of document.querySelectorAll('main :is(h1, h2, label, th, td, p, button, input, select, a, legend, dd, dt)')) {
    if (!el.getClientRects().length || el.closest('.sr-only, thead')) continue;
    const r = el.getBoundingClientRect();
    if (r.left < -1 || r.right > vw + 1) out.push(`${el.localName} "${(el.textContent || el.name || '').trim().slice(0, 30)}" ${Math.round(r.left)}–${Math.round(r.right)} of ${vw}`);
  }
  return out;
}"""


@contextmanager
def empty_server():
    """`baton serve` on a fresh SQLite database (migrated, no organization); yields (base URL, setup link)."""
    with tempfile.TemporaryDirectory(prefix="baton-first-run-") as tmp:
        port = free_port()
        log = Path(tmp) / "server.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
        env.pop("BATON_DATABASE_URL", None)
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
                                    cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            link = None
            while time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                found = SETUP_LINE.search(log.read_text())
                try:
                    if found and httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        link = found.group(1)
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            assert link, f"no setup link printed:\n{log.read_text()[-2000:]}"
            # The console names the public address (localhost); the browser goes to this server's.
            yield base, base + "/" + link[link.index("#"):]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def new_page(browser, *, viewport=DESKTOP, locale="en-US", timezone="Asia/Shanghai"):
    context = await browser.new_context(viewport=viewport, locale=locale, timezone_id=timezone)
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


async def audit(page, source, state):
    await page.wait_for_timeout(250)  # transitions settle: axe reads computed colours
    failing = axe.describe({state: await axe.audit(page, source)})
    assert not failing, f"axe-core {axe.AXE_VERSION}:\n{failing}"


async def fits(page, state):
    assert await page.evaluate(OVERFLOW) == [], state


async def focused_heading(page):
    return await page.evaluate("document.activeElement && document.activeElement.localName === 'h1' ? document.activeElement.textContent : null")


def gql(base, query, variables=None, token=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=10).json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


def login(base, email, password):
    return gql(base, "mutation($i: LoginInput!){ login(input: $i){ token userErrors { message } } }",
               {"i": {"email": email, "password": password}})["login"]


async def sign_in_as(page, base, email, password):
    await page.goto(base + "/")
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await page.locator(".topbar").wait_for()


# ------------------------------------------------------------------------------ first run


async def test_first_run_from_an_empty_database_in_chinese(browser, axe_source):
    with empty_server() as (base, link):
        # The sign-in page says where the setup link is.
        page = await new_page(browser, locale="zh-CN")
        await page.goto(base + "/")
        note = page.get_by_test_id("setup-note")
        await expect(note).to_be_visible()
        await expect(note).to_contain_text("控制台")
        await shoot(page, "settings-signin-setup-note-zh-desktop")

        # The setup page in Chinese, at a phone's width and in English too (looked at, audited).
        for viewport, locale, name in ((PHONE, "zh-CN", "zh-phone"), (PHONE, "en-US", "en-phone"), (DESKTOP, "en-US", "en-desktop")):
            other = await new_page(browser, viewport=viewport, locale=locale)
            await other.goto(link)
            await expect(other.get_by_test_id("setup-form")).to_be_visible()
            await fits(other, name)
            await shoot(other, f"settings-setup-{name}")
            await audit(other, axe_source, f"setup {name}")
            assert other.errors == []
            await other.context.close()

        await page.goto(link)
        form = page.get_by_test_id("setup-form")
        await expect(form).to_be_visible()
        await expect(page.locator("h1")).to_have_text("初始设置")
        assert await focused_heading(page) == "初始设置"
        # The browser's time zone and language are preselected; the base currency follows the language.
        await expect(page.get_by_test_id("timeZone-input")).to_have_value("Asia/Shanghai")
        await expect(page.get_by_test_id("locale-input")).to_have_value("zh-CN")
        await expect(page.get_by_test_id("baseCurrency-input")).to_have_value("CNY")
        await expect(page.get_by_test_id("defaultPipeline-input")).to_be_checked()
        await shoot(page, "settings-setup-zh-desktop")

        await page.get_by_test_id("organizationName-input").fill("星辰科技")
        await page.get_by_test_id("adminName-input").fill("王芳")
        await page.get_by_test_id("adminEmail-input").fill("wang.fang@xingchen.example")
        await page.get_by_test_id("adminPassword-input").fill("xingchen-2024")
        await page.get_by_test_id("repeat-input").fill("xingchen-2025")
        await page.get_by_test_id("setup-submit").click()
        error = page.get_by_test_id("welcome-error")
        await expect(error).to_have_text("两次输入的密码不一致。")
        await expect(error).to_have_attribute("role", "alert")
        await expect(page.get_by_test_id("repeat-input")).to_be_focused()
        await shoot(page, "settings-setup-error-zh-desktop")
        await page.get_by_test_id("repeat-input").fill("xingchen-2024")
        await page.get_by_test_id("setup-submit").click()

        # Signed in, on the board, in Chinese, with its settings in the top bar.
        await page.locator(".topbar").wait_for()
        await expect(page).to_have_url(re.compile(r"#/board$"))
        await expect(page.locator(".who-name")).to_have_text("王芳")
        await expect(page.get_by_test_id("nav-settings")).to_have_text("设置")
        await expect(page.locator(".column").first).to_be_visible()
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await shoot(page, "settings-after-setup-board-zh-desktop")
        settings = gql(base, "{ localeSettings { locale timeZone } baseCurrency }", token=login(base, "wang.fang@xingchen.example", "xingchen-2024")["token"])
        assert settings == {"localeSettings": {"locale": "zh-CN", "timeZone": "Asia/Shanghai"}, "baseCurrency": "CNY"}

        # The admin's settings: every tab, in Chinese.
        await page.get_by_test_id("nav-settings").click()
        await expect(page.get_by_test_id("settings-tab-people")).to_have_attribute("aria-selected", "true")
        await expect(page.get_by_test_id("settings-tabs").get_by_role("tab")).to_have_text(["成员", "部门", "销售流程", "分配", "访问权限", "集成", "变更日志", "个人资料"])
        await expect(page.get_by_test_id("user-row")).to_have_count(1)

        # The link worked once: now it says so, and leads to the sign-in page.
        again = await new_page(browser, locale="zh-CN")
        await again.goto(link)
        await expect(again.get_by_test_id("link-dead")).to_contain_text("已完成设置")
        await again.get_by_test_id("to-sign-in").click()
        await expect(again.get_by_test_id("login-email")).to_be_visible()
        await expect(again.get_by_test_id("setup-note")).to_be_hidden()
        assert page.errors == [] and again.errors == []


# ------------------------------------------------------------------------------ invitations


async def test_an_invited_colleague_joins_and_is_signed_out_when_deactivated(shared_baton, browser, axe_source):
    baton = shared_baton
    admin = await sign_in(browser, baton, "admin", route="settings/people")
    await expect(admin.get_by_test_id("user-row").first).to_be_visible()
    await expect(admin.locator("[aria-busy=true]")).to_have_count(0)
    assert await focused_heading(admin) == "Settings"

    form = admin.get_by_test_id("invite-form")
    await form.get_by_test_id("invite-email").fill("nora.new@demo.baton")
    await form.get_by_test_id("invite-name").fill("Nora New")
    await form.get_by_test_id("invite-department").select_option("legal")
    await form.get_by_test_id("invite-role").select_option("MEMBER")
    await form.get_by_test_id("invite-submit").click()
    link_value = admin.get_by_test_id("invite-link-value")
    await expect(link_value).to_have_value(re.compile(r"#/join/"))
    await expect(admin.get_by_test_id("invite-emailed")).to_have_attribute("data-emailed", re.compile("true|false"))
    await expect(admin.get_by_test_id("invite-link-copy")).to_be_focused()
    await admin.get_by_test_id("invite-link-copy").click()
    await expect(admin.get_by_test_id("invite-link-copied")).not_to_be_empty()
    invite_row = admin.locator('[data-testid="invite-row"][data-email="nora.new@demo.baton"]')
    await expect(invite_row).to_be_visible()
    await shoot(admin, "settings-people-invited-en-desktop")
    await audit(admin, axe_source, "people with an invitation")

    # A second invitation for the same address is refused beside the form.
    await form.get_by_test_id("invite-email").fill("legal@demo.baton")
    await form.get_by_test_id("invite-submit").click()
    await expect(admin.get_by_test_id("invite-error")).not_to_be_empty()

    link = await link_value.input_value()
    link = baton.base + "/" + link[link.index("#"):]

    # The colleague opens the link on a phone, in Chinese.
    nora = await new_page(browser, viewport=PHONE, locale="zh-CN")
    await nora.goto(link)
    await expect(nora.get_by_test_id("join-form")).to_be_visible()
    await expect(nora.get_by_test_id("join-email")).to_have_text("nora.new@demo.baton")
    await expect(nora.get_by_test_id("name-input")).to_have_value("Nora New")
    assert await focused_heading(nora) == "加入 Baton"
    await fits(nora, "join phone")
    await shoot(nora, "settings-join-zh-phone")
    await audit(nora, axe_source, "join page")
    await nora.get_by_test_id("name-input").fill("诺拉")
    await nora.get_by_test_id("password-input").fill("nora-secret-1")
    await nora.get_by_test_id("repeat-input").fill("nora-secret-1")
    await nora.get_by_test_id("join-submit").click()
    await nora.locator(".topbar").wait_for()
    await expect(nora.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(nora.get_by_test_id("live-status")).to_have_attribute("data-state", "live", timeout=LIVE_TIMEOUT)
    # A member's settings are their profile only.
    await nora.goto(link.split("#")[0] + "#/settings")
    await expect(nora.get_by_test_id("settings-tabs").get_by_role("tab")).to_have_text(["个人资料"])
    await expect(nora.get_by_test_id("profile-email")).to_have_text("nora.new@demo.baton")

    # The invitation is used: the admin's list follows, and the link says it is spent.
    await expect(invite_row).to_have_count(0, timeout=LIVE_TIMEOUT)
    row = admin.locator('[data-testid="user-row"][data-email="nora.new@demo.baton"]')
    await expect(row).to_be_visible(timeout=LIVE_TIMEOUT)
    spent = await new_page(browser)
    await spent.goto(link)
    await expect(spent.get_by_test_id("link-dead")).to_be_visible()
    await expect(spent.get_by_test_id("to-sign-in")).to_be_visible()
    await shoot(spent, "settings-join-spent-en-desktop")

    # Deactivated: the colleague's open board is signed out at once.
    await row.get_by_test_id("user-deactivate").click()
    dialog = admin.get_by_test_id("confirm-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_test_id("confirm-ok")).to_be_focused()
    await shoot(admin, "settings-people-deactivate-en-desktop")
    await dialog.get_by_test_id("confirm-ok").click()
    await expect(dialog).to_have_count(0)
    await expect(row.get_by_test_id("user-status")).to_have_text("Deactivated")
    await expect(row.get_by_test_id("user-reactivate")).to_be_focused()
    await expect(nora.get_by_test_id("login-email")).to_be_visible(timeout=LIVE_TIMEOUT)
    await expect(nora.locator("#login-error")).not_to_be_empty()
    await shoot(nora, "settings-deactivated-signed-out-zh-phone")
    assert login(baton.base, "nora.new@demo.baton", "nora-secret-1")["token"] is None

    # Reactivated, they sign in again.
    await row.get_by_test_id("user-reactivate").click()
    await admin.get_by_test_id("confirm-dialog").get_by_test_id("confirm-ok").click()
    await expect(row.get_by_test_id("user-status")).to_have_text("Active")
    assert login(baton.base, "nora.new@demo.baton", "nora-secret-1")["token"]

    # The people table on a phone, in Chinese: stacked rows inside the screen.
    phone = await sign_in(browser, baton, "admin", viewport=PHONE)
    await phone.get_by_test_id("lang-switch").click()
    await expect(phone.locator("html")).to_have_attribute("lang", "zh-CN")
    await phone.goto(baton.base + "/#/settings/people")
    await expect(phone.get_by_test_id("user-row").first).to_be_visible()
    await fits(phone, "people phone")
    await shoot(phone, "settings-people-zh-phone")
    await phone.get_by_test_id("user-row").first.scroll_into_view_if_needed()
    await shoot(phone, "settings-people-table-zh-phone")
    await audit(phone, axe_source, "people phone")
    await phone.get_by_test_id("lang-switch").click()  # back to English: the next tests share this server
    await expect(phone.locator("html")).to_have_attribute("lang", "en")
    assert admin.errors == [] and nora.errors == [] and phone.errors == []


# ------------------------------------------------------------------------------ profile


async def test_changing_ones_password_name_and_language_in_the_profile(shared_baton, browser, axe_source):
    baton = shared_baton
    page = await sign_in(browser, baton, "sales")
    await page.get_by_test_id("nav-settings").click()
    await expect(page).to_have_url(re.compile(r"#/settings/profile$"))
    await expect(page.get_by_test_id("settings-tabs").get_by_role("tab")).to_have_text(["Profile"])
    assert await focused_heading(page) == "Settings"
    await shoot(page, "settings-profile-en-desktop")
    await audit(page, axe_source, "profile")

    # The name: the top bar follows.
    await page.get_by_test_id("profile-name").fill("Sam Sales")
    await page.get_by_test_id("profile-name-save").click()
    await expect(page.locator(".who-name")).to_have_text("Sam Sales")

    # A wrong current password is refused beside the form, by the server.
    form = page.get_by_test_id("password-form")
    await form.get_by_test_id("password-current").fill("not-the-password")
    await form.get_by_test_id("password-new").fill("brand-new-pass")
    await form.get_by_test_id("password-repeat").fill("brand-new-pass")
    await form.get_by_test_id("password-submit").click()
    await expect(page.get_by_test_id("password-error")).not_to_be_empty()
    await shoot(page, "settings-profile-error-en-desktop")
    await form.get_by_test_id("password-current").fill(PASSWORD)
    await form.get_by_test_id("password-new").fill("brand-new-pass")
    await form.get_by_test_id("password-repeat").fill("brand-new-pass")
    await form.get_by_test_id("password-submit").click()
    await expect(page.locator(".toast-ok")).to_be_visible()
    await expect(page.get_by_test_id("password-error")).to_be_empty()
    await expect(page.locator(".topbar")).to_be_visible()  # this session stays

    # Signed out, the new password signs in; the old one no longer does.
    await page.locator("#sign-out").click()
    await page.get_by_test_id("login-email").fill("sales@demo.baton")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.locator("#login-error")).not_to_be_empty()
    await page.get_by_test_id("login-password").fill("brand-new-pass")
    await page.get_by_test_id("login-submit").click()
    await page.locator(".topbar").wait_for()

    # The language, chosen in the profile: everything is drawn again in it, focus stays on the choice.
    await page.goto(baton.base + "/#/settings/profile")
    await page.get_by_test_id("profile-locale").select_option("zh-CN")
    await page.get_by_test_id("profile-locale-save").click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.get_by_test_id("settings-tab-profile")).to_have_text("个人资料")
    await expect(page.get_by_test_id("profile-locale")).to_be_focused()
    await shoot(page, "settings-profile-zh-desktop")
    phone = await sign_in(browser, baton, "product", viewport=PHONE, route="settings")
    await expect(phone.get_by_test_id("password-form")).to_be_visible()
    await fits(phone, "profile phone")
    await shoot(phone, "settings-profile-en-phone")
    assert page.errors == [] and phone.errors == []


# ------------------------------------------------------------------------------ reset link


async def test_an_administrators_reset_link_sets_a_new_password(shared_baton, browser, axe_source):
    baton = shared_baton
    admin = await sign_in(browser, baton, "admin", route="settings/people")
    row = admin.locator('[data-testid="user-row"][data-email="legal@demo.baton"]')
    await row.get_by_test_id("user-reset").click()
    dialog = admin.get_by_test_id("reset-dialog")
    value = dialog.get_by_test_id("reset-link-value")
    await expect(value).to_have_value(re.compile(r"#/reset/"))
    await expect(dialog.get_by_test_id("reset-link-copy")).to_be_focused()
    await shoot(admin, "settings-reset-link-en-desktop")
    await audit(admin, axe_source, "reset link dialog")
    link = await value.input_value()
    link = baton.base + "/" + link[link.index("#"):]
    await admin.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(row.get_by_test_id("user-reset")).to_be_focused()

    # An open session of theirs ends when the reset is used.
    before = await sign_in(browser, baton, "legal")

    page = await new_page(browser, viewport=PHONE, locale="zh-CN")
    await page.goto(link)
    await expect(page.get_by_test_id("reset-form")).to_be_visible()
    await expect(page.locator("#welcome-body")).to_contain_text("legal@demo.baton")
    await fits(page, "reset phone")
    await shoot(page, "settings-reset-zh-phone")
    await audit(page, axe_source, "reset page")
    await page.get_by_test_id("newPassword-input").fill("short")
    await page.get_by_test_id("repeat-input").fill("short")
    await page.get_by_test_id("reset-submit").click()
    await expect(page.get_by_test_id("welcome-error")).to_contain_text("8")
    await page.get_by_test_id("newPassword-input").fill("legal-reset-99")
    await page.get_by_test_id("repeat-input").fill("legal-reset-99")
    await page.get_by_test_id("reset-submit").click()
    await page.locator(".topbar").wait_for()

    assert login(baton.base, "legal@demo.baton", PASSWORD)["token"] is None
    assert login(baton.base, "legal@demo.baton", "legal-reset-99")["token"]
    await expect(before.get_by_test_id("login-email")).to_be_visible(timeout=LIVE_TIMEOUT)

    # Used once: the link now says so, in English on a desktop too.
    spent = await new_page(browser)
    await spent.goto(link)
    await expect(spent.get_by_test_id("link-dead")).to_contain_text("expired or was already used")
    await audit(spent, axe_source, "spent link")
    await shoot(spent, "settings-reset-spent-en-desktop")
    assert page.errors == [] and admin.errors == []


# ------------------------------------------------------------------------------ departments and the tabs


async def test_departments_and_the_settings_tabs_by_keyboard(shared_baton, browser, axe_source):
    baton = shared_baton
    page = await sign_in(browser, baton, "admin", route="settings/people")
    tab = page.get_by_test_id("settings-tab-people")
    await expect(tab).to_have_attribute("aria-selected", "true")
    await tab.focus()
    await page.keyboard.press("ArrowRight")
    await expect(page).to_have_url(re.compile(r"#/settings/departments$"))
    await expect(page.get_by_test_id("settings-tab-departments")).to_be_focused()
    await expect(page.get_by_test_id("settings-tab-departments")).to_have_attribute("aria-selected", "true")
    await expect(page.get_by_test_id("settings-panel")).to_have_attribute("aria-labelledby", "settings-tab-departments")
    await expect(page.get_by_test_id("dept-row").first).to_be_visible()
    await page.keyboard.press("End")
    await expect(page.get_by_test_id("settings-tab-profile")).to_be_focused()
    await expect(page).to_have_url(re.compile(r"#/settings/profile$"))
    await page.keyboard.press("Home")
    await expect(page).to_have_url(re.compile(r"#/settings/people$"))
    await page.go_back()
    await expect(page).to_have_url(re.compile(r"#/settings/profile$"))
    await expect(page.get_by_test_id("settings-tab-profile")).to_have_attribute("aria-selected", "true")
    # The pipeline, access, integrations and log tabs are other modules' (settings_pipeline.js, settings_access.js,
    # settings_integrations.js, settings_log.js): they load in the panel.
    for tab in ("pipeline", "access", "integrations", "log"):
        await page.get_by_test_id(f"settings-tab-{tab}").click()
        await expect(page.get_by_test_id("settings-panel")).to_have_attribute("data-tab", tab)
        await expect(page.get_by_test_id("settings-panel")).not_to_be_empty()
        await expect(page.get_by_test_id("settings-tab-missing")).to_have_count(0)
    await page.goto(baton.base + "/#/settings/departments")

    # Archiving a department with members is refused, with the server's words.
    legal = page.locator('[data-testid="dept-row"][data-key="legal"]')
    await legal.get_by_test_id("dept-archive").click()
    await expect(page.get_by_test_id("depts-error")).not_to_be_empty()
    await expect(legal).to_have_attribute("data-archived", "false")

    # Created, renamed, archived, restored.
    await page.get_by_test_id("dept-name-input").fill("Customer Success")
    await expect(page.get_by_test_id("dept-key-input")).to_have_value("customer_success")
    await page.get_by_test_id("dept-submit").click()
    new = page.locator('[data-testid="dept-row"][data-key="customer_success"]')
    await expect(new).to_be_visible()
    await page.get_by_test_id("dept-submit").click()  # nothing typed: said beside the form, before asking
    await expect(page.get_by_test_id("dept-error")).to_have_text("Enter the department’s name. Enter a key.")
    await expect(page.get_by_test_id("dept-name-input")).to_be_focused()
    await page.get_by_test_id("dept-name-input").fill("Customer Success")
    await page.get_by_test_id("dept-submit").click()  # the same key again: the server refuses it, beside the form
    await expect(page.get_by_test_id("dept-error")).not_to_be_empty()
    await expect(page.get_by_test_id("dept-key-input")).to_have_attribute("aria-invalid", "true")
    await shoot(page, "settings-departments-error-en-desktop")
    await new.get_by_test_id("dept-rename").click()
    await page.get_by_test_id("dept-rename-input").fill("Customer Care")
    await page.get_by_test_id("dept-rename-save").click()
    await expect(new.get_by_test_id("dept-name")).to_have_text("Customer Care")
    await expect(new.get_by_test_id("dept-rename")).to_be_focused()
    await new.get_by_test_id("dept-archive").click()
    await expect(new).to_have_attribute("data-archived", "true")
    await shoot(page, "settings-departments-en-desktop")
    await audit(page, axe_source, "departments")
    await new.get_by_test_id("dept-restore").click()
    await expect(new).to_have_attribute("data-archived", "false")

    phone = await sign_in(browser, baton, "admin", viewport=PHONE, route="settings/departments")
    await expect(phone.get_by_test_id("dept-row").first).to_be_visible()
    await fits(phone, "departments phone")
    await phone.get_by_test_id("dept-row").first.scroll_into_view_if_needed()
    await shoot(phone, "settings-departments-en-phone")
    await audit(phone, axe_source, "departments phone")
    assert page.errors == [] and phone.errors == []
