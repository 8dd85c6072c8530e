"""Settings › Assignment (`#/settings/assignment`, issue 18) in the browser: an admin adds two rules — one
matching a region, an industry, lead sources and an amount range for a department by capacity, one round-robin
to two named people — moves the first up and saves (another admin's save then arrives live); a range whose top
is below its bottom is refused beside that rule's amountMax with nothing typed lost; `assignmentRules` then
returns exactly what was entered, in the new order, and deals created through the API go where the rules say.
Per stage, the days before a deal returns to the pool save and read back; Discard brings the saved rules back.
A member has no Assignment tab. Desktop in English (axe-core finding nothing serious), a phone (375 px) in
简体中文 with no sideways scroll and no English word. Screenshots go to test-artifacts/assignment-*.png."""
from decimal import Decimal

import pytest
from playwright.async_api import expect

from tests.browser.conftest import DESKTOP, LIVE_TIMEOUT, shoot, sign_in
from tests.browser.test_i18n import GQL_SET_LOCALE, Screens, data_strings, go, ok
from tests.browser.test_settings_people import OVERFLOW, audit

pytestmark = pytest.mark.browser

SMALL_PHONE = {"width": 375, "height": 812}  # the narrowest phone the settings are made for
RULES = "{ assignmentRules { name strategy capacity regions industries sources tags amountMin amountMax departmentKey userIds } }"
SET = "mutation($i: SetAssignmentRulesInput!){ setAssignmentRules(input: $i){ userErrors { field message } } }"
STAGES = "{ pipelines { stages { id key kind poolAfterDays } } }"
CREATE = """mutation($i: CreateOpportunityInput!){ createOpportunity(input: $i){
  opportunity { inPool owner { id email department { key } } } userErrors { message } } }"""
NEW_ACCOUNT = "mutation($i: CreateAccountInput!){ createAccount(input: $i){ account { name region industry } userErrors { message } } }"


async def fill_rule(rule, *, name, strategy, capacity="", regions="", industries="", sources="", tags="",
                    amount=("", ""), department=None, people=()):
    """Type a rule into its (open) form, as a person would."""
    form = rule.get_by_test_id("assign-form")
    await form.get_by_test_id("assign-name").fill(name)
    await form.get_by_test_id(f"assign-strategy-{strategy}").check()
    await form.get_by_test_id("assign-capacity").fill(capacity)
    for field, value in (("regions", regions), ("industries", industries), ("sources", sources), ("tags", tags)):
        await form.get_by_test_id(f"assign-{field}").fill(value)
    await form.get_by_test_id("assign-amountMin").fill(amount[0])
    await form.get_by_test_id("assign-amountMax").fill(amount[1])
    if department:
        await form.get_by_test_id("assign-target-department").check()
        await form.get_by_test_id("assign-department").select_option(department)
    else:
        await form.get_by_test_id("assign-target-people").check()
        for person in people:
            await form.locator(f'[data-testid="assign-person"][data-name="{person}"]').check()


async def test_an_admin_orders_assignment_rules_and_new_deals_follow_them(baton, browser, axe_source, artifacts):
    server = baton
    token = server.token("admin@demo.baton")
    users = {u["email"].split("@")[0]: u for u in server.gql("{ users { id name email } }", token=token)["users"]}
    account = ok(server.gql(NEW_ACCOUNT, {"i": {"name": "Harbour Expo Works", "region": "East", "industry": "Manufacturing"}}, token=token))["account"]
    assert server.gql(RULES, token=token)["assignmentRules"] == []

    page = await sign_in(browser, server, "admin", viewport=DESKTOP, route="settings/assignment")
    await expect(page.get_by_test_id("settings-tab-assignment")).to_have_attribute("aria-selected", "true")
    await expect(page.get_by_test_id("assign-empty")).to_be_visible()
    await expect(page.get_by_test_id("assign-intro")).to_contain_text("a deal no rule matches goes to the pool")

    # Two rules: the catch-all round-robin first, then the trade-show rule (its range upside down).
    await page.get_by_test_id("assign-add").click()
    everyone = page.get_by_test_id("assign-rule").nth(0)
    await expect(everyone.get_by_test_id("assign-name")).to_be_focused()
    await fill_rule(everyone, name="Everyone else", strategy="ROUND_ROBIN", people=(users["marketing"]["name"], users["product"]["name"]))
    await expect(everyone.get_by_test_id("assign-rule-sentence")).to_have_text(
        f"Any deal → {users['marketing']['name']} or {users['product']['name']}, round-robin")
    await page.get_by_test_id("assign-add").click()
    shows = page.get_by_test_id("assign-rule").nth(1)
    await fill_rule(shows, name="Trade shows", strategy="CAPACITY", capacity="25", regions=account["region"],
                    industries=account["industry"], sources="Trade show, Referral", amount=("100000", "50000"), department="finance")
    await expect(page.get_by_test_id("assign-status")).to_have_text("Unsaved changes")

    # Move it up with the keyboard: announced, focus stays on the rule (now first, so on its down arrow).
    await shows.get_by_test_id("assign-up").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#announcer")).to_contain_text("Trade shows is now rule 1 of 2")
    await expect(page.get_by_test_id("assign-rule-name")).to_have_text(["Trade shows", "Everyone else"])
    first = page.get_by_test_id("assign-rule").nth(0)
    await expect(first.get_by_test_id("assign-down")).to_be_focused()

    # Save: the upside-down range is refused beside that rule's amountMax; nothing saved, nothing lost.
    await page.get_by_test_id("assign-save").click()
    error = first.get_by_test_id("assign-error-amountMax")
    await expect(error).to_contain_text("amountMax")
    await expect(first.get_by_test_id("assign-amountMax")).to_have_attribute("aria-invalid", "true")
    await expect(first.get_by_test_id("assign-amountMax")).to_be_focused()
    await expect(page.get_by_test_id("assign-rule").nth(1).get_by_test_id("assign-error-amountMax")).to_be_hidden()
    await expect(first.get_by_test_id("assign-form")).to_be_visible()
    await expect(first.get_by_test_id("assign-amountMin")).to_have_value("100000")
    await expect(first.get_by_test_id("assign-sources")).to_have_value("Trade show, Referral")
    await expect(page.get_by_test_id("assign-rule-name")).to_have_text(["Trade shows", "Everyone else"])
    assert server.gql(RULES, token=token)["assignmentRules"] == []
    await audit(page, axe_source, "assignment rules with an error")
    await shoot(page, "assignment-en-desktop-error")

    await first.get_by_test_id("assign-amountMax").fill("1000000")
    await expect(error).to_be_hidden()
    await page.get_by_test_id("assign-save").click()
    await expect(page.locator(".toast-ok").last).to_contain_text("Saved 2 rules")
    await expect(page.get_by_test_id("assign-status")).to_have_text("")
    assert [dict(r, amountMin=r["amountMin"] and Decimal(r["amountMin"]), amountMax=r["amountMax"] and Decimal(r["amountMax"]))
            for r in server.gql(RULES, token=token)["assignmentRules"]] == [
        {"name": "Trade shows", "strategy": "CAPACITY", "capacity": 25, "regions": [account["region"]],
         "industries": [account["industry"]], "sources": ["Trade show", "Referral"], "tags": [],
         "amountMin": Decimal("100000"), "amountMax": Decimal("1000000"), "departmentKey": "finance", "userIds": []},
        {"name": "Everyone else", "strategy": "ROUND_ROBIN", "capacity": None, "regions": [], "industries": [], "sources": [],
         "tags": [], "amountMin": None, "amountMax": None, "departmentKey": None,
         "userIds": [users["marketing"]["id"], users["product"]["id"]]},
    ]
    sentence = page.get_by_test_id("assign-rule-sentence").first
    await expect(sentence).to_contain_text("Source Trade show or Referral")
    await expect(sentence).to_contain_text("→ Finance, by capacity, at most 25 open deals each")

    # Deals created through the API: a trade show in range goes to the first rule's department, a website lead to the people.
    deal = {"accountName": account["name"], "amount": "250000"}
    made = ok(server.gql(CREATE, {"i": {**deal, "title": "Expo lead", "source": "Trade show"}}, token=token))["opportunity"]
    assert not made["inPool"] and made["owner"]["department"]["key"] == "finance", made
    made = ok(server.gql(CREATE, {"i": {**deal, "title": "Web lead", "source": "Website"}}, token=token))["opportunity"]
    assert not made["inPool"] and made["owner"]["email"] in ("marketing@demo.baton", "product@demo.baton"), made

    # Per stage: the days before an idle deal returns to the pool; a word is refused beside its field.
    stages = {s["key"]: s for p in server.gql(STAGES, token=token)["pipelines"] for s in p["stages"]}
    lead, proposal = page.get_by_test_id("pool-days-lead"), page.get_by_test_id("pool-days-proposal")
    await lead.get_by_test_id("pool-days-input").fill("14")
    await proposal.get_by_test_id("pool-days-input").fill("soon")
    await page.get_by_test_id("pool-days-save").click()
    await expect(proposal.get_by_test_id("pool-days-field-error")).to_contain_text("whole days")
    await expect(proposal.get_by_test_id("pool-days-input")).to_be_focused()
    await proposal.get_by_test_id("pool-days-input").fill("30")
    await page.get_by_test_id("pool-days-save").click()
    await expect(page.locator(".toast-ok").last).to_contain_text("Saved the days")
    after = {s["key"]: s["poolAfterDays"] for p in server.gql(STAGES, token=token)["pipelines"] for s in p["stages"]}
    assert (after["lead"], after["proposal"]) == (14, 30)
    assert {k: v for k, v in after.items() if k not in ("lead", "proposal")} == {
        k: s["poolAfterDays"] for k, s in stages.items() if k not in ("lead", "proposal")}
    await page.get_by_test_id("assign-rule").nth(1).get_by_test_id("assign-delete").click()
    await expect(page.get_by_test_id("assign-rule")).to_have_count(1)
    await expect(page.get_by_test_id("assign-status")).to_have_text("Unsaved changes")
    await page.get_by_test_id("assign-discard").click()
    await expect(page.get_by_test_id("assign-rule-name")).to_have_text(["Trade shows", "Everyone else"])
    await expect(page.get_by_test_id("assign-discard")).to_be_hidden()
    await page.reload()
    await expect(page.get_by_test_id("pool-days-lead").get_by_test_id("pool-days-input")).to_have_value("14")
    await expect(page.get_by_test_id("pool-days-proposal").get_by_test_id("pool-days-input")).to_have_value("30")
    await expect(page.get_by_test_id("assign-rule-name")).to_have_text(["Trade shows", "Everyone else"])
    await page.get_by_test_id("assign-rule").first.get_by_test_id("assign-edit").click()
    assert await page.evaluate(OVERFLOW) == []
    await shoot(page, "assignment-en-desktop")
    await page.get_by_test_id("assign-pool").screenshot(path=str(artifacts / "assignment-en-desktop-pool.png"))
    assert not page.errors, page.errors

    # Another admin's save arrives live and, with nothing unsaved here, is shown at once.
    again = [{**r, "departmentKey": r["departmentKey"] or None, "userIds": r["userIds"] or None} for r in server.gql(RULES, token=token)["assignmentRules"]]
    again[1]["name"] = "Everybody else"
    assert server.gql(SET, {"i": {"rules": again}}, token=token)["setAssignmentRules"]["userErrors"] == []
    await expect(page.get_by_test_id("assign-rule-name")).to_have_text(["Trade shows", "Everybody else"], timeout=LIVE_TIMEOUT)

    # A member has no Assignment tab, and its address shows their own tab.
    member = await sign_in(browser, server, "sales", viewport=DESKTOP, route="settings/assignment")
    await expect(member.get_by_test_id("settings-tab-profile")).to_have_attribute("aria-selected", "true")
    await expect(member.get_by_test_id("settings-tab-assignment")).to_have_count(0)
    await expect(member.get_by_test_id("assignment-settings")).to_have_count(0)

    # On a phone in 简体中文: the list and an open rule fit, every word Chinese but the organization's own data.
    ok(server.gql(GQL_SET_LOCALE, {"l": "zh-CN"}, token=token))
    phone = await sign_in(browser, server, "admin", viewport=SMALL_PHONE)
    data = data_strings(server, token) + ["Trade shows", "Everybody else", "Trade show", "Referral", "East", "Manufacturing"]
    screens = Screens(phone, server, data, "zh-CN", "assignment-zh-phone", artifacts)
    await go(phone, server, "settings/assignment", '[data-testid="assign-rule"]')
    await expect(phone.get_by_test_id("assign-save")).to_have_text("保存规则")
    await expect(phone.get_by_test_id("assign-rule-sentence").first).to_contain_text("来源 Trade show或Referral")
    await phone.get_by_test_id("assign-rule").first.get_by_test_id("assign-edit").click()
    assert await phone.evaluate(OVERFLOW) == []
    await phone.get_by_test_id("assign-rule").nth(1).get_by_test_id("assign-edit").click()
    await expect(phone.get_by_test_id("assign-rule").nth(1).get_by_test_id("assign-people")).to_be_visible()
    assert await phone.evaluate(OVERFLOW) == []
    await screens.check("rule forms", shoot=False)
    await shoot(phone, "assignment-zh-phone")
    await phone.get_by_test_id("assign-rule").nth(1).screenshot(path=str(artifacts / "assignment-zh-phone-people.png"))
    await phone.get_by_test_id("assign-pool").scroll_into_view_if_needed()
    await shoot(phone, "assignment-zh-phone-pool")
    screens.verdict()
    assert not phone.errors, phone.errors
