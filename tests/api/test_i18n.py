"""Server-side texts per reader, in English and Simplified Chinese.

- The catalog: every template the code carries (extracted with Babel, the same
  babel.cfg and keywords as `make messages`) has a Chinese translation with the same
  placeholders, renders in both languages, and no message is built as an f-string
  (it could not be translated).
- userErrors from real mutations in the viewer's language: their own choice, else
  Accept-Language, else the organization's; codes and fields never change.
- Notifications read in each reader's language; old rows without a template read as written.
- Emails and bot messages in the recipient's language (real SMTP and bot receivers)."""
import ast
import json
import re
import string
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlalchemy import select, update

from api.channels import deliver_due
from api.settings import Settings
from db import models as m
from resolvers import i18n
from resolvers.alerts import raise_alerts
from tests.api.channel_receivers import SMTP_PASSWORD, SMTP_USER, bots, smtp  # noqa: F401 - fixtures
from tests.api.workflow_helpers import CREATE, INBOX, MOVE, REQUEST_HANDOFF, UPDATE, create, mutate

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
BASE = "https://baton.example"


# ------------------------------------------------------------------ the catalog


def message_keywords() -> dict[str, tuple[int, ...]]:
    """The Makefile's MESSAGE_KEYWORDS (`-k name:argument`), as Babel takes them."""
    line = next(l for l in (ROOT / "Makefile").read_text().splitlines() if l.startswith("MESSAGE_KEYWORDS"))
    found = dict(re.findall(r"-k\s+(\w+):(\d+)", line))
    assert found, line
    return {name: (int(arg),) for name, arg in found.items()}


def extracted() -> dict[str, list[str]]:
    """msgid -> where it is written, exactly as `make messages` extracts them."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {**DEFAULT_KEYWORDS, **message_keywords()}
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords):
        if isinstance(message, str) and message:
            found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def sample_params(template: str) -> dict:
    params = {}
    for _, name, spec, _ in string.Formatter().parse(template):
        if name:
            params[name] = datetime(2030, 1, 31, 9, 5, tzinfo=timezone.utc) if spec and "%" in spec else "x"
    return params


def test_every_template_has_a_chinese_translation_with_the_same_placeholders():
    templates = extracted()
    assert len(templates) > 150, "the extraction found too few templates: check babel.cfg and MESSAGE_KEYWORDS"
    with (i18n.LOCALES_DIR / "zh_CN" / "LC_MESSAGES" / "baton.po").open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    problems = []
    for template, where in sorted(templates.items()):
        entry = catalog.get(template)
        if entry is None or not entry.string or entry.fuzzy:
            problems.append(f"no zh-CN translation for {template!r} ({where[0]}): run `make messages` and translate it")
            continue
        if placeholders(entry.string) != placeholders(template):
            problems.append(f"{template!r} -> {entry.string!r}: placeholders {placeholders(template)} != {placeholders(entry.string)}")
            continue
        params = sample_params(template)
        english, chinese = i18n.translate("en", template, **params), i18n.translate("zh-CN", template, **params)
        if template.strip(" ,:{}") and not CJK.search(chinese) and chinese == english:
            problems.append(f"{template!r} is not translated: {chinese!r}")
    assert not problems, "\n".join(problems)
    # What the server reads at import is that catalog.
    assert all(i18n.CATALOGS["zh-CN"].get(t) for t in templates)


def test_messages_are_templates_not_formatted_strings():
    """A message built with an f-string, % or + is text the catalog can never match."""
    keywords = message_keywords()
    bad = []
    for folder in ("resolvers", "api", "schema"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
                if name not in keywords or len(node.args) < keywords[name][0]:
                    continue
                arg = node.args[keywords[name][0] - 1]
                formatted = [n for n in ast.walk(arg) if isinstance(n, ast.JoinedStr | ast.BinOp)
                             or (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "format")]
                if formatted:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(arg)[:80]}")
    assert not bad, "messages must be templates with params:\n" + "\n".join(bad)


def test_negotiating_accept_language():
    assert i18n.negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert i18n.negotiate("en-US,en;q=0.9,zh-CN;q=0.8") == "en"
    assert i18n.negotiate("fr-FR, zh;q=0.5, en;q=0.4") == "zh-CN"  # by weight, French not supported
    assert i18n.negotiate("en;q=0.3, zh-Hans-CN;q=0.9") == "zh-CN"
    assert i18n.negotiate("zh-TW") is None and i18n.negotiate("zh-Hant") is None  # Traditional is not Simplified
    assert i18n.negotiate("de, *") is None and i18n.negotiate("") is None and i18n.negotiate(None) is None
    assert i18n.negotiate("zh-CN;q=0") is None
    assert i18n.supported("zh_cn") == "zh-CN" and i18n.supported("fr") is None


# ------------------------------------------------------------------ userErrors

SET_MY_LOCALE = "mutation($i: SetMyLocaleInput!) { setMyLocale(input: $i) { user { handle locale } userErrors { field code message } } }"
SET_ORG_LOCALE = ("mutation($i: SetOrganizationLocaleInput!) { setOrganizationLocale(input: $i) { locale timeZone "
                  "userErrors { field code message } } }")
SETTINGS_QUERY = "{ localeSettings { locale timeZone baseCurrency supported } viewer { locale } }"


async def post(client, org, query, variables=None, *, as_="sales_member", language=None) -> dict:
    headers = {"authorization": f"Bearer {org.tokens[as_]}"}
    if language:
        headers["accept-language"] = language
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


async def failures(client, org, gql, *, as_="sales_member", language=None) -> dict:
    """Real refused mutations, name -> their userErrors, as `as_` asking in `language`."""
    deal = await create(gql, amount="100")
    stale = deal["version"]
    await post(client, org, UPDATE, {"input": {"id": deal["id"], "version": stale, "nextStep": "call"}})
    results = {
        "VALIDATION": (CREATE, {"input": {"title": "  ", "accountName": "Northwind", "probability": 120}}, as_),
        "NOT_FOUND": (MOVE, {"input": {"id": "T3Bwb3J0dW5pdHk6OTk5OTk5", "version": 1, "stageKey": "qualified"}}, as_),
        "STAGE_GATE": (MOVE, {"input": {"id": deal["id"], "version": stale + 1, "stageKey": "proposal"}}, as_),
        "CONFLICT": (UPDATE, {"input": {"id": deal["id"], "version": stale, "nextStep": "email"}}, as_),
        "FORBIDDEN": (CREATE, {"input": {"title": "Mine", "accountName": "Northwind"}}, "sales_viewer"),
    }
    answers = {}
    for name, (doc, variables, who) in results.items():
        data = await post(client, org, doc, variables, as_=who, language=language)
        [payload] = data.values()
        answers[name] = payload["userErrors"]
        assert answers[name] and all(e["code"] == name for e in answers[name]), (name, answers[name])
    return answers


def shape(answers: dict) -> dict:
    return {name: [(e["code"], e["field"]) for e in errors] for name, errors in answers.items()}


async def test_user_errors_follow_the_viewers_language(client, org, gql):
    english = await failures(client, org, gql)
    assert english["CONFLICT"][0]["message"].startswith("Someone else changed this opportunity (now version ")
    assert english["FORBIDDEN"][0]["message"] == "Your role can view the board but not change it"
    assert english["STAGE_GATE"][0]["message"] == "Proposal needs expected close date first"
    assert english["NOT_FOUND"][0]["message"] == "No opportunity with id 'T3Bwb3J0dW5pdHk6OTk5OTk5'"
    assert [e["message"] for e in english["VALIDATION"]] == ["title must not be blank", "probability must be between 0 and 100"]
    assert not any(CJK.search(e["message"]) for errors in english.values() for e in errors)

    # 1. No choice of one's own: the request's Accept-Language.
    asked = await failures(client, org, gql, language="zh-CN,zh;q=0.9,en;q=0.5")
    # 2. The user's own choice (it wins over an English browser).
    chosen = await post(client, org, SET_MY_LOCALE, {"i": {"locale": "zh-CN"}})
    assert chosen["setMyLocale"] == {"user": {"handle": "sales_member", "locale": "zh-CN"}, "userErrors": []}
    await post(client, org, SET_MY_LOCALE, {"i": {"locale": "zh-CN"}}, as_="sales_viewer")
    own = await failures(client, org, gql, language="en-US,en;q=0.9")

    for chinese in (asked, own):
        assert shape(chinese) == shape(english)  # codes and fields never change with the language
        for name, errors in chinese.items():
            for error, original in zip(errors, english[name]):
                assert CJK.search(error["message"]) and error["message"] != original["message"], (name, error)
        assert chinese["FORBIDDEN"][0]["message"] == "你的角色只能查看看板，不能修改"
        assert chinese["CONFLICT"][0]["message"].startswith("版本冲突：其他人已修改此商机（当前版本 ")
        assert chinese["NOT_FOUND"][0]["message"] == "找不到 ID 为 'T3Bwb3J0dW5pdHk6OTk5OTk5' 的商机"
        assert chinese["STAGE_GATE"][0]["message"] == "进入Proposal前需先补全：预计成交日期"
        assert [e["message"] for e in chinese["VALIDATION"]] == ["title 不能为空", "赢率须在 0 到 100 之间"]

    # 3. Neither: the organization's language (set by an admin), and clearing one's choice returns to it.
    await post(client, org, SET_MY_LOCALE, {"i": {"locale": None}})
    await post(client, org, SET_MY_LOCALE, {"i": {}}, as_="sales_viewer")
    assert (await post(client, org, SETTINGS_QUERY))["viewer"]["locale"] is None
    saved = await post(client, org, SET_ORG_LOCALE, {"i": {"locale": "zh-CN", "timeZone": "Asia/Shanghai"}}, as_="sales_admin")
    assert saved["setOrganizationLocale"] == {"locale": "zh-CN", "timeZone": "Asia/Shanghai", "userErrors": []}
    by_org = await failures(client, org, gql)
    assert shape(by_org) == shape(english) and by_org["FORBIDDEN"][0]["message"] == "你的角色只能查看看板，不能修改"
    # ... unless the browser asks for a language Baton has.
    assert (await failures(client, org, gql, language="en"))["FORBIDDEN"][0]["message"] == english["FORBIDDEN"][0]["message"]


async def test_a_gate_error_built_of_parts_is_translated_part_by_part(client, org, gql):
    deal = await create(gql, amount="100", expectedCloseDate="2030-01-31")
    won = {"input": {"id": deal["id"], "version": deal["version"], "stageKey": "won"}}
    first = (await post(client, org, MOVE, won))["moveOpportunity"]["userErrors"]
    assert first == [{"field": ["approval:contract"], "code": "STAGE_GATE",
                      "message": "Won needs an approved contract approval first; a contract approval has been requested"}]
    # The refusal requested the approval: the same move now says it is pending, in Chinese.
    again = (await post(client, org, MOVE, won, language="zh-CN"))["moveOpportunity"]["userErrors"]
    assert again == [{"field": ["approval:contract"], "code": "STAGE_GATE",
                      "message": "进入Won前需先补全：已通过的contract审批（contract审批进行中）"}]


async def test_locale_settings_and_their_mutations(client, org):
    settings = await post(client, org, SETTINGS_QUERY, language="zh-CN")
    assert settings["localeSettings"] == {"locale": "zh-CN", "timeZone": "UTC", "baseCurrency": "USD", "supported": ["en", "zh-CN"]}
    assert (await post(client, org, SETTINGS_QUERY))["localeSettings"]["locale"] == "en"

    wrong = (await post(client, org, SET_MY_LOCALE, {"i": {"locale": "fr"}}, language="zh-CN"))["setMyLocale"]
    assert wrong["user"] is None and [(e["code"], e["field"]) for e in wrong["userErrors"]] == [("VALIDATION", ["locale"])]
    assert wrong["userErrors"][0]["message"] == "locale 须为以下之一：en、zh-CN"
    # Spelled loosely, saved as Baton spells it; the answer is already in the new language.
    saved = (await post(client, org, SET_MY_LOCALE, {"i": {"locale": "zh_cn"}}))["setMyLocale"]
    assert saved["user"]["locale"] == "zh-CN"
    assert (await post(client, org, SETTINGS_QUERY, language="en"))["localeSettings"]["locale"] == "zh-CN"

    refused = (await post(client, org, SET_ORG_LOCALE, {"i": {"locale": "zh-CN", "timeZone": "Asia/Shanghai"}}))["setOrganizationLocale"]
    assert refused["locale"] is None and [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"]
    assert refused["userErrors"][0]["message"] == "只有管理员可以执行此操作"
    both = (await post(client, org, SET_ORG_LOCALE, {"i": {"locale": "de", "timeZone": "Mars/Olympus"}}, as_="sales_admin"))
    errors = both["setOrganizationLocale"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("VALIDATION", ["locale"]), ("VALIDATION", ["timeZone"])]
    async with org.db.read() as s:
        row = await s.get(m.Organization, org.id)
        assert (row.locale, row.time_zone) == ("en", "UTC")  # nothing written
    for zone in ("../etc/passwd", "", "UTC/../../x"):
        bad = await post(client, org, SET_ORG_LOCALE, {"i": {"locale": "en", "timeZone": zone}}, as_="sales_admin")
        assert [e["field"] for e in bad["setOrganizationLocale"]["userErrors"]] == [["timeZone"]], zone


# ------------------------------------------------------------------ notifications and alerts

COMMENT = "mutation($i: AddCommentInput!) { addComment(input: $i) { comment { id } userErrors { code } } }"


async def set_locale(org, who: str, locale: str | None) -> None:
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id == org.users[who].id).values(locale=locale))


async def inbox_messages(client, org, who, language=None) -> list[str]:
    data = await post(client, org, INBOX, {"first": 10}, as_=who, language=language)
    return [e["node"]["message"] for e in data["notifications"]["edges"]]


async def test_a_notification_reads_in_each_readers_language(client, org, gql):
    await set_locale(org, "legal_member", "zh-CN")
    deal = await create(gql, title="Fleet pilot")
    await gql.ok(COMMENT, {"i": {"opportunityId": deal["id"], "body": "@legal_member @finance_member please check"}})
    assert await inbox_messages(client, org, "legal_member") == ["Sales Member 在 Fleet pilot 中提到了你：@legal_member @finance_member please check"]
    english = "Sales Member mentioned you on Fleet pilot: @legal_member @finance_member please check"
    assert await inbox_messages(client, org, "finance_member") == [english]
    # The same entry, read by a browser asking for Chinese, is Chinese too.
    assert CJK.search((await inbox_messages(client, org, "finance_member", language="zh-CN"))[0])
    async with org.db.read() as s:
        rows = list((await s.execute(select(m.Notification).where(m.Notification.org_id == org.id)
                                     .order_by(m.Notification.user_id))).scalars())
    # Stored once, in English with its template and params: the reader's language is chosen when read.
    assert {r.message for r in rows} == {english}
    assert {r.template for r in rows} == {"{user} mentioned you on {opp}: {excerpt}"}
    assert rows[0].params == {"user": "Sales Member", "opp": "Fleet pilot", "excerpt": "@legal_member @finance_member please check"}

    # A row written before templates were kept reads as it was written, in any language.
    async with org.db.write() as s:
        s.add(m.Notification(org_id=org.id, user_id=org.users["legal_member"].id, kind="alert", message="An old alert",
                             created_at=datetime.now(timezone.utc)))
    assert (await inbox_messages(client, org, "legal_member"))[0] == "An old alert"


async def test_alerts_and_their_escalation_read_in_the_recipients_language(client, org, gql, clock):
    await set_locale(org, "sales_member", "zh-CN")
    await create(gql, title="Fleet pilot")
    async with org.db.write() as s:  # the card went quiet four days ago
        await s.execute(update(m.Opportunity).where(m.Opportunity.org_id == org.id)
                        .values(last_activity_at=clock() - timedelta(hours=100)))
        s.add(m.EscalationRule(org_id=org.id, kind="stale", stage_key="", managers_after_hours=1, updated_at=clock()))
    assert await raise_alerts(org.db, clock(), Settings(), org_id=org.id) == 2  # the alert, and its climb to managers
    assert await inbox_messages(client, org, "sales_member") == ["Fleet pilot 在Lead阶段已超过 72 小时没有动态"]
    # The manager hears the alert (a member of the card's department) and its escalation.
    assert await inbox_messages(client, org, "sales_manager") == [
        "Escalated to their department's managers, unanswered: Fleet pilot has had no activity for over 72 hours in Lead",
        "Fleet pilot has had no activity for over 72 hours in Lead"]
    await set_locale(org, "sales_manager", "zh-CN")
    assert await inbox_messages(client, org, "sales_manager") == [
        "已升级至其部门经理，仍未处理：Fleet pilot 在Lead阶段已超过 72 小时没有动态", "Fleet pilot 在Lead阶段已超过 72 小时没有动态"]


# ------------------------------------------------------------------ emails and bots


@pytest.fixture
def channel_env(monkeypatch):
    # Loopback receivers allowed; the app's own loops off (the test drives deliver_due with its clock).
    monkeypatch.setenv("BATON_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("BATON_CHANNEL_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("BATON_WEBHOOK_INTERVAL_SECONDS", "0")


@pytest.fixture
async def quiet_channels(db):
    """deliver_due serves every organization: switch this test's channels off afterwards."""
    yield
    async with db.write() as s:
        await s.execute(update(m.NotificationChannel).values(enabled=False))


SET_CHANNEL = ("mutation($i: SetNotificationChannelInput!) { setNotificationChannel(input: $i) { channel { id } "
               "userErrors { code message } } }")


async def test_email_and_bot_messages_in_the_recipients_language(channel_env, quiet_channels, client, org, gql, db, clock,
                                                                 database_url, bots, smtp):  # noqa: F811 - fixtures
    settings = Settings(database_url=database_url, webhook_allow_private=True, webhook_timeout_seconds=5, base_url=BASE,
                        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False, smtp_username=SMTP_USER,
                        smtp_password=SMTP_PASSWORD, smtp_from="Baton <baton@baton.example>")
    await set_locale(org, "legal_member", "zh-CN")  # reads Chinese; legal_manager follows the organization (English)
    for who in ("legal_member", "legal_manager"):
        made = (await gql.ok(SET_CHANNEL, {"i": {"type": "EMAIL"}}, as_=who))["setNotificationChannel"]
        assert made["userErrors"] == [], made
    bots.secrets["wecom_keys"] = {"k-legal"}
    made = (await gql.ok(SET_CHANNEL, {"i": {"type": "WECOM", "departmentKey": "legal", "target": bots.url("WECOM", "k-legal")}},
                         as_="sales_admin"))["setNotificationChannel"]
    assert made["userErrors"] == [], made

    async def hand_over(title: str) -> dict:
        deal = await create(gql, title=title, amount="48000")
        result = await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=deal["id"], toDepartmentKey="legal")
        assert result["userErrors"] == [], result
        return deal

    deal = await hand_over("Fleet pilot")
    async with httpx.AsyncClient() as http:
        stats = await deliver_due(db, clock(), http, settings)
        assert stats["delivered"] == 3 and stats["failed"] == 0, stats
        link = f"{BASE}/#board/{deal['id']}"
        mails = {to[0]: mail for _, to, mail in smtp.messages}
        chinese = mails[org.users["legal_member"].email]
        assert chinese["Subject"] == "Baton · 交接: Sales Member 将 Fleet pilot 从Sales交接给Legal"
        assert chinese.get_body(("plain",)).get_content().splitlines() == [
            "Sales Member 将 Fleet pilot 从Sales交接给Legal", "", "客户：Northwind", "阶段：lead", "金额：48000.00 USD", "",
            f"在 Baton 中打开: {link}"]
        page = chinese.get_body(("html",)).get_content()
        assert "<h2>交接</h2>" in page and f'<a href="{link}">在 Baton 中打开</a>' in page
        english = mails[org.users["legal_manager"].email]
        assert english["Subject"] == "Baton · Handoff: Sales Member hands Fleet pilot from Sales to Legal"
        assert "Open in Baton: " + link in english.get_body(("plain",)).get_content()
        [group] = bots.of("WECOM")
        assert "**Handoff**" in group.body["markdown"]["content"] and "[Open in Baton]" in group.body["markdown"]["content"]

        # The department's channel follows the organization's language.
        async with org.db.write() as s:
            await s.execute(update(m.Organization).where(m.Organization.id == org.id).values(locale="zh-CN"))
        await hand_over("Harbor renewal")
        stats = await deliver_due(db, clock(), http, settings)
        assert stats["delivered"] == 3, stats
        content = bots.of("WECOM")[1].body["markdown"]["content"]
        assert content.startswith("**交接**\nSales Member 将 Harbor renewal 从Sales交接给Legal") and "[在 Baton 中打开](" in content
        assert "> 阶段：lead" in content
        # legal_manager chose nothing: now the organization's Chinese too.
        manager = [mail for _, to, mail in smtp.messages if to == [org.users["legal_manager"].email]][-1]
        assert manager["Subject"].startswith("Baton · 交接: ")


# ------------------------------------------------------------------ websockets

NOTIFICATIONS = "subscription { notificationAdded { kind message } }"


async def test_a_websocket_reads_in_its_handshakes_language(live_server, org):
    from tests.realtime.test_board_events import subscribed
    from tests.realtime.wsclient import Http, open_socket

    http = Http(live_server.http, org)
    chinese = await open_socket(live_server.ws, org.tokens["marketing_member"], additional_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    english = await open_socket(live_server.ws, org.tokens["legal_member"], additional_headers={"Accept-Language": "en-GB"})
    try:
        await chinese.subscribe(NOTIFICATIONS)
        await english.subscribe(NOTIFICATIONS)
        await subscribed(live_server, org.id, 2)
        deal = await http.create("Mentions")
        said = await http.ok(COMMENT, {"i": {"opportunityId": deal["id"], "body": "@marketing_member @legal_member ok?"}})
        assert said["addComment"]["userErrors"] == []
        [zh] = await chinese.take(1)
        [en] = await english.take(1)
        assert zh["notificationAdded"] == {"kind": "mention", "message": "Sales Member 在 Mentions 中提到了你：@marketing_member @legal_member ok?"}
        assert en["notificationAdded"] == {"kind": "mention", "message": "Sales Member mentioned you on Mentions: @marketing_member @legal_member ok?"}
    finally:
        await chinese.close()
        await english.close()
        await http.aclose()


# ------------------------------------------------------------------ import rejections

IMPORT = """mutation($input: ImportOpportunitiesInput!) { importOpportunities(input: $input) {
    created rejected { row reasons } userErrors { code field message } } }"""


async def test_import_rejections_in_the_readers_language(client, org):
    rows = "title,account,stage,amount,owner_email\nFleet pilot,,lead,12x,nobody@example.test\nHarbor,Northwind,nowhere,10,\n"

    async def upload(language: str) -> dict:
        operations = {"query": IMPORT, "variables": {"input": {"file": None}}}
        response = await client.post(
            "/graphql", data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
            files={"0": ("rows.csv", rows.encode(), "text/csv")},
            headers={"authorization": f"Bearer {org.tokens['sales_admin']}", "accept-language": language},
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]["importOpportunities"]

    english, chinese = await upload("en"), await upload("zh-CN")
    assert english["created"] == chinese["created"] == 0
    assert [r["row"] for r in english["rejected"]] == [r["row"] for r in chinese["rejected"]] == [2, 3]
    assert english["rejected"][0]["reasons"] == [
        "accountName is required", "amount is not a number", "no user with email 'nobody@example.test' in this organization"]
    assert chinese["rejected"][0]["reasons"] == ["accountName 为必填项", "amount 不是数字", "本组织中没有邮箱为 'nobody@example.test' 的用户"]
    assert chinese["rejected"][1]["reasons"] == ["未知阶段 'nowhere'"]
    assert english["userErrors"] == [{"code": "VALIDATION", "field": ["file"], "message": "2 row(s) rejected; nothing was imported"}]
    assert chinese["userErrors"] == [{"code": "VALIDATION", "field": ["file"], "message": "2 行被拒绝，未导入任何数据"}]
