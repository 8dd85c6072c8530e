"""The drawer's customer tab (issue 17): a follow-up logged with the big kind buttons by a zh-CN user,
seen in the list, on the card's last-contact line and live on another user's board; a contact added (a
duplicate phone offering the customer's existing contact); a file attached and downloaded. On a
390×844 phone the follow-up form's kind buttons are thumb-sized and nothing spills sideways.
Screenshots go to /tmp/shots/."""
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser import axe
from tests.browser.conftest import LIVE_TIMEOUT, PHONE, sign_in

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SET_LOCALE = "mutation($l: String){ setMyLocale(input: {locale: $l}){ userErrors { message } } }"
ACCOUNT = "query($id: ID!){ node(id: $id){ ... on Opportunity { account { id } lastContactAt nextFollowUpAt } } }"
UPDATE = "mutation($i: UpdateOpportunityInput!){ updateOpportunity(input: $i){ userErrors { message } } }"
CREATE_CONTACT = "mutation($i: CreateContactInput!){ createContact(input: $i){ contact { id } userErrors { message } } }"
OVERFLOW = """() => { const d = document.querySelector('.drawer-body'); const edge = d.getBoundingClientRect().left + d.clientWidth;
    return Array.from(d.querySelectorAll('#pane-customer *')).filter((el) => el.getBoundingClientRect().right > edge + 1)
      .map((el) => el.localName + '.' + el.className).slice(0, 5); }"""


def card(page, card_id: str):
    return page.locator(f'[data-testid="card"][data-id="{card_id}"]')


async def open_customer_tab(page, card_id: str):
    await card(page, card_id).locator(".card-title").click()
    drawer = page.get_by_test_id("drawer")
    await drawer.locator('[data-tab="customer"]').click()
    await expect(drawer.get_by_test_id("follow-up-form")).to_be_visible()
    return drawer


async def shot(page, name: str):
    SHOTS.mkdir(exist_ok=True)
    await page.wait_for_timeout(300)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def test_follow_up_contact_and_file_in_chinese(shared_baton, browser, axe_source):
    baton = shared_baton
    token = baton.token("sales@demo.baton")
    assert baton.gql(SET_LOCALE, {"l": "zh-CN"}, token=token)["setMyLocale"]["userErrors"] == []
    opp = baton.card_id("Fleet telematics pilot", token)  # a lead with no follow-up yet
    account_id = baton.gql(ACCOUNT, {"id": opp["id"]}, token=token)["node"]["account"]["id"]
    # A contact of the customer's that is not on the deal: a second one with her phone is offered her instead.
    made = baton.gql(CREATE_CONTACT, {"i": {"accountId": account_id, "name": "Wang Fang", "phone": "139 1234 5678"}}, token=token)
    assert made["createContact"]["userErrors"] == []

    admin = await sign_in(browser, baton, "admin", route="board")  # English, watching the board
    sales = await sign_in(browser, baton, "sales", route="board")
    await expect(card(sales, opp["id"]).get_by_test_id("last-contact")).to_have_count(0)
    await expect(sales.get_by_test_id("live-status")).to_have_attribute("data-state", "live", timeout=LIVE_TIMEOUT)
    drawer = await open_customer_tab(sales, opp["id"])
    await expect(drawer.locator('[data-tab="customer"]')).to_have_text("客户")
    await expect(drawer.get_by_test_id("follow-ups")).to_contain_text("还没有跟进记录。")

    # The kind is a big toggle button; without one the form says so and logs nothing.
    form = drawer.get_by_test_id("follow-up-form")
    await form.get_by_label("摘要").fill("拜访了客户的物流总监，演示了车队看板")
    await form.get_by_test_id("log-follow-up").click()
    await expect(form.locator(".form-error")).to_have_text("请选择联系方式：电话、拜访、会议、微信、邮件或其他。")
    await expect(form.get_by_role("button", name="电话")).to_be_focused()
    visit = form.get_by_role("button", name="拜访")
    await visit.click()
    await expect(visit).to_have_attribute("aria-pressed", "true")
    await expect(form.locator(".form-error")).to_have_text("")  # answered
    await expect(form.get_by_role("button", name="电话")).to_have_attribute("aria-pressed", "false")
    await form.get_by_label("结果").fill("同意下周试点")
    await form.get_by_label("下一步").fill("发送试点方案")
    await form.get_by_label("下次跟进").fill("2031-03-05T10:00")
    await shot(sales, "follow-up-form-desktop-zh")
    await form.get_by_test_id("log-follow-up").click()

    item = drawer.get_by_test_id("follow-up")
    await expect(item).to_have_count(1)
    await expect(item).to_have_attribute("data-kind", "VISIT")
    await expect(item.locator(".kind-chip")).to_have_text("拜访")
    await expect(item).to_contain_text("拜访了客户的物流总监，演示了车队看板")
    await expect(item.get_by_test_id("follow-up-outcome")).to_have_text("同意下周试点")
    await expect(item.get_by_test_id("follow-up-next-step")).to_have_text("发送试点方案")
    await expect(form.get_by_label("摘要")).to_have_value("")
    await expect(form.get_by_role("button", name="拜访")).to_have_attribute("aria-pressed", "false")
    saved = baton.gql(ACCOUNT, {"id": opp["id"]}, token=token)["node"]
    assert saved["lastContactAt"] is not None and saved["nextFollowUpAt"].startswith("2031-03-05")

    # The card's line, in Chinese here and live in English on the other board.
    await expect(card(sales, opp["id"]).get_by_test_id("last-contact")).to_have_text("上次联系：刚刚 · 拜访")
    await expect(card(sales, opp["id"]).get_by_test_id("next-follow-up")).to_contain_text("下次跟进：3月5日")
    await expect(card(admin, opp["id"]).get_by_test_id("last-contact")).to_have_text("Last contact just now · Visit", timeout=LIVE_TIMEOUT)
    await expect(card(admin, opp["id"]).get_by_test_id("next-follow-up")).to_contain_text("Next follow-up")

    # A contact: added and put on the deal with a role, phone and email as links.
    contacts = drawer.get_by_test_id("contacts")
    await contacts.locator("summary").click()
    cform = contacts.get_by_test_id("contact-form")
    await cform.get_by_label("姓名").fill("Zhang Wei")
    await cform.get_by_label("职务").fill("物流总监")
    await cform.get_by_label("电话").fill("138 0000 1111")
    await cform.get_by_label("邮箱").fill("zhang.wei@northwind.example")
    await cform.get_by_label("微信号").fill("zhangwei_nw")
    await cform.get_by_label("在此商机中的角色").select_option("INFLUENCER")
    await cform.get_by_test_id("add-contact").click()
    row = contacts.get_by_test_id("contact")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("Zhang Wei")
    await expect(row).to_contain_text("影响者")
    await expect(row).to_contain_text("微信：zhangwei_nw")
    await expect(row.get_by_role("link", name="138 0000 1111")).to_have_attribute("href", "tel:13800001111")
    await expect(row.get_by_role("link", name="zhang.wei@northwind.example")).to_have_attribute("href", "mailto:zhang.wei@northwind.example")

    # A second contact with Wang Fang's phone: the server's DUPLICATE, and the offer to add her instead.
    await contacts.locator("summary").click()
    await cform.get_by_label("姓名").fill("Wang F.")
    await cform.get_by_label("电话").fill("13912345678")
    await cform.get_by_test_id("add-contact").click()
    await expect(cform.locator(".form-error")).to_contain_text("Wang Fang")
    await expect(cform.get_by_label("电话")).to_have_attribute("aria-invalid", "true")
    await cform.get_by_test_id("link-existing").click()
    await expect(row).to_have_count(2)
    await expect(contacts.locator('[data-testid="contact"]', has_text="Wang Fang")).to_contain_text("决策人")

    # The follow-up form now offers the deal's contacts.
    await expect(form.get_by_label("联系人").locator("option")).to_have_text(["不指定", "Zhang Wei", "Wang Fang"])

    # Proposal's gate lacks only the quote: the gate dialog takes it, then the move is one click.
    await drawer.locator("[data-close]").click()
    fresh = baton.card_id("Fleet telematics pilot", token)
    changed = baton.gql(UPDATE, {"i": {"id": opp["id"], "version": fresh["version"], "amount": "88000", "expectedCloseDate": "2031-06-30"}}, token=token)
    assert changed["updateOpportunity"]["userErrors"] == []
    await expect(card(sales, opp["id"]).locator(".amount")).to_have_text("US$88,000", timeout=LIVE_TIMEOUT)  # the new version, live
    await card(sales, opp["id"]).locator(".move-btn").click()
    await sales.get_by_test_id("move-menu").get_by_role("menuitem", name="Proposal").click()
    gate = sales.get_by_test_id("gate-dialog")
    needed = gate.get_by_test_id("gate-files")
    await expect(needed).to_contain_text("进入此阶段需要“报价单”文件。在这里上传：")
    await expect(gate.get_by_test_id("gate-move")).to_be_hidden()
    await shot(sales, "gate-file-desktop-zh")
    await needed.get_by_test_id("gate-file-quote-input").set_input_files({"name": "quote.pdf", "mimeType": "application/pdf", "buffer": PDF})
    await needed.get_by_role("button", name="上传").click()
    await expect(needed).to_contain_text("“报价单”已上传。")
    await expect(gate.get_by_test_id("gate-move")).to_be_focused()
    await gate.get_by_test_id("gate-move").click()
    await expect(sales.get_by_test_id("column-proposal").locator(f'[data-testid="card"][data-id="{opp["id"]}"]')).to_have_count(1)
    drawer = await open_customer_tab(sales, opp["id"])

    # A file in the drawer: uploaded through the multipart request, listed, downloaded with its bytes.
    files = drawer.get_by_test_id("files")
    await expect(files.get_by_test_id("file")).to_have_count(1)
    await expect(files.get_by_test_id("file")).to_have_attribute("data-kind", "quote")
    upload = files.get_by_test_id("file-form")
    await upload.get_by_label("类型").select_option("contract")
    await upload.get_by_test_id("file-form-input").set_input_files({"name": "contract.pdf", "mimeType": "application/pdf", "buffer": PDF})
    await expect(upload.locator(".file-chosen")).to_have_text("contract.pdf")
    await upload.get_by_role("button", name="上传").click()
    listed = files.locator('[data-testid="file"][data-kind="contract"]')
    await expect(listed).to_have_count(1, timeout=LIVE_TIMEOUT)  # the upload, then the drawer's reload
    await expect(listed).to_contain_text("合同")
    await expect(listed).to_contain_text("contract.pdf")
    link = listed.get_by_role("link", name="contract.pdf")
    response = await sales.request.get(baton.base + await link.get_attribute("href"))
    assert response.status == 200
    assert await response.body() == PDF
    async with sales.expect_download() as download:
        await link.click()  # asks for a fresh link first
    assert Path(await (await download.value).path()).read_bytes() == PDF

    await shot(sales, "customer-tab-desktop-zh")
    failing = axe.describe({"customer tab": await axe.audit(sales, axe_source)})
    assert not failing, failing
    assert sales.errors == [] and admin.errors == []


# The file input hides behind its label (.file-pick), which takes the tap.
SMALL = """(minimum) => Array.from(document.querySelectorAll('#pane-customer :is(button, summary, input:not(.file-input), select, .file-pick)'))
    .filter((el) => { const r = el.getBoundingClientRect(); return r.width > 0 && (r.width < minimum - 0.5 || r.height < minimum - 0.5); })
    .map((el) => el.outerHTML.slice(0, 60))"""


@pytest.mark.parametrize("who,lang", [("sales", "zh-CN"), ("admin", "en")])
async def test_follow_up_form_on_a_phone(shared_baton, browser, who, lang):
    baton = shared_baton
    token = baton.token(f"{who}@demo.baton")
    assert baton.gql(SET_LOCALE, {"l": lang}, token=token)["setMyLocale"]["userErrors"] == []
    opp = baton.card_id("Hospital scheduling suite", token)  # proposal: the demo logged a call on it
    page = await sign_in(browser, baton, who, viewport=PHONE, route="board")
    # The demo's call a few hours ago, on the card as relative time and kind.
    line = re.compile(r"^上次联系：\d+小时前 · 电话$" if lang == "zh-CN" else r"^Last contact \d+h ago · Call$")
    await expect(card(page, opp["id"]).get_by_test_id("last-contact")).to_have_text(line)
    drawer = await open_customer_tab(page, opp["id"])
    kinds = drawer.get_by_test_id("follow-up-form").locator(".kind-btn")
    words = ["电话", "拜访", "会议", "微信", "邮件", "其他"] if lang == "zh-CN" else ["Call", "Visit", "Meeting", "WeChat", "Email", "Other"]
    await expect(kinds).to_have_text(words)
    await kinds.nth(3).click()
    await expect(kinds.nth(3)).to_have_attribute("aria-pressed", "true")
    assert await page.evaluate(SMALL, 44) == []
    assert await page.evaluate(OVERFLOW) == []
    await shot(page, f"follow-up-form-phone-{lang}")
    await drawer.get_by_test_id("follow-ups").scroll_into_view_if_needed()
    await drawer.get_by_test_id("follow-up").first.scroll_into_view_if_needed()
    await shot(page, f"follow-ups-list-phone-{lang}")
    assert page.errors == []


async def test_a_new_deals_source_is_set_in_the_dialog_and_changed_in_the_drawer(baton, browser):
    """The lead source (线索来源) assignment rules match on: typed in the new-deal dialog, edited in the drawer's details.
    A server of its own: the module's other tests have signed sales in as often as sign-in allows per address."""
    token = baton.token("sales@demo.baton")
    sales = await sign_in(browser, baton, "sales", route="board")
    await sales.locator("#new-card").click()
    dialog = sales.get_by_test_id("new-card-dialog")
    await dialog.locator("input[name=title]").fill("Expo booth lead")
    await dialog.locator("input[name=accountName]").fill("Expo Visitors Ltd")
    await dialog.locator("input[name=source]").fill("  Trade show ")
    await dialog.locator("button[type=submit]").click()
    await expect(dialog).to_have_count(0)
    source = "query($s: String){ opportunities(filter: {search: $s}){ edges{ node{ id source } } } }"
    [made] = baton.gql(source, {"s": "Expo booth lead"}, token=token)["opportunities"]["edges"]
    assert made["node"]["source"] == "Trade show"

    async def saved_source():
        """The source once the drawer's save has gone through (its "Saved." toast)."""
        saved = sales.locator(".toast-ok", has_text="Saved.")
        await expect(saved).to_have_count(1, timeout=LIVE_TIMEOUT)
        await saved.evaluate("(el) => el.remove()")
        return baton.gql(source, {"s": "Expo booth lead"}, token=token)["opportunities"]["edges"][0]["node"]["source"]

    await card(sales, made["node"]["id"]).locator(".card-title").click()
    form = sales.get_by_test_id("drawer").locator("#details-form")
    await expect(form.locator("input[name=source]")).to_have_value("Trade show")
    await form.locator("input[name=source]").fill("Referral")
    await form.locator("button[type=submit]").click()
    assert await saved_source() == "Referral"
    await sales.wait_for_load_state("networkidle")  # any redraw the save set off is done before the next edit
    await form.locator("input[name=source]").fill("")
    await form.locator("button[type=submit]").click()
    assert await saved_source() is None
    assert not sales.errors, sales.errors
