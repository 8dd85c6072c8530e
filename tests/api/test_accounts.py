"""Customers (accounts): name normalization, duplicate checks, the accounts list, update
and merge, what restricted viewers see, ownership conflicts (撞单) on create and import,
and migration 0014 merging accounts that the new normalization makes one."""
import asyncio

import pytest
from alembic import command
from sqlalchemy import select, text, update

from db import models as m
from db.engine import Database
from db.migrate import alembic_config, upgrade
from resolvers import opportunities as rules
from resolvers.accounts import account_key, normalize_account_name
from resolvers.ids import to_global
from resolvers.spreadsheets import import_opportunities
from tests.api.test_import_export import csv_bytes
from tests.api.workflow_helpers import MOVE, create, pk
from tests.faults.live import fresh_database
from tests.sqlcount import StatementCounter

ERRS = "userErrors { field code message }"
ACCOUNT_FIELDS = "id name industry region website tags version createdAt updatedAt owner { handle }"
CREATE_ACCOUNT = f"""mutation($input: CreateAccountInput!) {{ createAccount(input: $input) {{
  account {{ {ACCOUNT_FIELDS} }} possibleDuplicates {{ account {{ name }} score }} {ERRS} }} }}"""
UPDATE_ACCOUNT = f"""mutation($input: UpdateAccountInput!) {{ updateAccount(input: $input) {{
  account {{ {ACCOUNT_FIELDS} }} possibleDuplicates {{ account {{ name }} score }} {ERRS} }} }}"""
MERGE = f"""mutation($input: MergeAccountsInput!) {{ mergeAccounts(input: $input) {{
  account {{ id name industry tags version opportunities {{ totalCount edges {{ node {{ title version }} }} }} }} {ERRS} }} }}"""
RESOLVE = f"""mutation($input: ResolveOwnershipConflictInput!) {{ resolveOwnershipConflict(input: $input) {{
  account {{ name }} {ERRS} }} }}"""
ACCOUNTS = """query($search: String, $first: Int, $after: String) { accounts(search: $search, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }"""
ACCOUNT = """query($id: ID!) { account(id: $id) { name openDealOwners { handle }
  opportunities(first: 10) { totalCount edges { node { title } } } } }"""
CONFLICT = """query($id: ID!) { node(id: $id) { ... on Opportunity { title
  ownershipConflict { since opportunities { title owner { handle } } } } } }"""
CONFLICT_TEMPLATE = "Ownership conflict (撞单) on {account}: {owner} opened {opp} while it has open deals of {others}"


# ------------------------------------------------------------------ normalization


@pytest.mark.parametrize("a,b", [
    ("上海  星辰科技有限公司", "上海星辰科技"),
    ("上海星辰科技有限公司", "上海星辰科技"),
    ("上海  星辰科技有限公司", "上海星辰科技有限公司"),
    ("上海星辰科技（集团）股份有限公司", "上海星辰科技"),
    ("上海星辰科技集团有限责任公司", "上海 星辰 科技"),
    ("ＡＣＭＥ Inc.", "acme"),
    ("Acme, Inc.", "ACME inc"),
    ("Acme, Inc.", "acme"),
    ("Northwind Co., Ltd.", "northwind co ltd"),
    ("Northwind Co., Ltd.", "NORTHWIND"),
    ("Initech Corporation", "initech corp."),
    ("Müller GmbH", "MÜLLER"),
    ("Nestlé S.A.", "nestlé"),
    ("トヨタ株式会社", "トヨタ"),
    ("Acme\u200b Limited", "acme"),
])
def test_one_customer(a, b):
    assert normalize_account_name(a) == normalize_account_name(b)


@pytest.mark.parametrize("name,key", [
    ("上海  星辰科技有限公司", "上海星辰科技"),
    ("ＡＣＭＥ Inc.", "acme"),
    ("集团有限公司", "集团有限公司"),  # only company forms: kept rather than emptied
    ("有限公司", "有限公司"),
    ("Co., Ltd.", "coltd"),
    ("Company Limited", "companylimited"),
    ("Costco", "costco"),  # "co" goes only as a word of its own
    ("Acme L.L.C.", "acme"),  # a company form of three one-letter words
])
def test_keys(name, key):
    assert normalize_account_name(name) == key


def test_a_key_is_cut_to_200_characters_after_normalizing():
    """NFKC may lengthen a name of 200 characters (a ligature is two letters): the key is cut."""
    assert account_key("ﬁ" * 200) == "fi" * 100


@pytest.mark.parametrize("a,b", [
    ("上海星辰科技", "北京星辰科技"),
    ("Costco", "Cost"),
    ("Acme", "Acne"),
    ("星辰科技", "星辰"),
    ("Alpha Trading", "Alpha Logistics"),
])
def test_different_customers(a, b):
    assert normalize_account_name(a) != normalize_account_name(b)


# ------------------------------------------------------------------ helpers


async def create_account(gql, as_="sales_member", **fields) -> dict:
    return (await gql.ok(CREATE_ACCOUNT, {"input": fields}, as_=as_))["createAccount"]


async def events(org, *types) -> list[m.Event]:
    async with org.db.read() as s:
        stmt = select(m.Event).where(m.Event.org_id == org.id).order_by(m.Event.seq)
        if types:
            stmt = stmt.where(m.Event.type.in_(types))
        return list((await s.execute(stmt)).scalars())


async def account_count(org) -> int:
    async with org.db.read() as s:
        return len((await s.execute(select(m.Account.id).where(m.Account.org_id == org.id))).all())


def gid(org, who: str) -> str:
    return to_global("User", org.users[who].id)


# ------------------------------------------------------------------ create, update


async def test_create_account_refuses_duplicates_and_asks_about_similar_ones(gql, org):
    first = await create_account(gql, name="上海星辰科技有限公司", industry="软件", region="华东", website="xingchen.example.cn",
                                 tags=["KA", "ka", "上海"], ownerId=gid(org, "sales_member"))
    assert first["userErrors"] == [] and first["possibleDuplicates"] == []
    account = first["account"]
    assert (account["name"], account["industry"], account["region"], account["website"], account["tags"], account["version"],
            account["owner"]) == ("上海星辰科技有限公司", "软件", "华东", "xingchen.example.cn", ["ka", "上海"], 1, {"handle": "sales_member"})
    assert account["createdAt"] == account["updatedAt"]
    [created] = await events(org, "ACCOUNT_CREATED")
    assert created.changes["name"] == [None, "上海星辰科技有限公司"] and created.changes["tags"] == [None, ["ka", "上海"]]

    # The same customer spelled otherwise: refused, naming the existing one.
    for spelling in ("上海  星辰科技", "上海星辰科技", "上海星辰科技（集团）有限公司"):
        dup = await create_account(gql, name=spelling)
        assert dup["account"] is None
        assert dup["userErrors"] == [{"field": ["name"], "code": "DUPLICATE", "message": "The customer 上海星辰科技有限公司 already exists"}]
    # A near one: nothing written, the candidates come back.
    near = await create_account(gql, name="上海星辰科技发展有限公司")
    assert near["account"] is None
    assert [e["code"] for e in near["userErrors"]] == ["POSSIBLE_DUPLICATE"]
    assert near["userErrors"][0]["field"] == ["name"] and "上海星辰科技有限公司" in near["userErrors"][0]["message"]
    assert [d["account"]["name"] for d in near["possibleDuplicates"]] == ["上海星辰科技有限公司"]
    assert 85 <= near["possibleDuplicates"][0]["score"] <= 100
    assert await account_count(org) == 1
    # "It is another one": created, and the similar one still listed.
    confirmed = await create_account(gql, name="上海星辰科技发展有限公司", allowSimilar=True)
    assert confirmed["userErrors"] == [] and confirmed["account"]["name"] == "上海星辰科技发展有限公司"
    assert [d["account"]["name"] for d in confirmed["possibleDuplicates"]] == ["上海星辰科技有限公司"]
    # Nothing alike: no question asked.
    other = await create_account(gql, name="北京月光贸易")
    assert other["userErrors"] == [] and other["possibleDuplicates"] == []
    # A deal on a spelling of it lands on the existing customer.
    await create(gql, title="Pilot", accountName="上海 星辰科技 有限公司")
    assert await account_count(org) == 3
    # Bad input: every problem at once.
    bad = await create_account(gql, name="  ", website="not a url", industry="x" * 101)
    assert sorted((e["field"][0], e["code"]) for e in bad["userErrors"]) == [
        ("industry", "VALIDATION"), ("name", "VALIDATION"), ("website", "VALIDATION")]
    # Read-only: viewers and read-only tokens.
    viewer = await create_account(gql, as_="sales_viewer", name="Viewer Co")
    assert viewer["userErrors"][0]["code"] == "FORBIDDEN"
    token = await org.department_token("sales_member", "sales")
    body = await gql(CREATE_ACCOUNT, {"input": {"name": "Token Co"}}, token=token)
    assert body["data"]["createAccount"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert await account_count(org) == 3


async def test_the_duplicate_message_in_chinese(gql, org):
    await create_account(gql, name="ＡＣＭＥ Inc.")
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id == org.users["sales_member"].id).values(locale="zh-CN"))
    dup = await create_account(gql, name="acme")
    assert dup["userErrors"] == [{"field": ["name"], "code": "DUPLICATE", "message": "客户“ＡＣＭＥ Inc.”已存在"}]


async def test_update_account_versions_and_duplicate_rules(gql, org):
    acme = (await create_account(gql, name="Acme Inc", website="acme.example"))["account"]
    globex = (await create_account(gql, name="Globex"))["account"]
    renamed = (await gql.ok(UPDATE_ACCOUNT, {"input": {
        "id": acme["id"], "version": 1, "name": "ACME Corporation", "industry": "Tools", "website": None, "tags": ["Key"],
        "ownerId": gid(org, "sales_manager")}}))["updateAccount"]
    assert renamed["userErrors"] == []
    assert (renamed["account"]["name"], renamed["account"]["industry"], renamed["account"]["website"], renamed["account"]["tags"],
            renamed["account"]["version"], renamed["account"]["owner"]) == ("ACME Corporation", "Tools", None, ["key"], 2, {"handle": "sales_manager"})
    [updated] = await events(org, "ACCOUNT_UPDATED")
    assert updated.changes == {"name": ["Acme Inc", "ACME Corporation"], "industry": [None, "Tools"], "website": ["acme.example", None],
                               "tags": [[], ["key"]], "owner": [org.users["sales_member"].id, org.users["sales_manager"].id]}
    # A stale version changes nothing.
    stale = (await gql.ok(UPDATE_ACCOUNT, {"input": {"id": acme["id"], "version": 1, "region": "EU"}}))["updateAccount"]
    assert stale["account"] is None and [(e["code"], e["field"]) for e in stale["userErrors"]] == [("CONFLICT", ["version"])]
    # Renaming into another customer's name: DUPLICATE; near it: asked first.
    dup = (await gql.ok(UPDATE_ACCOUNT, {"input": {"id": globex["id"], "version": 1, "name": "acme ltd."}}))["updateAccount"]
    assert dup["userErrors"] == [{"field": ["name"], "code": "DUPLICATE", "message": "The customer ACME Corporation already exists"}]
    near = (await gql.ok(UPDATE_ACCOUNT, {"input": {"id": globex["id"], "version": 1, "name": "Acmee"}}))["updateAccount"]
    assert [e["code"] for e in near["userErrors"]] == ["POSSIBLE_DUPLICATE"]
    assert [d["account"]["name"] for d in near["possibleDuplicates"]] == ["ACME Corporation"]
    ok = (await gql.ok(UPDATE_ACCOUNT, {"input": {"id": globex["id"], "version": 1, "name": "Acmee", "allowSimilar": True}}))["updateAccount"]
    assert ok["userErrors"] == [] and ok["account"]["version"] == 2
    # The customer itself is no duplicate of itself (a respelling keeps its key).
    respelled = (await gql.ok(UPDATE_ACCOUNT, {"input": {"id": acme["id"], "version": 2, "name": "Acme Corp."}}))["updateAccount"]
    assert respelled["userErrors"] == [] and respelled["account"]["version"] == 3
    # Nothing changed: no new version, no event.
    same = (await gql.ok(UPDATE_ACCOUNT, {"input": {"id": acme["id"], "version": 3, "industry": "Tools"}}))["updateAccount"]
    assert same["account"]["version"] == 3 and len(await events(org, "ACCOUNT_UPDATED")) == 3
    viewer = (await gql.ok(UPDATE_ACCOUNT, {"input": {"id": acme["id"], "version": 3, "region": "EU"}}, as_="sales_viewer"))["updateAccount"]
    assert viewer["userErrors"][0]["code"] == "FORBIDDEN"
    unknown = (await gql.ok(UPDATE_ACCOUNT, {"input": {"id": to_global("Account", 10**8), "version": 1}}))["updateAccount"]
    assert unknown["userErrors"][0]["code"] == "NOT_FOUND"


# ------------------------------------------------------------------ merge


async def test_merge_moves_deals_and_writes_events(gql, org):
    one = await create(gql, title="Initrode one", accountName="Initrode")
    two = await create(gql, title="Initrode two", accountName="Initrode Inc.")
    await create(gql, title="Initech deal", accountName="Initech")
    async with org.db.read() as s:
        ids = dict((await s.execute(select(m.Account.name, m.Account.id).where(m.Account.org_id == org.id))).all())
    source, target = to_global("Account", ids["Initrode"]), to_global("Account", ids["Initech"])
    await gql.ok(UPDATE_ACCOUNT, {"input": {"id": source, "version": 1, "industry": "Software", "tags": ["legacy"]}})
    contact = "mutation($i: CreateContactInput!) { createContact(input: $i) { contact { id } userErrors { code } } }"
    made = (await gql.ok(contact, {"i": {"accountId": source, "name": "李雷", "phone": "13800138000"}}))["createContact"]
    assert made["userErrors"] == []
    refused = (await gql.ok(MERGE, {"input": {"sourceId": source, "targetId": target}}, as_="sales_member"))["mergeAccounts"]
    assert refused["account"] is None and refused["userErrors"][0]["code"] == "FORBIDDEN"
    itself = (await gql.ok(MERGE, {"input": {"sourceId": target, "targetId": target}}, as_="sales_manager"))["mergeAccounts"]
    assert [(e["code"], e["field"]) for e in itself["userErrors"]] == [("VALIDATION", ["targetId"])]
    merged = (await gql.ok(MERGE, {"input": {"sourceId": source, "targetId": target}}, as_="sales_manager"))["mergeAccounts"]
    assert merged["userErrors"] == []
    account = merged["account"]
    assert (account["name"], account["industry"], account["tags"], account["version"]) == ("Initech", "Software", ["legacy"], 2)
    assert account["opportunities"]["totalCount"] == 3
    assert {e["node"]["title"]: e["node"]["version"] for e in account["opportunities"]["edges"]} == {
        "Initrode one": 2, "Initrode two": 2, "Initech deal": 1}
    assert (await gql.ok(ACCOUNT, {"id": source}))["account"] is None
    assert await account_count(org) == 1
    [merge_event] = await events(org, "ACCOUNT_MERGED")
    assert merge_event.changes["mergedFrom"] == ["Initrode", None] and merge_event.changes["opportunities"] == [None, 2]
    # The source's contacts moved with its deals.
    assert merge_event.changes["contacts"] == [None, 1]
    held = (await gql.ok("query($id: ID!) { account(id: $id) { contacts { id name } } }", {"id": target}))["account"]["contacts"]
    assert held == [{"id": made["contact"]["id"], "name": "李雷"}]
    moved = [e for e in await events(org, "OPPORTUNITY_UPDATED") if e.seq > merge_event.seq - 3]
    assert sorted(e.opportunity_id for e in moved) == sorted([pk(one["id"]), pk(two["id"])])
    assert all(e.changes == {"account": ["Initrode", "Initech"]} and e.snapshot["account"] == "Initech" for e in moved)
    # A deal on a spelling of the target's name lands on it.
    await create(gql, title="Later", accountName="Initech Ltd")
    assert await account_count(org) == 1


# ------------------------------------------------------------------ reading


async def test_accounts_search_and_paging(gql, org):
    for name in ("Delta", "alpha", "Beta GmbH", "Gamma Co", "Alphabet Inc", "上海星辰科技有限公司"):
        assert (await create_account(gql, name=name, allowSimilar=True))["userErrors"] == []
    page = (await gql.ok(ACCOUNTS, {"first": 2}))["accounts"]
    assert page["totalCount"] == 6 and page["pageInfo"]["hasNextPage"]
    names = [e["node"]["name"] for e in page["edges"]]
    after = page["pageInfo"]["endCursor"]
    while after:
        page = (await gql.ok(ACCOUNTS, {"first": 2, "after": after}))["accounts"]
        names += [e["node"]["name"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert names == ["alpha", "Alphabet Inc", "Beta GmbH", "Delta", "Gamma Co", "上海星辰科技有限公司"]

    async def search(term):
        return [e["node"]["name"] for e in (await gql.ok(ACCOUNTS, {"search": term}))["accounts"]["edges"]]

    assert await search("ALPHA  ltd.") == ["alpha", "Alphabet Inc"]
    assert await search("ＧＡＭＭＡ") == ["Gamma Co"]
    assert await search("星辰 科技") == ["上海星辰科技有限公司"]
    assert await search("beta gmbh") == ["Beta GmbH"]
    assert await search("nothing") == []
    assert await search("%") == ["alpha", "Alphabet Inc", "Beta GmbH", "Delta", "Gamma Co", "上海星辰科技有限公司"]  # no key: no filter
    bad = await gql(ACCOUNTS, {"after": "nope"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_restricted_viewer_sees_only_their_deals_of_an_account(gql, org):
    await gql.ok("""mutation { setAccessRule(input: {role: MEMBER, scope: OWN}) { userErrors { code } } }""", as_="sales_admin")
    mine = await create(gql, title="Mine", accountName="Umbrella")
    theirs = await create(gql, as_="marketing_member", title="Theirs", accountName="Umbrella Corp.")
    await create(gql, as_="marketing_member", title="Elsewhere", accountName="Hidden Corp")
    async with org.db.read() as s:
        ids = dict((await s.execute(select(m.Account.name, m.Account.id).where(m.Account.org_id == org.id))).all())
    umbrella, hidden = to_global("Account", ids["Umbrella"]), to_global("Account", ids["Hidden Corp"])
    seen = (await gql.ok(ACCOUNT, {"id": umbrella}))["account"]
    assert seen["opportunities"]["totalCount"] == 1 and [e["node"]["title"] for e in seen["opportunities"]["edges"]] == ["Mine"]
    assert seen["openDealOwners"] == [{"handle": "sales_member"}]
    everything = (await gql.ok(ACCOUNT, {"id": umbrella}, as_="sales_admin"))["account"]
    assert everything["opportunities"]["totalCount"] == 2
    assert [e["node"]["title"] for e in everything["opportunities"]["edges"]] == ["Theirs", "Mine"]
    assert sorted(o["handle"] for o in everything["openDealOwners"]) == ["marketing_member", "sales_member"]
    # An account only on cards one does not see does not exist for them.
    assert (await gql.ok(ACCOUNT, {"id": hidden}))["account"] is None
    assert [e["node"]["name"] for e in (await gql.ok(ACCOUNTS))["accounts"]["edges"]] == ["Umbrella"]
    assert len((await gql.ok(ACCOUNTS, as_="sales_admin"))["accounts"]["edges"]) == 2
    # The conflict on one's card shows, without the deal one may not see.
    conflict = (await gql.ok(CONFLICT, {"id": mine["id"]}))["node"]["ownershipConflict"]
    assert conflict["since"] and conflict["opportunities"] == []
    conflict = (await gql.ok(CONFLICT, {"id": mine["id"]}, as_="sales_admin"))["node"]["ownershipConflict"]
    assert conflict["opportunities"] == [{"title": "Theirs", "owner": {"handle": "marketing_member"}}]
    assert theirs
    # Withheld accounts: none at all.
    await gql.ok("""mutation { setAccessRule(input: {role: MEMBER, scope: ALL, hiddenFields: ["account"]}) { userErrors { code } } }""",
                 as_="sales_admin")
    assert (await gql.ok(ACCOUNTS))["accounts"]["edges"] == []
    assert (await gql.ok(ACCOUNT, {"id": umbrella}))["account"] is None
    assert (await gql.ok(CONFLICT, {"id": mine["id"]}))["node"]["ownershipConflict"] is None


# ------------------------------------------------------------------ 撞单


async def conflict_notes(org, template: str = CONFLICT_TEMPLATE) -> dict[str, str]:
    """handle -> title of the card the conflict alert (with this text) points at."""
    async with org.db.read() as s:
        rows = (await s.execute(
            select(m.User.handle, m.Opportunity.title, m.Notification.kind)
            .join(m.User, m.User.id == m.Notification.user_id).join(m.Opportunity, m.Opportunity.id == m.Notification.opportunity_id)
            .where(m.Notification.org_id == org.id, m.Notification.template == template)
        )).all()
    assert {kind for _, _, kind in rows} <= {"alert"}
    return {handle: title for handle, title, _ in rows}


async def test_a_second_owner_on_a_customer_raises_the_conflict(gql, org):
    legal = await create(gql, as_="legal_member", title="Legal deal", accountName="星辰科技有限公司")
    assert await conflict_notes(org) == {}
    # An admin opens a deal on the same customer (spelled otherwise) for sales_member.
    sales = await create(gql, as_="sales_admin", title="Sales deal", accountName="星辰 科技", ownerId=gid(org, "sales_member"))
    # Both owners and both owners' department managers; each alert points at their own side's card.
    assert await conflict_notes(org) == {
        "sales_member": "Sales deal", "sales_manager": "Sales deal", "legal_member": "Legal deal", "legal_manager": "Legal deal"}
    raised = await events(org, "OWNERSHIP_CONFLICT_RAISED")
    assert sorted(e.opportunity_id for e in raised) == sorted([pk(legal["id"]), pk(sales["id"])])
    assert raised[0].changes["owners"] == [None, ["Legal Member", "Sales Member"]]
    # Both cards show it.
    on_sales = (await gql.ok(CONFLICT, {"id": sales["id"]}, as_="sales_admin"))["node"]["ownershipConflict"]
    assert on_sales["opportunities"] == [{"title": "Legal deal", "owner": {"handle": "legal_member"}}] and on_sales["since"]
    on_legal = (await gql.ok(CONFLICT, {"id": legal["id"]}, as_="legal_member"))["node"]["ownershipConflict"]
    assert on_legal["opportunities"] == [{"title": "Sales deal", "owner": {"handle": "sales_member"}}]
    # Each reads it in their language.
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id == org.users["legal_manager"].id).values(locale="zh-CN"))
    inbox = "{ notifications(first: 10) { edges { node { type message opportunity { title } } } } }"
    [zh] = [e["node"] for e in (await gql.ok(inbox, as_="legal_manager"))["notifications"]["edges"] if "撞单" in e["node"]["message"]]
    assert zh == {"type": "ALERT", "opportunity": {"title": "Legal deal"},
                  "message": "撞单提醒：Sales Member 在客户 星辰科技有限公司 上新建了商机 Sales deal，而该客户已有 Legal Member 负责的进行中商机"}
    [en] = [e["node"] for e in (await gql.ok(inbox, as_="sales_member"))["notifications"]["edges"] if e["node"]["type"] == "ALERT"]
    assert en["message"] == ("Ownership conflict (撞单) on 星辰科技有限公司: Sales Member opened Sales deal "
                             "while it has open deals of Legal Member")
    # A third deal while it is open: alerts again, an event for the new card only.
    third = await create(gql, as_="marketing_member", title="Marketing deal", accountName="星辰科技")
    raised = await events(org, "OWNERSHIP_CONFLICT_RAISED")
    assert len(raised) == 3 and raised[-1].opportunity_id == pk(third["id"])
    on_third = (await gql.ok(CONFLICT, {"id": third["id"]}, as_="sales_admin"))["node"]["ownershipConflict"]
    assert sorted(o["title"] for o in on_third["opportunities"]) == ["Legal deal", "Sales deal"]
    assert on_third["since"] == on_sales["since"]


async def test_no_conflict_for_the_same_owner_or_a_closed_deal(gql, org):
    await create(gql, title="First", accountName="Solo Ltd")
    await create(gql, as_="sales_admin", title="Second", accountName="solo", ownerId=gid(org, "sales_member"))
    lost = await create(gql, as_="legal_member", title="Lost deal", accountName="Closed Co")
    moved = (await gql.ok(MOVE, {"input": {"id": lost["id"], "version": lost["version"], "stageKey": "lost", "lostReason": "price"}},
                          as_="legal_member"))["moveOpportunity"]
    assert moved["userErrors"] == []
    fresh = await create(gql, title="New one", accountName="Closed Co.")
    assert await conflict_notes(org) == {}
    assert await events(org, "OWNERSHIP_CONFLICT_RAISED") == []
    assert (await gql.ok(CONFLICT, {"id": fresh["id"]}))["node"]["ownershipConflict"] is None


async def test_a_manager_resolves_the_conflict(gql, org):
    first = await create(gql, title="Ours", accountName="Contested")
    second = await create(gql, as_="marketing_member", title="Theirs", accountName="Contested Inc")
    async with org.db.read() as s:
        account = to_global("Account", await s.scalar(select(m.Account.id).where(m.Account.org_id == org.id)))
    data = {"accountId": account, "keepOpportunityId": first["id"], "note": "Sales had it first"}
    for who in ("sales_member", "marketing_member", "sales_viewer", "legal_manager"):  # legal's manager has no owner here
        refused = (await gql.ok(RESOLVE, {"input": data}, as_=who))["resolveOwnershipConflict"]
        assert refused["account"] is None and [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"], who
    bad = (await gql.ok(RESOLVE, {"input": {**data, "keepOpportunityId": to_global("Opportunity", 10**8)}}, as_="sales_manager"))
    assert [e["field"] for e in bad["resolveOwnershipConflict"]["userErrors"]] == [["keepOpportunityId"]]
    done = (await gql.ok(RESOLVE, {"input": data}, as_="sales_manager"))["resolveOwnershipConflict"]
    assert done == {"account": {"name": "Contested"}, "userErrors": []}
    for card in (first, second):
        assert (await gql.ok(CONFLICT, {"id": card["id"]}, as_="sales_admin"))["node"]["ownershipConflict"] is None
    resolved = await events(org, "OWNERSHIP_CONFLICT_RESOLVED")
    assert sorted(e.opportunity_id for e in resolved) == sorted([pk(first["id"]), pk(second["id"])])
    assert resolved[0].changes == {"ownershipConflict": ["open", "resolved"], "kept": [None, first["id"]], "note": [None, "Sales had it first"]}
    async with org.db.read() as s:
        row = await s.scalar(select(m.OwnershipConflict).where(m.OwnershipConflict.org_id == org.id))
    assert (row.resolved_by_id, row.kept_opportunity_id, row.note) == (org.users["sales_manager"].id, pk(first["id"]), "Sales had it first")
    # Deals stay; once resolved there is nothing left to resolve.
    again = (await gql.ok(RESOLVE, {"input": {"accountId": account}}, as_="sales_admin"))["resolveOwnershipConflict"]
    assert [e["code"] for e in again["userErrors"]] == ["NOT_FOUND"]
    # A new deal of yet another owner opens a new conflict.
    await create(gql, as_="legal_member", title="Legal too", accountName="contested")
    assert len(await events(org, "OWNERSHIP_CONFLICT_RAISED")) == 2 + 1 + 2


async def test_an_import_raises_the_conflict(org, clock):
    ctx = org.ctx("legal_member", clock)
    existing, errors = await rules.create_opportunity(ctx, {"title": "Legal deal", "account_name": "华东制造有限公司"})
    assert not errors
    member = org.users["sales_member"]
    data = csv_bytes([["客户", "商机名称", "负责人"], ["华东制造", "导入商机", member.email], ["别的客户", "无关商机", ""]])
    report = await import_opportunities(org.ctx("sales_admin", clock), data, "x.csv")
    assert report.rejected == [] and report.created == 2 and report.accounts_created == 1
    assert await conflict_notes(org) == {
        "sales_member": "导入商机", "sales_manager": "导入商机", "legal_member": "Legal deal", "legal_manager": "Legal deal"}
    log = await events(org)
    assert [e.seq for e in log] == list(range(1, len(log) + 1))  # gapless
    assert [e.type for e in log] == ["OPPORTUNITY_CREATED"] * 3 + ["OWNERSHIP_CONFLICT_RAISED"] * 2
    assert {e.opportunity_id for e in log[3:]} == {existing.id, log[1].opportunity_id}


# ------------------------------------------------------------------ migration 0014


async def test_migration_merges_accounts_the_new_names_make_one(tmp_path, backend):
    if backend == "postgres":
        async with fresh_database("0013") as url:
            await merge_and_check(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}"
        await upgrade(url, "0013")
        await merge_and_check(url)


async def merge_and_check(url: str) -> None:
    now = "'2030-01-02 03:04:05'"
    db = Database(url)
    async with db.write() as s:
        for statement in (
            f"INSERT INTO organizations (id, name, event_seq, created_at) VALUES (1, 'Old', 0, {now})",
            "INSERT INTO departments (id, org_id, key, name) VALUES (1, 1, 'sales', 'Sales')",
            f"INSERT INTO users (id, org_id, department_id, name, email, handle, role, created_at) VALUES (1, 1, 1, 'Ana', 'ana@x.test', 'ana', 'MEMBER', {now})",
            "INSERT INTO pipelines (id, org_id, name, position) VALUES (1, 1, 'Sales', 0)",
            "INSERT INTO stages (id, pipeline_id, key, name, position, kind, required_fields, required_approvals) VALUES (1, 1, 'lead', 'Lead', 0, 'OPEN', '[]', '[]')",
            "INSERT INTO accounts (id, org_id, name, normalized_name) VALUES (1, 1, '上海星辰科技有限公司', '上海星辰科技有限公司')",
            "INSERT INTO accounts (id, org_id, name, normalized_name) VALUES (2, 1, '上海  星辰科技', '上海 星辰科技')",
            "INSERT INTO accounts (id, org_id, name, normalized_name) VALUES (3, 1, 'Acme Inc', 'acme inc')",
            "INSERT INTO accounts (id, org_id, name, normalized_name) VALUES (4, 1, 'acme', 'acme')",
            "INSERT INTO accounts (id, org_id, name, normalized_name) VALUES (5, 1, 'Other', 'other')",
            *(f"INSERT INTO opportunities (id, org_id, pipeline_id, stage_id, account_id, owner_id, department_id, created_by_id, title, "
              f"currency, priority, tags, stage_entered_at, last_activity_at, created_at, updated_at, version) VALUES "
              f"({i}, 1, 1, 1, {account}, 1, 1, 1, 'Deal {i}', 'CNY', 'MEDIUM', '[]', {now}, {now}, {now}, {now}, 1)"
              for i, account in ((1, 1), (2, 2), (3, 4))),
        ):
            await s.execute(text(statement))
    await db.dispose()
    await upgrade(url)
    db = Database(url)
    try:
        async with db.read() as s:
            accounts = {a.id: a for a in (await s.execute(select(m.Account).order_by(m.Account.id))).scalars()}
            deals = dict((await s.execute(select(m.Opportunity.id, m.Opportunity.account_id))).all())
        assert sorted(accounts) == [1, 3, 5]
        assert {i: a.normalized_name for i, a in accounts.items()} == {1: "上海星辰科技", 3: "acme", 5: "other"}
        assert deals == {1: 1, 2: 1, 3: 3}
        xingchen = accounts[1]
        assert (xingchen.name, xingchen.tags, xingchen.version, xingchen.owner_id, xingchen.website) == ("上海星辰科技有限公司", [], 1, None, None)
        assert xingchen.created_at.isoformat() == "2030-01-02T03:04:05+00:00" and xingchen.updated_at == xingchen.created_at
        assert accounts[5].created_at is not None  # no deal: the migration's time
        async with db.write() as s:
            s.add(m.OwnershipConflict(org_id=1, account_id=1))
    finally:
        await db.dispose()
    # Down again: the new table and columns go, the 0013 keys come back; and up once more.
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0013")
    db = Database(url)
    try:
        async with db.read() as s:
            keys = dict((await s.execute(text("SELECT id, normalized_name FROM accounts"))).all())
            assert keys == {1: "上海星辰科技有限公司", 3: "acme inc", 5: "other"}
            with pytest.raises(Exception):
                await s.execute(text("SELECT website FROM accounts"))
    finally:
        await db.dispose()
    await upgrade(url)


async def test_the_board_shows_conflicts_at_a_constant_statement_count(app, gql, org):
    """Every card of add_cards' seven customers has owners alternating between two users:
    each open card shows its conflict, loaded in batches whatever the number of cards."""
    from tests.api.test_board_queries import BOARD, add_cards, board_statements

    with_conflicts = BOARD.replace("openTaskCount", "openTaskCount ownershipConflict { since opportunities { title } }")

    async def count() -> tuple[int, int]:
        with StatementCounter(app.state.baton.db.engine) as counter:
            data = await gql.ok(with_conflicts, as_="sales_member")
        cards = [e["node"] for c in data["board"]["columns"] for e in c["opportunities"]["edges"]]
        return counter.count, sum(1 for card in cards if card["ownershipConflict"])

    await add_cards(org, 14)
    few, shown = await count()
    assert shown == 14
    plain, _ = await board_statements(app, gql)
    assert few <= plain + 2, (plain, few)  # the open conflicts, then the other deals
    await add_cards(org, 40)
    many, shown = await count()
    assert shown == 54 and many == few, (few, many)


async def test_at_most_five_possible_duplicates_closest_first(gql):
    for i in range(1, 8):
        assert (await create_account(gql, name=f"Omega {i}", allowSimilar=True))["userErrors"] == []
    assert (await create_account(gql, name="Omega Trading", allowSimilar=True))["userErrors"] == []
    near = await create_account(gql, name="Omega")
    scores = [d["score"] for d in near["possibleDuplicates"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)


# ------------------------------------------------------------------ who hears of customers

EVENT_TYPES_SEEN = "query { events(first: 100) { edges { node { type } } } }"


async def event_types_seen(gql, who: str) -> list[str]:
    return [e["node"]["type"] for e in (await gql.ok(EVENT_TYPES_SEEN, as_=who))["events"]["edges"]]


async def test_customer_events_reach_only_viewers_who_see_every_card(gql, org):
    await gql.ok("""mutation { setAccessRule(input: {role: MEMBER, scope: OWN}) { userErrors { code } } }""", as_="sales_admin")
    account = (await create_account(gql, name="Quiet Holdings", industry="Mining", ownerId=gid(org, "sales_member")))["account"]
    updated = (await gql.ok(UPDATE_ACCOUNT, {"input": {"id": account["id"], "version": account["version"], "region": "North"}}))
    assert updated["updateAccount"]["userErrors"] == []
    # Customer events name no card: a viewer limited to their own cards (even the one who made
    # the change: the payload answered them) never reads them, as events or through a webhook.
    assert "ACCOUNT_CREATED" not in await event_types_seen(gql, "marketing_member")
    assert "ACCOUNT_UPDATED" not in await event_types_seen(gql, "sales_member")
    for who in ("sales_admin", "sales_manager"):  # no rule limits managers here
        assert {"ACCOUNT_CREATED", "ACCOUNT_UPDATED"} <= set(await event_types_seen(gql, who)), who
    from api.webhooks import enqueue
    from db.types import utcnow
    async with org.db.write() as s:
        for handle in ("marketing_member", "sales_admin"):
            s.add(m.Webhook(org_id=org.id, url=f"https://example.com/{handle}", secret="s", event_types=[], department_keys=[],
                            enabled=True, acts_as_id=org.users[handle].id, created_by_id=org.users["sales_admin"].id, cursor_seq=0))
    await enqueue(org.db, utcnow())
    async with org.db.read() as s:
        rows = (await s.execute(select(m.Webhook.url, m.WebhookDelivery.event_type)
                                .join(m.Webhook, m.Webhook.id == m.WebhookDelivery.webhook_id)
                                .where(m.WebhookDelivery.org_id == org.id))).all()
    received = {url.rsplit("/", 1)[1]: {t for u, t in rows if u == url} for url, _ in rows}
    assert {"ACCOUNT_CREATED", "ACCOUNT_UPDATED", "ACCESS_RULES_UPDATED"} <= received["sales_admin"]
    assert received.get("marketing_member", set()) & {"ACCOUNT_CREATED", "ACCOUNT_UPDATED"} == set()
    # boardEvents judges each event with the subscriber's filter: the same rule.
    from resolvers.live import EventFilter
    [created] = await events(org, "ACCOUNT_CREATED")
    assert not EventFilter(restricted=True).matches(created) and EventFilter(restricted=False).matches(created)


async def test_node_reads_an_account_as_accounts_lists_it(gql, org):
    await gql.ok("""mutation { setAccessRule(input: {role: MEMBER, scope: OWN}) { userErrors { code } } }""", as_="sales_admin")
    owned = (await create_account(gql, name="Owned Without Deals", ownerId=gid(org, "sales_member")))["account"]
    node = """query($id: ID!) { node(id: $id) { ... on Account { name } } }"""
    # The viewer owns it (no deal on it yet): `accounts` lists it, so `node` loads it.
    assert [e["node"]["name"] for e in (await gql.ok(ACCOUNTS))["accounts"]["edges"]] == ["Owned Without Deals"]
    assert (await gql.ok(node, {"id": owned["id"]}))["node"] == {"name": "Owned Without Deals"}
    assert (await gql.ok(node, {"id": owned["id"]}, as_="marketing_member"))["node"] is None


async def test_who_creates_a_customer_owns_it_unless_they_name_another(gql, org):
    """A restricted member's new customer has no deal yet: owning it is what keeps it in sight."""
    await gql.ok("""mutation { setAccessRule(input: {role: MEMBER, scope: OWN}) { userErrors { code } } }""", as_="sales_admin")
    made = await create_account(gql, name="Fresh Lead Ltd")
    assert made["userErrors"] == [] and made["account"]["owner"] == {"handle": "sales_member"}
    [created] = await events(org, "ACCOUNT_CREATED")
    assert created.changes["owner"] == [None, org.users["sales_member"].id]
    assert (await gql.ok(ACCOUNT, {"id": made["account"]["id"]}))["account"]["name"] == "Fresh Lead Ltd"
    # Named otherwise, or explicitly no one: as asked.
    other = await create_account(gql, name="Handed Over Ltd", ownerId=gid(org, "marketing_member"))
    assert other["account"]["owner"] == {"handle": "marketing_member"}
    nobody = await create_account(gql, as_="sales_admin", name="Nobody's Ltd", ownerId=None)
    assert nobody["userErrors"] == [] and nobody["account"]["owner"] is None


async def test_a_conflict_also_arises_on_a_new_owner_a_reopened_deal_and_a_merge(gql, org):
    from tests.api.workflow_helpers import UPDATE
    ours = await create(gql, title="Ours", accountName="Reassigned Ltd")
    theirs = await create(gql, as_="legal_member", title="Theirs", accountName="Elsewhere Ltd")
    assert await events(org, "OWNERSHIP_CONFLICT_RAISED") == []
    # A new owner: legal_member now owns a second deal on sales_member's customer.
    second = await create(gql, title="Second", accountName="Reassigned")
    changed = (await gql.ok(UPDATE, {"input": {"id": second["id"], "version": second["version"],
                                               "ownerId": gid(org, "legal_member")}}, as_="sales_admin"))["updateOpportunity"]
    assert changed["userErrors"] == []
    raised = await events(org, "OWNERSHIP_CONFLICT_RAISED")
    assert sorted(e.opportunity_id for e in raised) == sorted([pk(ours["id"]), pk(second["id"])])
    took_over = CONFLICT_TEMPLATE.replace("opened", "took over")
    assert (await conflict_notes(org, took_over))["legal_member"] == "Second"
    assert "legal_member" not in await conflict_notes(org)  # the alert says what happened: not "opened"
    # A deal reopened from Lost on a customer another owner holds an open deal of.
    lost = await create(gql, as_="marketing_member", title="Came back", accountName="Comeback Co")
    lost = (await gql.ok(MOVE, {"input": {"id": lost["id"], "version": lost["version"], "stageKey": "lost", "lostReason": "price"}},
                         as_="marketing_member"))["moveOpportunity"]["opportunity"]
    await create(gql, title="Meanwhile", accountName="Comeback Co.")
    before = len(await events(org, "OWNERSHIP_CONFLICT_RAISED"))
    reopened = (await gql.ok(MOVE, {"input": {"id": lost["id"], "version": lost["version"], "stageKey": "lead"}},
                             as_="marketing_member"))["moveOpportunity"]
    assert reopened["userErrors"] == []
    after = await events(org, "OWNERSHIP_CONFLICT_RAISED")
    assert len(after) == before + 2 and pk(lost["id"]) in {e.opportunity_id for e in after[before:]}
    assert (await conflict_notes(org, CONFLICT_TEMPLATE.replace("opened", "reopened")))["sales_member"] == "Meanwhile"
    # Merging two customers whose open deals have different owners.
    async with org.db.read() as s:
        ids = dict((await s.execute(select(m.Account.name, m.Account.id).where(m.Account.org_id == org.id))).all())
    merged = (await gql.ok(MERGE, {"input": {"sourceId": to_global("Account", ids["Elsewhere Ltd"]),
                                             "targetId": to_global("Account", ids["Reassigned Ltd"])}}, as_="sales_admin"))["mergeAccounts"]
    assert merged["userErrors"] == []
    last = (await events(org, "OWNERSHIP_CONFLICT_RAISED"))[-1]
    assert last.opportunity_id == pk(theirs["id"])  # the conflict was open: only the moved card joins it
    merged_text = "Ownership conflict (撞单) on {account}: a merge brought {owner}'s {opp} while it has open deals of {others}"
    assert (await conflict_notes(org, merged_text))["legal_member"] == "Theirs"
