"""Settings › Pipeline and Settings › Log (`#/settings/pipeline`, `#/settings/log`): an admin renames a
stage and moves it with the keyboard, adds a required field after reading the preview's count, builds a
two-step approval rule whose second step has an amount condition, and archives a stage holding cards into
another; a second user's open board follows each change without reloading, and the configuration log
names the admin for each. In English and 简体中文, at 1440×900 and 390×844: no word of the other language,
no sideways scroll, nothing outside the viewport. Screenshots go to test-artifacts/."""
import re
from decimal import Decimal

import pytest
from playwright.async_api import expect

from resolvers.approval_rules import DEFAULT_LOCKS, LOCKABLE
from resolvers.gates import GATE_FIELDS
from tests.browser.conftest import DESKTOP, LIVE_TIMEOUT, PHONE, REPO, running_server, shoot, sign_in
from tests.browser.test_i18n import Screens, data_strings, go
from tests.browser.test_rates import OUTSIDE, signed_in

pytestmark = pytest.mark.browser

STAGES = """{ pipelines { id stages { id key name position requiredFields requiredApprovals
  approvalRule { kind mode locks steps { departmentKey role mode minApprovals amountAtLeast remindAfterHours
    escalateAfterHours finalAfterHours finalAction } } } archivedStages { key name } } }"""
CARDS = "query($k: [String!]){ opportunities(filter: {stageKeys: $k}, first: 100){ edges{ node{ id title stage{ key } } } } }"
PREVIEW = "query($i: UpdateStageInput!){ previewStageChange(input: $i){ cardsNewlyFailing summary } }"
RENAME = "mutation($i: UpdateStageInput!){ updateStage(input: $i){ userErrors{ message } } }"


def js_list(name: str, source: str) -> list[str]:
    body = re.search(rf"(?:export )?const {name} = \[(.*?)\];", source, re.S).group(1)
    return re.findall(r"'(\w+)'", body)


def test_the_modules_field_lists_mirror_the_server():
    """No query lists the gate fields or the lockable fields: the module keeps copies, kept equal here."""
    source = (REPO / "web" / "js" / "settings_pipeline.js").read_text(encoding="utf-8")
    assert js_list("GATE_FIELDS", source) == list(GATE_FIELDS)
    assert js_list("LOCKABLE", source) == list(LOCKABLE)
    assert js_list("DEFAULT_LOCKS", source) == list(DEFAULT_LOCKS)


def stages(server, token) -> dict:
    p = server.gql(STAGES, token=token)["pipelines"][0]
    return {"id": p["id"], "order": [s["key"] for s in sorted(p["stages"], key=lambda s: s["position"])],
            "by_key": {s["key"]: s for s in p["stages"]}, "archived": [s["key"] for s in p["archivedStages"]]}


def cards_in(server, token, key: str) -> list[dict]:
    return [e["node"] for e in server.gql(CARDS, {"k": [key]}, token=token)["opportunities"]["edges"]]


async def board_order(page) -> list[str]:
    return await page.locator("#board .column").evaluate_all("els => els.map((e) => e.dataset.stage)")


async def no_sideways_scroll(page):
    assert await page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert await page.evaluate(OUTSIDE) == []


async def pick_gate_field(server, token, stage) -> tuple[str, int, str]:
    """A gate field the stage lacks that some of its cards lack too, with the server's own count and words."""
    for field in GATE_FIELDS:
        if field in stage["requiredFields"] or field == "lostReason":
            continue
        p = server.gql(PREVIEW, {"i": {"id": stage["id"], "requiredFields": [*stage["requiredFields"], field]}}, token=token)["previewStageChange"]
        if p["cardsNewlyFailing"]:
            return field, p["cardsNewlyFailing"], p["summary"]
    raise AssertionError("no gate field would stop a card in " + stage["key"])


async def build_rule(row, kind: str, steps: list[dict]):
    """Fill the approval-rule builder of a stage's row with `steps` (department, sign mode, amount, remind)."""
    form = row.get_by_test_id("rule-form")
    await form.get_by_test_id("rule-kind").fill(kind)
    while await form.get_by_test_id("rule-step").count() > 1:
        await form.get_by_test_id("rule-step").last.locator("[data-step-remove]").click()
    for i, step in enumerate(steps):
        if i:
            await form.get_by_test_id("rule-add-step").click()
        li = form.get_by_test_id("rule-step").nth(i)
        await li.get_by_test_id("step-department").select_option(step["department"])
        await li.get_by_test_id("step-sign-mode").select_option(step["mode"])
        if step.get("amount"):
            await li.get_by_test_id("step-has-amount").check()
            await li.get_by_test_id("step-amount").fill(step["amount"])
        if step.get("remind"):
            await li.locator(".step-timeouts summary").click()
            await li.locator("[name=remindAfterHours]").fill(str(step["remind"]))


async def test_an_admin_shapes_the_pipeline_and_another_board_follows_live(baton, browser, artifacts):
    server = baton
    token = server.token("admin@demo.baton")
    admin_name = server.gql("{ viewer { name } }", token=token)["viewer"]["name"]
    before = stages(server, token)
    assert before["order"][:3] == ["lead", "qualified", "proposal"], before["order"]

    sales = await sign_in(browser, server, "sales", viewport=DESKTOP, route="board")
    await sales.get_by_test_id("column-proposal").wait_for()
    admin = await sign_in(browser, server, "admin", viewport=DESKTOP, route="settings/pipeline")
    row = admin.get_by_test_id("stage-proposal")
    await row.get_by_test_id("stage-name").wait_for()

    # Rename: an empty name is refused in the server's words beside the field; then Proposal → Proposal & pricing.
    await row.get_by_test_id("stage-rename").click()
    await expect(row.get_by_test_id("rename-input")).to_be_focused()
    await row.get_by_test_id("rename-input").fill(" ")
    await row.get_by_test_id("rename-save").click()
    await expect(row.get_by_test_id("rename-error")).not_to_be_empty()
    await expect(row.get_by_test_id("rename-input")).to_have_attribute("aria-invalid", "true")
    await row.get_by_test_id("rename-input").fill("Proposal & pricing")
    await row.get_by_test_id("rename-save").click()
    await expect(row.get_by_test_id("stage-name")).to_have_text("Proposal & pricing")
    await expect(sales.locator("#column-title-proposal")).to_have_text("Proposal & pricing", timeout=LIVE_TIMEOUT)

    # Reorder with the keyboard: Enter on "Move up"; the new place is announced and focus stays on the arrow.
    up = row.get_by_test_id("stage-up")
    await up.focus()
    await admin.keyboard.press("Enter")
    await expect(admin.locator("#announcer")).to_contain_text(f"Proposal & pricing is now stage 2 of {len(before['order'])}")
    await expect(row.get_by_test_id("stage-up")).to_be_focused()
    assert stages(server, token)["order"][:3] == ["lead", "proposal", "qualified"]
    await expect(sales.locator("#board .column").nth(1)).to_have_attribute("data-stage", "proposal", timeout=LIVE_TIMEOUT)
    assert (await board_order(sales))[:3] == ["lead", "proposal", "qualified"]

    # A required field: the preview says how many cards would stop passing, in the server's words, before saving.
    proposal = stages(server, token)["by_key"]["proposal"]
    field, count, summary = await pick_gate_field(server, token, proposal)
    await row.get_by_test_id("stage-edit").click()
    await row.get_by_test_id(f"gate-field-{field}").check()
    await row.get_by_test_id("gate-review").click()
    await expect(row.get_by_test_id("gate-preview")).to_have_text(summary)
    assert str(count) in summary and "would no longer pass the gate" in summary
    await expect(row.get_by_test_id("gate-confirm-save")).to_be_focused()
    await shoot(admin, "pipeline-settings-en-desktop-preview")
    await row.get_by_test_id("gate-confirm-save").click()
    await expect(admin.locator(".toast-ok").last).to_contain_text("Saved the gate")
    assert field in stages(server, token)["by_key"]["proposal"]["requiredFields"]

    # An approval rule with two steps, the second only from an amount: what the server stores is what was built.
    nego = admin.get_by_test_id("stage-negotiation")
    await nego.get_by_test_id("stage-edit").click()
    await build_rule(nego, "discount", [
        {"department": "finance", "mode": "ALL", "remind": 24},
        {"department": "legal", "mode": "ANY", "amount": "500000"},
    ])
    await nego.get_by_test_id("rule-review").click()
    await expect(nego.get_by_test_id("rule-preview")).not_to_be_empty()
    await shoot(admin, "pipeline-settings-en-desktop-rule")
    await nego.get_by_test_id("rule-confirm-save").click()
    await expect(admin.locator(".toast-ok").last).to_contain_text("Saved the approval rule")
    rule = stages(server, token)["by_key"]["negotiation"]["approvalRule"]
    assert rule["kind"] == "discount" and rule["mode"] == "SEQUENTIAL"
    assert [(s["departmentKey"], s["mode"]) for s in rule["steps"]] == [("finance", "ALL"), ("legal", "ANY")]
    assert rule["steps"][0]["amountAtLeast"] is None and rule["steps"][0]["remindAfterHours"] == 24
    assert Decimal(rule["steps"][1]["amountAtLeast"]) == Decimal("500000") and rule["steps"][1]["remindAfterHours"] is None
    assert "discount" in stages(server, token)["by_key"]["negotiation"]["requiredApprovals"]

    # Archive Qualified, which holds cards, moving them to Lead: the other board loses the column, the cards land in Lead.
    moving = cards_in(server, token, "qualified")
    assert moving, "the demo has cards in Qualified"
    lead_id = stages(server, token)["by_key"]["lead"]["id"]
    qual = admin.get_by_test_id("stage-qualified")
    await qual.get_by_test_id("stage-archive").click()
    dialog = admin.get_by_test_id("archive-dialog")
    await expect(dialog).to_contain_text(f"{len(moving)} cards are in Qualified")
    await expect(dialog.get_by_test_id("archive-target")).to_be_focused()
    await dialog.get_by_test_id("archive-target").select_option(lead_id)
    await shoot(admin, "pipeline-settings-en-desktop-archive")
    await dialog.get_by_test_id("archive-confirm").click()
    await expect(dialog).to_have_count(0)
    await expect(admin.locator(".toast-ok").last).to_contain_text(f"moved {len(moving)} cards to Lead")
    await expect(admin.get_by_test_id("archived-qualified")).to_be_visible()
    after = stages(server, token)
    assert "qualified" not in after["order"] and after["archived"] == ["qualified"]
    assert {c["id"] for c in cards_in(server, token, "lead")} >= {c["id"] for c in moving}
    await expect(sales.get_by_test_id("column-qualified")).to_have_count(0, timeout=LIVE_TIMEOUT)
    for c in moving:
        await expect(sales.get_by_test_id("column-lead").locator(".card-title", has_text=c["title"])).to_have_count(1, timeout=LIVE_TIMEOUT)
    await shoot(sales, "pipeline-settings-en-desktop-other-board")
    await no_sideways_scroll(admin)
    await shoot(admin, "pipeline-settings-en-desktop")

    # The configuration log: each change with the admin's name, newest first; a change made now arrives live.
    await admin.get_by_test_id("settings-tab-log").click()
    log = admin.get_by_test_id("configlog-list")
    await expect(log.get_by_test_id("log-entry").first).to_be_visible()
    texts = await log.get_by_test_id("log-what").all_inner_texts()
    wanted = [f"{admin_name} archived stage Qualified", f"{admin_name} set the approval rule of stage Negotiation",
              f"{admin_name} changed the gate of stage Proposal & pricing", f"{admin_name} reordered the stages",
              f"{admin_name} renamed stage Proposal → Proposal & pricing"]
    assert [w for w in wanted if w not in texts] == [], texts
    assert [texts.index(w) for w in wanted] == sorted(texts.index(w) for w in wanted), texts  # newest first
    renamed = log.get_by_test_id("log-entry").filter(has_text="renamed stage Proposal")
    await expect(renamed.get_by_test_id("log-before")).to_have_text("Proposal")
    await expect(renamed.get_by_test_id("log-after")).to_have_text("Proposal & pricing")
    assert server.gql(RENAME, {"i": {"id": proposal["id"], "name": "Proposals"}}, token=token)["updateStage"]["userErrors"] == []
    await expect(log.get_by_test_id("log-what").first).to_have_text(f"{admin_name} renamed stage Proposal & pricing → Proposals", timeout=LIVE_TIMEOUT)
    viewer_id = next(u["id"] for u in server.gql("{ users { id email } }", token=token)["users"] if u["email"] == "viewer@demo.baton")
    deactivated = server.gql("mutation($i: UserIdInput!){ deactivateUser(input: $i){ userErrors{ message } } }", {"i": {"id": viewer_id}}, token=token)
    assert deactivated["deactivateUser"]["userErrors"] == []
    await expect(log.get_by_test_id("log-what").first).to_have_text(f"{admin_name} deactivated viewer@demo.baton", timeout=LIVE_TIMEOUT)
    await admin.get_by_test_id("configlog-subject").select_option("pipeline")
    await expect(log.locator('[data-testid="log-entry"]:not([data-type="PIPELINE_UPDATED"])')).to_have_count(0)
    await expect(log.get_by_test_id("log-entry").first).to_be_visible()
    await no_sideways_scroll(admin)
    await shoot(admin, "pipeline-settings-en-desktop-log")
    assert not admin.errors and not sales.errors, admin.errors + sales.errors

    # On a phone: the list, an open editor and the log fit.
    phone = await sign_in(browser, server, "admin", viewport=PHONE, route="settings/pipeline")
    await phone.get_by_test_id("stage-negotiation").get_by_test_id("stage-edit").click()
    await expect(phone.get_by_test_id("stage-negotiation").get_by_test_id("rule-step")).to_have_count(2)
    await no_sideways_scroll(phone)
    await shoot(phone, "pipeline-settings-en-phone")
    await phone.get_by_test_id("stage-negotiation").get_by_test_id("rule-form").screenshot(path=str(artifacts / "pipeline-settings-en-phone-rule.png"))
    await go(phone, server, "settings/log", '[data-testid="log-entry"]')
    await no_sideways_scroll(phone)
    await shoot(phone, "pipeline-settings-en-phone-log")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_pipeline_settings_and_log_in_chinese(browser, artifacts, viewport):
    with running_server("--locale", "zh-CN") as server:
        token = server.token("admin@demo.baton")
        size = "phone" if viewport is PHONE else "desktop"
        # Stage keys are the organization's codes, shown beside the names as written.
        data = data_strings(server, token) + ["方案与报价", "折扣"] + stages(server, token)["order"]
        page = await signed_in(browser, server, "admin", locale="zh-CN", viewport=viewport)
        screens = Screens(page, server, data, "zh-CN", f"pipeline-zh-{size}", artifacts)
        await go(page, server, "settings/pipeline", '[data-testid="stage-name"]')
        row = page.get_by_test_id("stage-proposal")
        await row.get_by_test_id("stage-rename").click()
        await row.get_by_test_id("rename-input").fill("方案与报价")
        await row.get_by_test_id("rename-save").click()
        await expect(row.get_by_test_id("stage-name")).to_have_text("方案与报价")
        await screens.check("stages")
        await row.get_by_test_id("stage-edit").click()
        await build_rule(row, "折扣", [{"department": "finance", "mode": "ALL", "remind": 24}, {"department": "legal", "mode": "COUNT", "amount": "1000000"}])
        await row.get_by_test_id("rule-step").nth(1).get_by_test_id("step-min").fill("1")
        await row.get_by_test_id("rule-review").click()
        await expect(row.get_by_test_id("rule-preview")).not_to_be_empty()
        await screens.check("stage editor")
        await row.get_by_test_id("rule-confirm-save").click()
        await expect(page.locator(".toast-ok").last).to_contain_text("已保存")
        await page.get_by_test_id("stage-qualified").get_by_test_id("stage-archive").click()
        await expect(page.get_by_test_id("archive-target")).to_be_visible()
        await screens.check("archive dialog")
        await page.get_by_test_id("archive-confirm").click()
        await expect(page.get_by_test_id("archived-qualified")).to_be_visible()
        await screens.check("archived")
        await go(page, server, "settings/log", '[data-testid="log-entry"]')
        await expect(page.get_by_test_id("log-what").first).to_contain_text("归档了阶段")
        await screens.check("log")
        assert not page.errors, page.errors
        screens.verdict()
