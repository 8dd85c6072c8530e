"""The board in 简体中文 and English.

Every screen is opened in zh-CN, once with the user's own locale set through GraphQL (the browser
says en-US) and once with nothing but the browser's Accept-Language (Playwright's `locale`), on the
Chinese demo (`baton serve --demo --locale zh-CN`, so the cards, people and stages are Chinese too).
On each screen the visible text, the page title and every aria-label, title, placeholder and alt are
collected; any Latin word left once data (names, titles, emails, currency codes) and a few brand
words are taken out is an untranslated string, and fails the test. The same screens in English (the
English demo) must show no Chinese outside data. Both at 1440×900 and at 390×844, where Chinese
labels must also fit their buttons, tabs and column heads. Screenshots go to test-artifacts/.

Static checks: both catalogs have the same keys and placeholders, every key the code asks for is in
them, and web/js and index.html carry no user-facing words of their own.
"""
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.conftest import DESKTOP, LIVE_TIMEOUT, PASSWORD, PHONE, REPO, running_server

pytestmark = pytest.mark.browser

WEB = REPO / "web"

# Words that are the same in every language: the product, the API, a file format, the name of the
# Enter key (printed on it), and "English" as the language switch names it.
BRAND = {"Baton", "GraphiQL", "GraphQL", "API", "CSV", "Enter", "English"}
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
HAN = re.compile(r"[\u3400-\u9fff]")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
HANDLE = re.compile(r"@[A-Za-z0-9_]+")
CURRENCY = re.compile(r"\b[A-Z]{3}\b|\b[A-Z]{1,2}\$")  # codes (USD) and Intl's symbols (US$, HK$)

# Visible text nodes, the page title and the text of attributes people read or hear, from the rendered
# page. Text inside an element marked as another language (`lang`) is that language on purpose:
# the language switch names the other language in itself, Chinese data on the English board says so.
COLLECT = """() => {
  const page = document.documentElement.lang;
  const other = (el) => { const l = el.closest('[lang]'); return !!l && l.lang !== page; };
  const shown = (el) => {
    const holder = el.closest('option, datalist, svg') || el;
    if (holder.localName === 'datalist') return false;
    const box = holder.localName === 'option' ? holder.closest('select') : holder;
    return !!box && box.getClientRects().length > 0 && getComputedStyle(box).visibility !== 'hidden';
  };
  const where = (el) => `${el.localName}${el.id ? '#' + el.id : ''}${el.classList.length ? '.' + [...el.classList].join('.') : ''}`;
  const out = [{ where: 'document.title', text: document.title }];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest('script, style, noscript, template') || other(el) || !shown(el)) continue;
    out.push({ where: where(el), text: n.textContent.trim() });
  }
  for (const el of document.body.querySelectorAll('[aria-label], [title], [placeholder], [alt], [aria-description]')) {
    if (other(el) || !shown(el)) continue;
    for (const a of ['aria-label', 'title', 'placeholder', 'alt', 'aria-description']) {
      const v = el.getAttribute(a);
      if (v && v.trim()) out.push({ where: `${where(el)}[${a}]`, text: v.trim() });
    }
  }
  return out;
}"""

# Text that does not fit its control: a button, tab, link, column head or chip clipping or spilling its words.
OVERFLOWING = """() => {
  const out = [];
  const vw = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > vw + 1) out.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
  for (const el of document.querySelectorAll('button, [role=tab], .nav a, .column-head h2, .col-total, .wait, .prio, .dept, .live-status, label.check, .kpi-label, .lang-switch')) {
    if (!el.getClientRects().length || el.closest('[hidden], .sr-only, .board, .menu')) continue;
    const r = el.getBoundingClientRect();
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') out.push(`clipped: ${el.localName}.${el.className} "${el.textContent.trim().slice(0, 40)}"`);
    if (r.right > vw + 1 || r.left < -1) out.push(`outside the viewport: ${el.localName}.${el.className} "${el.textContent.trim().slice(0, 40)}" (${Math.round(r.left)}–${Math.round(r.right)} of ${vw})`);
  }
  return out;
}"""


def card(page, title: str):
    return page.locator('[data-testid="card"]', has=page.locator(".card-title", has_text=title))


class Screens:
    """Opens each screen, collects what is wrong on it, and takes its picture."""

    def __init__(self, page, server, data: list[str], lang: str, name: str, artifacts: Path):
        self.page, self.server, self.lang, self.name, self.artifacts = page, server, lang, name, artifacts
        # Longest first, so "Ada Admin" goes before "Ada".
        self.data = sorted({d for d in data if d and d.strip()}, key=len, reverse=True)
        self.problems: list[str] = []
        self.seen: list[str] = []

    def leftover(self, text: str) -> str:
        for d in self.data:
            text = text.replace(d, " ")
        text = EMAIL.sub(" ", text)
        text = HANDLE.sub(" ", text)
        for word in BRAND:
            text = text.replace(word, " ")
        return CURRENCY.sub(" ", text)

    async def check(self, screen: str, *, shoot: bool = True, fit: bool = True):
        await self.page.wait_for_timeout(200)
        self.seen.append(screen)
        lang = await self.page.evaluate("document.documentElement.lang")
        if lang != self.lang:
            self.problems.append(f"{screen}: <html lang={lang!r}>, not {self.lang!r}")
        for item in await self.page.evaluate(COLLECT):
            rest = self.leftover(item["text"])
            bad = LATIN_WORD.findall(rest) if self.lang == "zh-CN" else HAN.findall(rest)
            if bad:
                self.problems.append(f"{screen}: {item['where']}: {item['text']!r} ({' '.join(bad)})")
        if fit:
            self.problems += [f"{screen}: {p}" for p in await self.page.evaluate(OVERFLOWING)]
        if shoot:
            slug = re.sub(r"[^a-z0-9]+", "-", screen.lower()).strip("-")
            await self.page.screenshot(path=str(self.artifacts / f"i18n-{self.name}-{slug}.png"))

    def verdict(self):
        assert not self.problems, f"{len(self.problems)} problems in {self.name}:\n" + "\n".join(self.problems)


DATA = """{ pipelines { name stages { name deliverables { title department { name } } } } departments { name }
  users { name handle email department { name } }
  opportunities(first: 100) { edges { node { title nextStep lostReason tags account { name industry region }
    tasks(first: 50) { edges { node { title } } } comments(first: 50) { edges { node { body } } }
    handoffs { note responseNote } approvals { kind comment } } } } }"""


def data_strings(server, token) -> list[str]:
    """What the organization's own data says: names, titles, notes. It is shown as written, in any language."""
    d = server.gql(DATA, token=token)
    out = [p["name"] for p in d["pipelines"]]
    for p in d["pipelines"]:
        for s in p["stages"]:
            out.append(s["name"])
            out += [x["title"] for x in s["deliverables"] or []]
    out += [x["name"] for x in d["departments"]]
    for u in d["users"]:
        out += [u["name"], u["email"], u["handle"]]
    for e in d["opportunities"]["edges"]:
        o = e["node"]
        out += [o["title"], o["nextStep"], o["lostReason"], *o["tags"], o["account"]["name"], o["account"]["industry"], o["account"]["region"]]
        out += [t["node"]["title"] for t in o["tasks"]["edges"]] + [c["node"]["body"] for c in o["comments"]["edges"]]
        out += [h["note"] for h in o["handoffs"]] + [h["responseNote"] for h in o["handoffs"]]
        out += [a["kind"] for a in o["approvals"]] + [a["comment"] for a in o["approvals"]]
    return [x for x in out if x]


GQL_SET_LOCALE = "mutation($l: String){ setMyLocale(input: {locale: $l}){ user { locale } userErrors { message } } }"
GQL_CREATE = "mutation($i: CreateOpportunityInput!){ createOpportunity(input: $i){ opportunity { id version } userErrors { message } } }"
GQL_MOVE = "mutation($i: MoveOpportunityInput!){ moveOpportunity(input: $i){ opportunity { version } userErrors { code message } } }"
GQL_TASK = "mutation($i: CreateTaskInput!){ createTask(input: $i){ userErrors { message } } }"
GQL_COMMENT = "mutation($i: AddCommentInput!){ addComment(input: $i){ userErrors { message } } }"
GQL_HANDOFF = "mutation($i: RequestHandoffInput!){ requestHandoff(input: $i){ userErrors { message } } }"
GQL_APPROVAL = "mutation($i: RequestApprovalInput!){ requestApproval(input: $i){ userErrors { message } } }"


def ok(result: dict) -> dict:
    (payload,) = result.values()
    assert not payload.get("userErrors"), payload["userErrors"]
    return payload


def seed_a_card(server, *, title: str, account: str, task: str, comment: str, note: str) -> dict:
    """A card of the test's own, in the data's language, with a task, a comment, a handoff and an approval,
    left in Qualified without an amount so that moving it on to Proposal is refused."""
    admin = server.token("admin@demo.baton")
    sales = server.gql("{ users { id handle email } }", token=admin)["users"]
    me = next(u for u in sales if u["email"] == "sales@demo.baton")
    made = ok(server.gql(GQL_CREATE, {"i": {"title": title, "accountName": account, "priority": "HIGH", "ownerId": me["id"]}}, token=admin))["opportunity"]
    ok(server.gql(GQL_MOVE, {"i": {"id": made["id"], "version": made["version"], "stageKey": "qualified"}}, token=admin))
    ok(server.gql(GQL_TASK, {"i": {"opportunityId": made["id"], "title": task, "assigneeId": me["id"], "dueAt": "2020-01-01T09:00:00Z"}}, token=admin))
    ok(server.gql(GQL_COMMENT, {"i": {"opportunityId": made["id"], "body": f"@{me['handle']} {comment}"}}, token=admin))
    ok(server.gql(GQL_HANDOFF, {"i": {"opportunityId": made["id"], "toDepartmentKey": "legal", "note": note}}, token=admin))
    ok(server.gql(GQL_APPROVAL, {"i": {"opportunityId": made["id"], "kind": "contract", "departmentKeys": ["legal", "finance"], "mode": "SEQUENTIAL"}}, token=admin))
    return made


async def sign_in_page(browser, server, viewport, locale=None):
    context = await browser.new_context(viewport=viewport, **({"locale": locale} if locale else {}))
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.goto(server.base + "/")
    await page.get_by_test_id("login-email").wait_for()
    return page


async def go(page, server, route: str, ready: str):
    await page.goto(f"{server.base}/#/{route}")
    await page.locator(ready).first.wait_for()
    await expect(page.locator("[aria-busy=true]")).to_have_count(0)


async def walk(screens: Screens, card_title: str, *, before_sign_in: bool):
    """Every screen of the board, as sales: sign-in (and refused), board, filters, move menu, a refused move,
    a move's toast, new deal, the drawer's six tabs, a department's queue, inbox, analytics."""
    page, server = screens.page, screens.server
    phone = page.viewport_size["width"] < 600
    if before_sign_in:
        await screens.check("sign-in")
        await page.get_by_test_id("login-submit").click()
        await expect(page.locator("#login-error")).not_to_be_empty()
        await screens.check("sign-in missing")
    await page.get_by_test_id("login-email").fill("sales@demo.baton")
    if before_sign_in:
        await page.get_by_test_id("login-password").fill("not the password")
        await page.get_by_test_id("login-submit").click()
        await expect(page.locator("#login-error")).not_to_be_empty()
        await screens.check("sign-in refused", shoot=False)  # the server's words, in the browser's language
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.locator(".topbar").wait_for()
    await go(page, server, "board", '[data-testid="card"]')
    await expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "live", timeout=LIVE_TIMEOUT)
    await screens.check("board")

    if phone:
        await page.get_by_test_id("filter-toggle").click()
        await screens.check("filters open")
        await page.get_by_test_id("filter-toggle").click()
    else:
        await page.locator('#filters input[name=mine]').check()
        await screens.check("filters set")
        await page.locator("#clear-filters").click()

    subject = card(page, card_title)
    await subject.locator(".move-btn").click()
    await expect(page.get_by_test_id("move-menu")).to_be_visible()
    await screens.check("move menu")
    await page.get_by_test_id("move-menu").locator('[data-stage="proposal"]').click()
    await expect(page.get_by_test_id("gate-dialog")).to_be_visible()
    await expect(page.get_by_test_id("gate-message")).not_to_be_empty()
    await screens.check("refused move")
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("gate-dialog")).to_have_count(0)

    await page.locator("#new-card").click()
    await expect(page.get_by_test_id("new-card-dialog")).to_be_visible()
    await screens.check("new deal")
    await page.keyboard.press("Escape")

    await subject.locator(".card-title").click()
    drawer = page.get_by_test_id("drawer")
    await expect(drawer.locator("h2")).to_have_text(card_title)
    for key in ("details", "tasks", "comments", "customer", "baton", "history"):
        await drawer.locator(f'[data-tab="{key}"]').click()
        await expect(drawer.locator(f'[data-pane="{key}"]')).to_be_visible()
        await screens.check(f"drawer {key}")
    if phone:
        tabs = await drawer.locator("[role=tab]").evaluate_all(
            "(tabs) => tabs.map((t) => { const r = t.getBoundingClientRect(); return [t.textContent.trim(), r.left, r.right]; })")
        assert all(left >= 0 and right <= PHONE["width"] for _, left, right in tabs), tabs
    await drawer.locator("[data-close]").click()
    await expect(drawer).to_be_hidden()

    # A move that works: its toast.
    await subject.locator(".move-btn").click()
    await page.get_by_test_id("move-menu").locator('[data-stage="lead"]').click()
    await expect(page.locator(".toast-ok")).to_be_visible()
    await screens.check("toast after a move")

    await go(page, server, "lens/legal", '[data-testid="lens"]')
    await screens.check("legal's queue")
    await go(page, server, "lens/sales", '[data-testid="lens"]')
    await screens.check("own queue")
    await go(page, server, "inbox", '[data-testid="notification"]')
    await screens.check("inbox")
    await go(page, server, "analytics", '[data-testid="chart-funnel"] svg')
    await screens.check("analytics")
    assert not page.errors, page.errors


# The board's own formatting functions, run in the page (the same module instance the board uses).
FORMATS = """async () => { const u = await import('/static/js/util.js');
  return [u.when('2026-01-31T20:05:00Z'), u.day('2026-02-01'), u.money(12345.6, 'CNY'), u.money(99, 'CNY'),
    u.money(150000000, 'CNY', true), u.money(2400000, 'USD', true)]; }"""


@pytest.fixture(scope="module")
def zh_baton():
    # Three walks sign sales in again and again: more than the 5 sign-ins a minute one person gets.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BATON_LOGIN_ATTEMPTS", "50")
        with running_server("--locale", "zh-CN") as server:
            yield server


ZH_CARD = dict(title="智慧园区二期", account="杭州云栖科技", task="准备报价单", comment="请尽快确认预算", note="请审核合同条款")
EN_CARD = dict(title="Harbour logistics", account="Harbour Freight Ltd", task="Prepare the quote", comment="Please confirm the budget", note="Please review the terms")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_every_screen_in_chinese_by_the_users_choice(zh_baton, browser, artifacts, viewport):
    """The browser says en-US; the user's own locale, set through GraphQL, makes the board Chinese."""
    title = f"{ZH_CARD['title']}{'甲' if viewport == DESKTOP else '乙'}"
    seed_a_card(zh_baton, **{**ZH_CARD, "title": title})
    token = zh_baton.token("sales@demo.baton")
    assert zh_baton.gql(GQL_SET_LOCALE, {"l": "zh-CN"}, token=token)["setMyLocale"]["user"]["locale"] == "zh-CN"
    try:
        page = await sign_in_page(browser, zh_baton, viewport)
        assert await page.evaluate("document.documentElement.lang") == "en"  # no user yet: the browser's language
        screens = Screens(page, zh_baton, data_strings(zh_baton, token), "zh-CN", f"zh-user-{'desktop' if viewport == DESKTOP else 'phone'}", artifacts)
        await walk(screens, title, before_sign_in=False)
        screens.verdict()
    finally:
        zh_baton.gql(GQL_SET_LOCALE, {"l": None}, token=token)


async def test_every_screen_in_chinese_by_the_browsers_language(zh_baton, browser, artifacts):
    """No locale on the user: Accept-Language (Playwright's zh-CN browser) chooses, before and after sign-in."""
    title = f"{ZH_CARD['title']}丙"
    seed_a_card(zh_baton, **{**ZH_CARD, "title": title})
    token = zh_baton.token("sales@demo.baton")
    assert zh_baton.gql("{ viewer { locale } }", token=token)["viewer"]["locale"] is None
    page = await sign_in_page(browser, zh_baton, DESKTOP, locale="zh-CN")
    screens = Screens(page, zh_baton, data_strings(zh_baton, token), "zh-CN", "zh-browser-desktop", artifacts)
    await walk(screens, title, before_sign_in=True)
    screens.verdict()
    # Dates in the organization's zone (the Chinese demo's: Asia/Shanghai, UTC+8), money in Chinese
    # number words (万, 亿) where the board abbreviates, with the cents an amount has.
    # (Asked without Accept-Language and with no choice of the user's: the organization's language.)
    assert zh_baton.gql("{ localeSettings { locale timeZone } }", token=token)["localeSettings"] == {"locale": "zh-CN", "timeZone": "Asia/Shanghai"}
    assert await page.evaluate(FORMATS) == ["2月1日 04:05", "2026年2月1日", "¥12,345.60", "¥99", "¥1.5亿", "US$240万"]
    await go(page, zh_baton, "board", '[data-testid="col-totals"]')
    totals = await page.locator('[data-testid="col-totals"]').all_inner_texts()
    assert totals and all(re.search("[万亿]", t) for t in totals), totals


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_every_screen_in_english(browser, artifacts, viewport):
    with running_server() as server:
        title = EN_CARD["title"]
        seed_a_card(server, **EN_CARD)
        token = server.token("sales@demo.baton")
        page = await sign_in_page(browser, server, viewport)
        screens = Screens(page, server, data_strings(server, token), "en", f"en-{'desktop' if viewport == DESKTOP else 'phone'}", artifacts)
        await walk(screens, title, before_sign_in=True)
        screens.verdict()


async def header_rows(page) -> dict:
    """The top of each item on the header's first line: the brand, live status, inbox, language and sign-out
    share one line on a phone (the navigation goes below), at 390 and at 360 px."""
    tops = {}
    for width in (PHONE["width"], 360):
        await page.set_viewport_size({"width": width, "height": PHONE["height"]})
        tops[width] = await page.evaluate("""() => [...document.querySelectorAll('.topbar > :not(.nav):not(.spacer)')]
            .filter((e) => e.offsetWidth).map((e) => Math.round(e.getBoundingClientRect().top + e.offsetHeight / 2))""")
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
    await page.set_viewport_size(PHONE)
    return tops


async def test_the_language_switch_keeps_the_choice(baton, browser):
    """中文 on the sign-in page turns the page Chinese and, once signed in, is stored as the user's locale;
    English in the header stores that and redraws the board in place (no reload, focus kept on the switch)."""
    page = await sign_in_page(browser, baton, PHONE)
    assert await page.evaluate(FORMATS) == ["Jan 31, 20:05", "Feb 1, 2026", "CN¥12,345.60", "CN¥99", "CN¥150M", "$2.4M"]
    switch = page.get_by_test_id("lang-switch")
    await expect(switch).to_have_text("中文")
    await switch.click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.get_by_test_id("login-submit")).to_have_text("登录")
    await expect(page.get_by_test_id("lang-switch")).to_be_focused()
    await page.get_by_test_id("login-email").fill("sales@demo.baton")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await go(page, baton, "board", '[data-testid="card"]')
    await expect(page.locator('.nav a[data-route="board"]')).to_have_text("看板")
    await expect(page.locator("#new-card")).to_have_text("+ 新建商机")
    # The English demo's zone is UTC; the words and number words are Chinese.
    assert await page.evaluate(FORMATS) == ["1月31日 20:05", "2026年2月1日", "¥12,345.60", "¥99", "¥1.5亿", "US$240万"]
    for width, middles in (await header_rows(page)).items():
        assert len(middles) == 5 and max(middles) - min(middles) <= 2, (width, middles)
    token = baton.token("sales@demo.baton")
    assert baton.gql("{ viewer { locale } localeSettings { locale } }", token=token) == {"viewer": {"locale": "zh-CN"}, "localeSettings": {"locale": "zh-CN"}}

    await page.evaluate("window.notReloaded = true")
    switch = page.get_by_test_id("lang-switch")
    await expect(switch).to_have_text("English")
    box = await switch.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    await switch.click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#new-card")).to_have_text("+ New deal")
    await expect(page.get_by_test_id("lang-switch")).to_be_focused()
    await expect(page.get_by_test_id("live-status")).to_have_text("live", timeout=LIVE_TIMEOUT)
    assert await page.evaluate("window.notReloaded") is True
    assert baton.gql("{ viewer { locale } }", token=token)["viewer"]["locale"] == "en"
    for width, middles in (await header_rows(page)).items():
        assert len(middles) == 5 and max(middles) - min(middles) <= 2, (width, middles)
    assert not page.errors, page.errors


async def test_a_card_link_opens_its_drawer_and_back_closes_it(baton, browser):
    """Email and bot messages link to `/#board/<id>`; the drawer sets `#/opportunity/<id>`, and Back closes it."""
    token = baton.token("sales@demo.baton")
    first = baton.card_id("Campus-wide licence", token)
    second = baton.card_id("Analytics add-on", token)
    # The link the messages carry, as the server builds it (for one id; the same for this card's).
    from resolvers.channel_queue import card_path
    from resolvers.ids import to_global
    link = card_path(1).replace(to_global("Opportunity", 1), first["id"])
    assert link == f"/#board/{first['id']}"
    page = await sign_in_page(browser, baton, DESKTOP)
    await page.get_by_test_id("login-email").fill("sales@demo.baton")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.locator(".topbar").wait_for()
    drawer = page.get_by_test_id("drawer")

    # Loading the page with a message's link: the board, with that card open.
    await page.goto(baton.base + link)
    await page.reload()
    await expect(drawer.locator("h2")).to_have_text("Campus-wide licence")
    await expect(page.locator('[data-testid="card"]').first).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(drawer).to_be_hidden()
    await expect(page).to_have_url(re.compile(r"#/board$"))

    # Opening a card sets its address; Back closes the drawer and leaves the board as it was.
    await page.evaluate("document.getElementById('board').dataset.mark = 'kept'")
    await card(page, "Analytics add-on").locator(".card-title").click()
    await expect(drawer.locator("h2")).to_have_text("Analytics add-on")
    await expect(page).to_have_url(re.compile(rf"#/opportunity/{re.escape(second['id'])}$"))
    await page.go_back()
    await expect(drawer).to_be_hidden()
    await expect(page).to_have_url(re.compile(r"#/board$"))
    await expect(page.locator("#board")).to_have_attribute("data-mark", "kept")
    await expect(card(page, "Analytics add-on")).to_be_focused()

    # A link followed while the page is open (hashchange), from another view.
    await go(page, baton, "inbox", "#inbox-list")
    await page.evaluate(f"location.hash = '#/opportunity/{second['id']}'")
    await expect(drawer.locator("h2")).to_have_text("Analytics add-on")
    await expect(page.locator("#inbox-list")).to_be_visible()  # the inbox stays beneath
    await page.go_back()
    await expect(drawer).to_be_hidden()
    await expect(page).to_have_url(re.compile(r"#/inbox$"))
    assert not page.errors, page.errors


# ------------------------------------------------------------------------------ static

CATALOG_ENTRY = re.compile(r"^\s*'?([\w.]+)'?: (\{ .* \}|'(?:[^'\\]|\\.)*'),$", re.M)
FORM = re.compile(r"(\w+): '((?:[^'\\]|\\.)*)'")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalog(name: str) -> dict[str, dict[str, str]]:
    """A catalog as key -> {form: message}; a plain message has the one form 'other'."""
    text = (WEB / "i18n" / name).read_text(encoding="utf-8")
    out = {}
    for key, value in CATALOG_ENTRY.findall(text):
        assert key not in out, f"{name}: {key} twice"
        out[key] = dict(FORM.findall(value)) if value.startswith("{") else {"other": value[1:-1]}
    # Every entry line was understood: none slipped past the pattern above.
    entries = [line for line in text.splitlines() if re.match(r"^\s*'?[\w.]+'?: ", line)]
    assert len(entries) == len(out), f"{name}: {len(entries)} entries, {len(out)} read"
    return out


def test_both_catalogs_have_the_same_keys_and_placeholders():
    en, zh = catalog("en.js"), catalog("zh-CN.js")
    assert len(en) > 400
    assert sorted(set(en) ^ set(zh)) == []
    for key in en:
        assert "other" in en[key] and "other" in zh[key], key
        want = {frozenset(PLACEHOLDER.findall(m)) for m in en[key].values()}
        got = {frozenset(PLACEHOLDER.findall(m)) for m in zh[key].values()}
        # Plural forms may drop {count} ("one deal") but name nothing the other forms lack.
        assert set(PLACEHOLDER.findall(zh[key]["other"])) == set(PLACEHOLDER.findall(en[key]["other"])), (key, want, got)
        assert set().union(*got) <= set().union(*want), (key, want, got)
    # Chinese messages are Chinese: only brand words, placeholders and format codes stay Latin.
    untranslated = {k: m for k, forms in zh.items() for m in forms.values()
                    if LATIN_WORD.search(PLACEHOLDER.sub("", m).replace("Baton", "").replace("CSV", "").replace("English", "").replace("Enter", "").replace("M ", ""))}
    assert untranslated == {}


JS = sorted((WEB / "js").glob("*.js"))
KEY_CALL = re.compile(r"\bt\(\s*'([\w.]+)'")
KEY_CHOICE = re.compile(r"\bt\(\s*[^,()]*?\?\s*'([\w.]+)'\s*:\s*'([\w.]+)'")
KEY_FAMILY = re.compile(r"\bt(?:\.has)?\(\s*`([\w.]+)\.\$\{")
# User-facing words written into markup or messages instead of asked of the catalog.
LITERALS = [
    # a text node in a template: words between > and <, not code comparing things (a < b, x > y)
    re.compile(r">\s*((?:(?![;=&|'\n]|\w\.\w)[^<>`${}])*[A-Za-z]{2,}(?:(?![;=&|'\n]|\w\.\w)[^<>`${}])*?)\s*<"),
    re.compile(r"\b(?:aria-label|title|placeholder|alt)=\"([^\"$]*[A-Za-z]{2,}[^\"$]*)\""),
    re.compile(r"\b(?:toast|announce)\(\s*['`]([^'`]*[A-Za-z]{2,}[^'`]*)['`]"),
    re.compile(r"\.(?:textContent|title|placeholder)\s*=\s*['`]([^'`]*[A-Za-z]{2,}[^'`]*)['`]"),
    re.compile(r"setAttribute\('(?:aria-label|title|placeholder)',\s*['`]([^'`]*[A-Za-z]{2,}[^'`]*)['`]"),
    re.compile(r"new Error\(\s*['`]([^'`]*[A-Za-z]{2,}[^'`]*)['`]"),
]


def test_the_code_asks_the_catalogs_for_every_word():
    en = catalog("en.js")
    missing, literal = [], []
    for path in JS:
        source = path.read_text(encoding="utf-8")
        keys = KEY_CALL.findall(source) + [k for pair in KEY_CHOICE.findall(source) for k in pair]
        missing += [f"{path.name}: {k}" for k in keys if k not in en]
        missing += [f"{path.name}: {prefix}.*" for prefix in KEY_FAMILY.findall(source) if not any(k.startswith(prefix + ".") for k in en)]
        if path.name != "graphiql.js":  # GraphiQL's page is the API explorer's own, in English
            for pattern in LITERALS:
                literal += [f"{path.name}: {m.group(1)!r}" for m in pattern.finditer(source)]
    assert missing == []
    assert literal == []
    # The static page: every word is filled from the catalogs at start, except the brand and the
    # message for browsers without scripts (in both languages, since no catalog can be read there).
    page = (WEB / "index.html").read_text(encoding="utf-8")
    page = re.sub(r"<noscript>.*?</noscript>", "", page, flags=re.S)
    page = re.sub(r"<title>Baton</title>|<p class=\"boot-title\">Baton</p>", "", page)
    body = page[page.index("<body>"):]
    assert re.findall(r">\s*([^<>]*[A-Za-z]{2,}[^<>]*?)\s*<", body) == []
    assert 'data-i18n="boot.loading"' in page
