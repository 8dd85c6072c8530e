"""Issue 24's whole settings story in one browser test, from an empty database: the first-run setup in
the browser (English, desktop); five colleagues invited through Settings › People, one per department,
each opening their link in a browser of their own and landing signed in (the sales colleague on a phone,
in 简体中文; the finance colleague in 简体中文 on a desktop); the sales colleague's deals on their open
board; then Settings › Pipeline — a stage renamed and moved up, a required field added after reading the
preview, an approval rule whose second step has an amount condition, a stage holding cards archived into
another — each followed live on the sales colleague's open board, and Settings › Log naming each change.

The pieces are tested one by one in test_settings_people.py and test_pipeline_settings.py, whose helpers
this test uses. Screenshots go to test-artifacts/settings-story-*.png."""
import re

import pytest
from playwright.async_api import expect

from tests.browser.conftest import DESKTOP, LIVE_TIMEOUT, PHONE, shoot
from tests.browser.test_pipeline_settings import board_order, build_rule, cards_in, pick_gate_field, stages
from tests.browser.test_settings_people import empty_server, fits, gql, login, new_page

pytestmark = pytest.mark.browser

ORG = "Northwind Trading"
ADMIN = {"name": "Ada Park", "email": "ada.park@northwind.example", "password": "northwind-admin-1"}
# One colleague per department: (department, invited name, name typed when joining, email, viewport, browser locale).
COLLEAGUES = [
    ("sales", "Li Lei", "李雷", "li.lei@northwind.example", PHONE, "zh-CN"),
    ("marketing", "Maya Chen", "Maya Chen", "maya.chen@northwind.example", DESKTOP, "en-US"),
    ("product", "Priya Nair", "Priya Nair", "priya.nair@northwind.example", DESKTOP, "en-US"),
    ("legal", "Leo Brandt", "Leo Brandt", "leo.brandt@northwind.example", DESKTOP, "en-US"),
    ("finance", "Han Meimei", "韩梅梅", "han.meimei@northwind.example", DESKTOP, "zh-CN"),
]
CREATE = """mutation($i: CreateOpportunityInput!){ createOpportunity(input: $i){
  opportunity { id title stage { key } } userErrors { message } } }"""
# The sales colleague's deals: two in Qualified (archived later, into Lead), one in Proposal (stopped by the new gate field).
DEALS = [
    {"title": "Harbor freight renewal", "accountName": "Harbor Freight Co", "amount": "42000", "currency": "USD", "stageKey": "qualified"},
    {"title": "Lantern retail rollout", "accountName": "Lantern Retail", "amount": "18500", "currency": "USD", "stageKey": "qualified"},
    {"title": "Summit analytics suite", "accountName": "Summit Labs", "amount": "96000", "currency": "USD",
     "expectedCloseDate": "2031-06-30", "stageKey": "proposal"},
]


def password(dept: str) -> str:
    return f"{dept}-secret-2024"


class Api:
    """This server's GraphQL as the pipeline helpers call it: `server.gql(query, variables, token=...)`."""

    def __init__(self, base: str):
        self.base = base

    def gql(self, query, variables=None, token=None):
        return gql(self.base, query, variables, token)


def absolute(base: str, link: str) -> str:
    """An invitation link as the page shows it, on this server (the console names the public address)."""
    return base + "/" + link[link.index("#"):]


async def test_from_an_empty_database_to_a_companys_own_pipeline_followed_live(browser):
    with empty_server() as (base, setup_link):
        api = Api(base)
        pages = []

        # ---------------------------------------------------------------- first run, in English on a desktop
        admin = await new_page(browser)
        pages.append(admin)
        await admin.goto(setup_link)
        form = admin.get_by_test_id("setup-form")
        await expect(form).to_be_visible()
        await expect(admin.locator("h1")).to_have_text("Set up Baton")
        await expect(admin.get_by_test_id("locale-input")).to_have_value("en")
        await expect(admin.get_by_test_id("timeZone-input")).to_have_value("Asia/Shanghai")
        await expect(admin.get_by_test_id("defaultPipeline-input")).to_be_checked()
        await admin.get_by_test_id("organizationName-input").fill(ORG)
        await admin.get_by_test_id("baseCurrency-input").fill("USD")
        await admin.get_by_test_id("adminName-input").fill(ADMIN["name"])
        await admin.get_by_test_id("adminEmail-input").fill(ADMIN["email"])
        await admin.get_by_test_id("adminPassword-input").fill(ADMIN["password"])
        await admin.get_by_test_id("repeat-input").fill(ADMIN["password"])
        await fits(admin, "setup desktop")
        await admin.evaluate("window.scrollTo(0, 0)")  # typing scrolled the last field into view
        await shoot(admin, "settings-story-setup-en-desktop")
        await admin.get_by_test_id("setup-submit").click()
        await admin.locator(".topbar").wait_for()
        await expect(admin).to_have_url(re.compile(r"#/board$"))
        await expect(admin.locator(".who-name")).to_have_text(ADMIN["name"])
        await expect(admin.locator("html")).to_have_attribute("lang", "en")
        token = login(base, ADMIN["email"], ADMIN["password"])["token"]
        assert token

        # ---------------------------------------------------------------- five invitations through Settings › People
        await admin.get_by_test_id("nav-settings").click()
        await expect(admin.get_by_test_id("settings-tab-people")).to_have_attribute("aria-selected", "true")
        await expect(admin.get_by_test_id("user-row")).to_have_count(1)
        invite = admin.get_by_test_id("invite-form")
        links = {}
        for dept, invited_name, _, email, _, _ in COLLEAGUES:
            await invite.get_by_test_id("invite-email").fill(email)
            await invite.get_by_test_id("invite-name").fill(invited_name)
            await invite.get_by_test_id("invite-department").select_option(dept)
            await invite.get_by_test_id("invite-role").select_option("MEMBER")
            await invite.get_by_test_id("invite-submit").click()
            await expect(admin.get_by_test_id("invite-result")).to_contain_text(email)
            value = admin.get_by_test_id("invite-link-value")
            await expect(value).to_have_value(re.compile(r"#/join/"))
            links[dept] = absolute(base, await value.input_value())
            await expect(admin.locator(f'[data-testid="invite-row"][data-email="{email}"]')).to_be_visible()
        assert len(set(links.values())) == 5
        await expect(admin.get_by_test_id("invite-row")).to_have_count(5)
        await shoot(admin, "settings-story-people-invited-en-desktop")

        # ---------------------------------------------------------------- each colleague accepts in a browser of their own
        sales = None
        for dept, invited_name, name, email, viewport, locale in COLLEAGUES:
            size = "phone" if viewport is PHONE else "desktop"
            lang = "zh" if locale == "zh-CN" else "en"
            page = await new_page(browser, viewport=viewport, locale=locale)
            await page.goto(links[dept])
            await expect(page.get_by_test_id("join-form")).to_be_visible()
            await expect(page.get_by_test_id("join-email")).to_have_text(email)
            await expect(page.get_by_test_id("join-intro")).to_contain_text(ORG)
            await expect(page.get_by_test_id("name-input")).to_have_value(invited_name)
            await expect(page.get_by_test_id("locale-input")).to_have_value("zh-CN" if lang == "zh" else "en")
            await page.get_by_test_id("name-input").fill(name)
            await page.get_by_test_id("password-input").fill(password(dept))
            await page.get_by_test_id("repeat-input").fill(password(dept))
            if lang == "zh":
                await fits(page, f"join {dept} {size}")
                await shoot(page, f"settings-story-join-{lang}-{size}")
            await page.get_by_test_id("join-submit").click()
            await page.locator(".topbar").wait_for()
            await expect(page.locator(".who-name")).to_have_text(name)
            await expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh" else "en")
            if dept == "sales":
                sales = page  # keeps the board open for the rest of the story
                pages.append(page)
            else:
                assert page.errors == [], (dept, page.errors)
                await page.context.close()
        assert login(base, COLLEAGUES[1][3], password("marketing"))["token"]

        # The admin's People tab follows: six people, no invitation left.
        await expect(admin.get_by_test_id("user-row")).to_have_count(6, timeout=LIVE_TIMEOUT)
        await expect(admin.get_by_test_id("invite-row")).to_have_count(0, timeout=LIVE_TIMEOUT)
        for dept, _, name, email, _, _ in COLLEAGUES:
            row = admin.locator(f'[data-testid="user-row"][data-email="{email}"]')
            await expect(row.locator(".person-name")).to_have_text(name)
            await expect(row.get_by_test_id("user-status")).to_have_text("Active")
        await expect(admin.get_by_test_id("people-count")).to_have_text("6 active, 0 deactivated")
        await admin.get_by_test_id("people").scroll_into_view_if_needed()
        await shoot(admin, "settings-story-people-members-en-desktop")

        # ---------------------------------------------------------------- the sales colleague's deals, on their open board
        await expect(sales.get_by_test_id("column-lead")).to_be_visible()  # the join link lands on the board (#/)
        await expect(sales.get_by_test_id("live-status")).to_have_attribute("data-state", "live", timeout=LIVE_TIMEOUT)
        sales_token = login(base, COLLEAGUES[0][3], password("sales"))["token"]
        for deal in DEALS:
            made = gql(base, CREATE, {"i": deal}, token=sales_token)["createOpportunity"]
            assert made["userErrors"] == [] and made["opportunity"]["stage"]["key"] == deal["stageKey"], made
        for deal in DEALS:
            column = sales.get_by_test_id(f"column-{deal['stageKey']}")
            await expect(column.locator(".card-title", has_text=deal["title"])).to_have_count(1, timeout=LIVE_TIMEOUT)
        before = stages(api, token)
        assert before["order"] == ["lead", "qualified", "proposal", "negotiation", "contract", "won", "lost"], before["order"]
        assert await board_order(sales) == before["order"]
        await shoot(sales, "settings-story-board-deals-zh-phone")

        # ---------------------------------------------------------------- Settings › Pipeline: rename
        await admin.get_by_test_id("settings-tab-pipeline").click()
        row = admin.get_by_test_id("stage-proposal")
        await expect(row.get_by_test_id("stage-name")).to_have_text("Proposal")
        await row.get_by_test_id("stage-rename").click()
        await row.get_by_test_id("rename-input").fill("Proposal & pricing")
        await row.get_by_test_id("rename-save").click()
        await expect(row.get_by_test_id("stage-name")).to_have_text("Proposal & pricing")
        await expect(sales.locator("#column-title-proposal")).to_have_text("Proposal & pricing", timeout=LIVE_TIMEOUT)

        # ... reorder: Proposal & pricing moves up, before Qualified.
        await row.get_by_test_id("stage-up").click()
        await expect(admin.locator("#announcer")).to_contain_text(f"Proposal & pricing is now stage 2 of {len(before['order'])}")
        assert stages(api, token)["order"][:3] == ["lead", "proposal", "qualified"]
        await expect(sales.locator("#board .column").nth(1)).to_have_attribute("data-stage", "proposal", timeout=LIVE_TIMEOUT)
        assert (await board_order(sales))[:3] == ["lead", "proposal", "qualified"]
        await expect(sales.get_by_test_id("column-proposal").locator(".card-title", has_text=DEALS[2]["title"])).to_have_count(1)

        # ... a required field, the preview's sentence read before saving; the colleague's column says what it needs.
        proposal = stages(api, token)["by_key"]["proposal"]
        field, count, summary = await pick_gate_field(api, token, proposal)
        assert count == 1 and "would no longer pass the gate" in summary, summary
        await row.get_by_test_id("stage-edit").click()
        await row.get_by_test_id(f"gate-field-{field}").check()
        await row.get_by_test_id("gate-review").click()
        await expect(row.get_by_test_id("gate-preview")).to_have_text(summary)
        await expect(row.get_by_test_id("gate-confirm-save")).to_be_focused()
        await shoot(admin, "settings-story-pipeline-preview-en-desktop")
        await row.get_by_test_id("gate-confirm-save").click()
        await expect(admin.locator(".toast-ok").last).to_contain_text("Saved the gate")
        assert field in stages(api, token)["by_key"]["proposal"]["requiredFields"]
        words = await sales.evaluate("async (f) => (await import('/static/js/util.js')).fieldWords(f)", field)
        await expect(sales.get_by_test_id("column-proposal").locator(".gate-hint")).to_contain_text(words, timeout=LIVE_TIMEOUT)

        # ... an approval rule on Negotiation: finance all sign, then legal — only from 500,000.
        nego = admin.get_by_test_id("stage-negotiation")
        await nego.get_by_test_id("stage-edit").click()
        await build_rule(nego, "discount", [
            {"department": "finance", "mode": "ALL", "remind": 24},
            {"department": "legal", "mode": "ANY", "amount": "500000"},
        ])
        await nego.get_by_test_id("rule-review").click()
        await expect(nego.get_by_test_id("rule-preview")).not_to_be_empty()
        await nego.get_by_test_id("rule-preview").scroll_into_view_if_needed()
        await shoot(admin, "settings-story-pipeline-rule-en-desktop")
        await nego.get_by_test_id("rule-confirm-save").click()
        await expect(admin.locator(".toast-ok").last).to_contain_text("Saved the approval rule")
        rule = stages(api, token)["by_key"]["negotiation"]["approvalRule"]
        assert [(s["departmentKey"], s["mode"], s["amountAtLeast"]) for s in rule["steps"]] == [("finance", "ALL", None), ("legal", "ANY", rule["steps"][1]["amountAtLeast"])]
        assert float(rule["steps"][1]["amountAtLeast"]) == 500000
        discount = await sales.evaluate("async () => { const { t, kindName } = await import('/static/js/i18n.js'); return t('gate.approval', { kind: kindName('discount') }); }")
        await expect(sales.get_by_test_id("column-negotiation").locator(".gate-hint")).to_contain_text(discount, timeout=LIVE_TIMEOUT)

        # ... archive Qualified, which holds the two deals, moving them to Lead.
        moving = cards_in(api, token, "qualified")
        assert sorted(c["title"] for c in moving) == sorted(d["title"] for d in DEALS[:2])
        await admin.get_by_test_id("stage-qualified").get_by_test_id("stage-archive").click()
        dialog = admin.get_by_test_id("archive-dialog")
        await expect(dialog).to_contain_text("2 cards are in Qualified")
        await dialog.get_by_test_id("archive-target").select_option(before["by_key"]["lead"]["id"])
        await shoot(admin, "settings-story-archive-dialog-en-desktop")
        await dialog.get_by_test_id("archive-confirm").click()
        await expect(dialog).to_have_count(0)
        await expect(admin.locator(".toast-ok").last).to_contain_text("moved 2 cards to Lead")
        await expect(admin.get_by_test_id("archived-qualified")).to_be_visible()
        await expect(sales.get_by_test_id("column-qualified")).to_have_count(0, timeout=LIVE_TIMEOUT)
        for c in moving:
            await expect(sales.get_by_test_id("column-lead").locator(".card-title", has_text=c["title"])).to_have_count(1, timeout=LIVE_TIMEOUT)
        assert await board_order(sales) == ["lead", "proposal", "negotiation", "contract", "won", "lost"]
        await shoot(sales, "settings-story-board-archived-zh-phone")

        # ---------------------------------------------------------------- Settings › Log: the invitations accepted, each change by the admin
        await admin.get_by_test_id("settings-tab-log").click()
        log = admin.get_by_test_id("configlog-list")
        await expect(log.get_by_test_id("log-entry").first).to_be_visible()
        who = ADMIN["name"]
        pipeline = [f"{who} archived stage Qualified", f"{who} set the approval rule of stage Negotiation",
                    f"{who} changed the gate of stage Proposal & pricing", f"{who} reordered the stages",
                    f"{who} renamed stage Proposal → Proposal & pricing"]
        invited = [f"{who} invited {email}" for _, _, _, email, _, _ in reversed(COLLEAGUES)]
        await expect(log.get_by_test_id("log-what").filter(has_text=pipeline[0])).to_have_count(1, timeout=LIVE_TIMEOUT)
        texts = await log.get_by_test_id("log-what").all_inner_texts()
        # Each colleague accepted, as themselves, under their own address.
        accepted = [f"{name} accepted the invitation as {email}" for _, _, name, email, _, _ in reversed(COLLEAGUES)]
        for wanted in (pipeline, accepted, invited):
            assert [w for w in wanted if w not in texts] == [], texts
            assert [texts.index(w) for w in wanted] == sorted(texts.index(w) for w in wanted), texts  # newest first
        assert texts.index(pipeline[-1]) < texts.index(accepted[0]) < texts.index(invited[0]), texts
        renamed = log.get_by_test_id("log-entry").filter(has_text="renamed stage Proposal")
        await expect(renamed.get_by_test_id("log-before")).to_have_text("Proposal")
        # Who joined is named, not shown as an id.
        _, _, sales_name, sales_email, _, _ = COLLEAGUES[0]
        joined = log.get_by_test_id("log-entry").filter(has_text=f"accepted the invitation as {sales_email}")
        await expect(joined.locator('[data-field="user"] [data-testid="log-after"]')).to_have_text(sales_name)
        await expect(renamed.get_by_test_id("log-after")).to_have_text("Proposal & pricing")
        await shoot(admin, "settings-story-log-en-desktop")

        for page in pages:
            assert page.errors == [], page.errors
        await sales.context.close()
        await admin.context.close()
