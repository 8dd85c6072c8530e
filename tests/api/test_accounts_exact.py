"""Customers (accounts), outcome by outcome: each mutation's exact userErrors (code, field
and message), the events it writes with their `changes`, and every row it leaves behind.
Pins how `accounts` and an account's deals page (cursors, previous pages, totals, another
organization's ids), what `node(id)` shows of an account, how updateAccount validates,
clears and renames (a customer is never its own possible duplicate), how a customer
created meanwhile by someone else is reported, how a merge fills the target's empty
fields, joins the tags, moves the deals in order and carries the source's conflict
history (its open conflict only where the target has none), and how resolving a
conflict leaves every other customer's conflict open, even when no open deal is left; a
website's bounds, possible duplicates only among the customers the viewer sees (scored to a
tenth), and which deals a card's conflict lists."""
from datetime import datetime, timezone

from sqlalchemy import delete, select
from sqlalchemy import update as sa_update

from db import models as m
from resolvers import accounts
from resolvers.ids import to_global
from resolvers.paging import encode_cursor
from resolvers.setup import create_user
from tests.api.test_accounts import CONFLICT, CONFLICT_TEMPLATE, RESOLVE, UPDATE_ACCOUNT, conflict_notes, create_account, events, gid
from tests.api.test_import_roundtrip import CONTACTS, workbook
from tests.api.test_records_exact import behind_a_transaction, postgres_only, upload
from tests.api.workflow_helpers import MOVE, UPDATE, create, move, opp, pk
from tests.conftest import make_org

ERRS = "userErrors { field code message }"
MERGE = f"""mutation($input: MergeAccountsInput!) {{ mergeAccounts(input: $input) {{
  account {{ id name industry region website tags version owner {{ handle }} }} {ERRS} }} }}"""
NODE = """query($id: ID!) { node(id: $id) { ... on Account { name } } }"""
PAGE = """query($first: Int, $after: String) { accounts(first: $first, after: $after) {
  pageInfo { hasNextPage hasPreviousPage } edges { node { name } } } }"""
DEALS = """query($id: ID!, $first: Int, $after: String) { account(id: $id) { opportunities(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { title } } } } }"""
OWN = """mutation { setAccessRule(input: {role: MEMBER, scope: OWN}) { userErrors { code } } }"""


async def account_ids(org) -> dict[str, int]:
    async with org.db.read() as s:
        return dict((await s.execute(select(m.Account.name, m.Account.id).where(m.Account.org_id == org.id))).all())


async def account_row(org, account_id: int) -> tuple | None:
    async with org.db.read() as s:
        a = await s.get(m.Account, account_id)
        return None if a is None else (a.name, a.industry, a.region, a.website, a.tags, a.owner_id, a.version)


async def conflicts(org) -> list[tuple]:
    """(id, account id, resolved?, resolved by, kept deal, note) of the organization's conflicts."""
    async with org.db.read() as s:
        rows = (await s.execute(select(m.OwnershipConflict).where(m.OwnershipConflict.org_id == org.id)
                                .order_by(m.OwnershipConflict.id))).scalars()
        return [(c.id, c.account_id, c.resolved_at is not None, c.resolved_by_id, c.kept_opportunity_id, c.note) for c in rows]


async def update(gql, as_="sales_member", **data) -> dict:
    return (await gql.ok(UPDATE_ACCOUNT, {"input": data}, as_=as_))["updateAccount"]


async def merge(gql, source: str, target: str, as_="sales_admin") -> dict:
    return (await gql.ok(MERGE, {"input": {"sourceId": source, "targetId": target}}, as_=as_))["mergeAccounts"]


async def resolve(gql, as_="sales_admin", **data) -> dict:
    return (await gql.ok(RESOLVE, {"input": data}, as_=as_))["resolveOwnershipConflict"]


async def contested(gql, name: str, *owners: str) -> list[dict]:
    """One open deal per owner on the customer `name` (two owners or more: a conflict)."""
    return [await create(gql, as_=owner, title=f"{name} {owner}", accountName=name) for owner in owners]


# ------------------------------------------------------------------ accounts, node(id)


async def test_a_page_asked_for_after_a_cursor_has_a_previous_page(gql, org):
    for name in ("Alpha", "Beta", "Gamma"):
        await create_account(gql, name=name, allowSimilar=True)
    first = (await gql.ok(PAGE, {"first": 2}))["accounts"]
    assert first == {"pageInfo": {"hasNextPage": True, "hasPreviousPage": False},
                     "edges": [{"node": {"name": "Alpha"}}, {"node": {"name": "Beta"}}]}
    after = encode_cursor((await account_ids(org))["Beta"])
    assert (await gql.ok(PAGE, {"first": 2, "after": after}))["accounts"] == {
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": True}, "edges": [{"node": {"name": "Gamma"}}]}


async def test_another_organizations_account_is_no_place_in_the_list(gql, org, db):
    for name in ("Beta", "Gamma"):
        await create_account(gql, name=name)
    elsewhere = await make_org(db)
    async with db.write() as s:
        foreign = m.Account(org_id=elsewhere.id, name="Alpha", normalized_name="alpha", tags=[], version=1)
        s.add(foreign)
        await s.flush()
        after = encode_cursor(foreign.id)
    assert (await gql.ok(PAGE, {"first": 10, "after": after}))["accounts"] == {
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": True}, "edges": []}


async def test_node_shows_any_account_to_who_sees_every_card(gql, org):
    made = (await create_account(gql, name="Open Books Ltd", ownerId=None, as_="sales_admin"))["account"]
    for who in ("sales_admin", "sales_member", "sales_viewer"):
        assert (await gql.ok(NODE, {"id": made["id"]}, as_=who))["node"] == {"name": "Open Books Ltd"}, who


async def test_node_withholds_from_a_restricted_viewer_the_account_they_cannot_see(gql, org):
    await gql.ok(OWN, as_="sales_admin")
    mine = (await create_account(gql, name="Mine Ltd"))["account"]
    theirs = (await create_account(gql, as_="marketing_member", name="Theirs Ltd"))["account"]
    assert (await gql.ok(NODE, {"id": mine["id"]}))["node"] == {"name": "Mine Ltd"}
    assert (await gql.ok(NODE, {"id": theirs["id"]}))["node"] is None
    assert (await gql.ok(NODE, {"id": theirs["id"]}, as_="marketing_member"))["node"] == {"name": "Theirs Ltd"}


async def test_an_accounts_deals_come_newest_first_a_page_at_a_time(gql, org):
    old = await create(gql, title="Old", accountName="Paged Co")
    new = await create(gql, title="New", accountName="Paged Co")
    account = to_global("Account", (await account_ids(org))["Paged Co"])
    first = (await gql.ok(DEALS, {"id": account, "first": 1}))["account"]["opportunities"]
    assert first == {"totalCount": 2, "pageInfo": {"hasNextPage": True, "endCursor": encode_cursor(pk(new["id"]))},
                     "edges": [{"node": {"title": "New"}}]}
    rest = (await gql.ok(DEALS, {"id": account, "first": 1, "after": first["pageInfo"]["endCursor"]}))["account"]["opportunities"]
    assert rest == {"totalCount": 2, "pageInfo": {"hasNextPage": False, "endCursor": encode_cursor(pk(old["id"]))},
                    "edges": [{"node": {"title": "Old"}}]}


async def test_a_bad_cursor_fails_only_the_field_it_was_sent_with(gql, org):
    await create(gql, title="Good deal", accountName="Good Co")
    account = to_global("Account", (await account_ids(org))["Good Co"])
    both = """query($id: ID!) { account(id: $id) { name good: opportunities(first: 5) { totalCount }
      bad: opportunities(after: "nope") { totalCount } } }"""
    body = await gql(both, {"id": account})
    assert body["data"] == {"account": None}
    assert [(e["path"], e["extensions"]["code"], e["message"]) for e in body["errors"]] == [
        (["account", "bad"], "BAD_USER_INPUT", "Invalid cursor 'nope'")]


# ------------------------------------------------------------------ updateAccount


async def test_update_refusals_name_the_field_and_change_nothing(gql, org):
    acme = (await create_account(gql, name="Acme", industry="Tools"))["account"]
    unknown = to_global("Account", 10**8)
    assert (await update(gql, id=unknown, version=1, region="EU"))["userErrors"] == [
        {"field": ["id"], "code": "NOT_FOUND", "message": f"No customer with id {unknown!r}"}]
    assert (await update(gql, id=acme["id"], version=1, region="EU"))["userErrors"] == []
    assert (await update(gql, id=acme["id"], version=1, region="US"))["userErrors"] == [
        {"field": ["version"], "code": "CONFLICT", "message": "Someone else changed this customer (now version 2); reload and retry"}]
    for name, message in (("   ", "name must not be blank"), (None, "name is required"),
                          ("x" * 201, "name is longer than 200 characters")):
        refused = await update(gql, id=acme["id"], version=2, name=name)
        assert refused == {"account": None, "possibleDuplicates": [],
                           "userErrors": [{"field": ["name"], "code": "VALIDATION", "message": message}]}, name
    assert await account_row(org, pk(acme["id"])) == ("Acme", "Tools", "EU", None, [], org.users["sales_member"].id, 2)
    assert len(await events(org, "ACCOUNT_UPDATED")) == 1


async def test_create_refusals_name_the_field_and_write_nothing(gql, org, db):
    """createAccount's name at its bound and an owner who is no one here (unknown, another
    organization's, deactivated): each refusal names its field, and no customer is made."""
    elsewhere = (await make_org(db)).users["sales_member"]
    unknown, foreign = to_global("User", 10**8), to_global("User", elsewhere.id)
    async with org.db.write() as s:
        (await s.get(m.User, org.users["finance_member"].id)).deactivated_at = datetime.now(timezone.utc)
    refusals = [
        ({"name": "x" * 201}, ["name"], "VALIDATION", "name is longer than 200 characters"),
        ({"ownerId": unknown}, ["ownerId"], "NOT_FOUND", f"No user with id {unknown!r}"),
        ({"ownerId": foreign}, ["ownerId"], "NOT_FOUND", f"No user with id {foreign!r}"),
        ({"ownerId": gid(org, "finance_member")}, ["ownerId"], "VALIDATION", "Finance Member is deactivated; reactivate them first"),
    ]
    for fields, field, code, message in refusals:
        refused = await create_account(gql, **{"name": "Refused Ltd", **fields})
        assert (refused["account"], refused["userErrors"]) == (None, [{"field": field, "code": code, "message": message}]), fields
    assert await account_ids(org) == {}
    made = (await create_account(gql, name="y" * 200))["account"]
    assert (made["name"], made["version"]) == ("y" * 200, 1)


async def test_update_clears_the_owner(gql, org):
    acme = (await create_account(gql, name="Acme", tags=["key"]))["account"]
    cleared = await update(gql, id=acme["id"], version=1, ownerId=None)
    assert cleared["userErrors"] == [] and cleared["account"]["owner"] is None and cleared["account"]["version"] == 2
    [updated] = await events(org, "ACCOUNT_UPDATED")
    assert updated.changes == {"owner": [org.users["sales_member"].id, None]}
    assert await account_row(org, pk(acme["id"])) == ("Acme", None, None, None, ["key"], None, 2)


async def test_a_customer_is_not_its_own_possible_duplicate(gql, org):
    acme = (await create_account(gql, name="Acme"))["account"]
    renamed = await update(gql, id=acme["id"], version=1, name="Acmee")
    assert renamed["userErrors"] == [] and renamed["possibleDuplicates"] == []
    assert (renamed["account"]["name"], renamed["account"]["version"]) == ("Acmee", 2)
    [updated] = await events(org, "ACCOUNT_UPDATED")
    assert updated.changes == {"name": ["Acme", "Acmee"]}


async def test_a_customer_created_meanwhile_is_reported_as_a_duplicate(gql, org, monkeypatch):
    """Another user's customer of the same key committed between the check and the write:
    the unique key refuses it, answered as DUPLICATE naming the name asked for."""
    await create_account(gql, name="Acme Inc")
    globex = (await create_account(gql, name="Globex"))["account"]

    async def checked_before_it_was_committed(*args, **kwargs):
        return None

    monkeypatch.setattr(accounts, "_check_name", checked_before_it_was_committed)
    created = await create_account(gql, name="  ACME  ")
    assert created == {"account": None, "possibleDuplicates": [],
                       "userErrors": [{"field": ["name"], "code": "DUPLICATE", "message": "The customer ACME already exists"}]}
    renamed = await update(gql, id=globex["id"], version=1, name=" acme ltd ")
    assert renamed == {"account": None, "possibleDuplicates": [],
                       "userErrors": [{"field": ["name"], "code": "DUPLICATE", "message": "The customer acme ltd already exists"}]}
    assert sorted(await account_ids(org)) == ["Acme Inc", "Globex"]
    assert await account_row(org, pk(globex["id"])) == ("Globex", None, None, None, [], org.users["sales_member"].id, 1)
    assert [e.type for e in await events(org)] == ["ACCOUNT_CREATED", "ACCOUNT_CREATED"]


async def test_a_website_is_one_address_of_at_most_300_characters(gql, org):
    acme = (await create_account(gql, name="Acme", website="acme.example"))["account"]
    too_long = "w" * 301
    assert await create_account(gql, name="Globex", website=too_long) == {"account": None, "possibleDuplicates": [],
        "userErrors": [{"field": ["website"], "code": "VALIDATION", "message": "website is longer than 300 characters"}]}
    for website, message in ((too_long, "website is longer than 300 characters"),
                             ("acme .example", "website must be a web address without spaces")):
        assert await update(gql, id=acme["id"], version=1, website=website) == {"account": None, "possibleDuplicates": [],
            "userErrors": [{"field": ["website"], "code": "VALIDATION", "message": message}]}, website
    done = await update(gql, id=acme["id"], version=1, website=f" {'w' * 300} ")
    assert done["userErrors"] == [] and done["account"]["website"] == "w" * 300
    [updated] = await events(org, "ACCOUNT_UPDATED")
    assert updated.changes == {"website": ["acme.example", "w" * 300]}
    assert sorted(await account_ids(org)) == ["Acme"]


async def test_possible_duplicates_are_customers_the_viewer_sees_scored_to_a_tenth(gql, org):
    await gql.ok(OWN, as_="sales_admin")
    await create_account(gql, as_="marketing_member", name="Acme Trading")  # a customer sales_member does not see
    await create_account(gql, name="Northwind")
    near = await create_account(gql, name="Northwinds")
    assert near == {"account": None, "possibleDuplicates": [{"account": {"name": "Northwind"}, "score": 94.7}], "userErrors": [
        {"field": ["name"], "code": "POSSIBLE_DUPLICATE",
         "message": "Similar customers exist: Northwind. Send allowSimilar: true if this is another one"}]}
    unseen = await create_account(gql, name="Acme Tradin")
    assert (unseen["userErrors"], unseen["possibleDuplicates"], unseen["account"]["name"]) == ([], [], "Acme Tradin")
    assert sorted(await account_ids(org)) == ["Acme Tradin", "Acme Trading", "Northwind"]


# ------------------------------------------------------------------ mergeAccounts


async def test_merge_refusals_name_the_field(gql, org):
    acme = (await create_account(gql, name="Acme"))["account"]
    unknown, other = to_global("Account", 10**8), to_global("Account", 10**8 + 1)
    assert (await merge(gql, unknown, other))["userErrors"] == [
        {"field": ["sourceId"], "code": "NOT_FOUND", "message": f"No customer with id {unknown!r}"},
        {"field": ["targetId"], "code": "NOT_FOUND", "message": f"No customer with id {other!r}"}]
    assert await merge(gql, acme["id"], acme["id"]) == {"account": None, "userErrors": [
        {"field": ["targetId"], "code": "VALIDATION", "message": "A customer cannot be merged into itself"}]}
    assert await account_ids(org) == {"Acme": pk(acme["id"])} and await events(org, "ACCOUNT_MERGED") == []


async def test_merge_fills_the_targets_empty_fields_and_joins_tags(gql, org):
    target = (await create_account(gql, as_="sales_admin", name="Target Co", ownerId=None, tags=["a", "b"]))["account"]
    source = (await create_account(gql, as_="sales_admin", name="Source Co", industry="Software", region="华东",
                                   website="source.example", ownerId=gid(org, "sales_member"), tags=["b", "c"]))["account"]
    merged = await merge(gql, source["id"], target["id"])
    assert merged == {"userErrors": [], "account": {
        "id": target["id"], "name": "Target Co", "industry": "Software", "region": "华东", "website": "source.example",
        "tags": ["a", "b", "c"], "version": 2, "owner": {"handle": "sales_member"}}}
    [event] = await events(org, "ACCOUNT_MERGED")
    assert event.changes == {
        "mergedFrom": ["Source Co", None], "industry": [None, "Software"], "region": [None, "华东"],
        "website": [None, "source.example"], "owner": [None, org.users["sales_member"].id],
        "tags": [["a", "b"], ["a", "b", "c"]], "opportunities": [None, 0]}
    assert await account_ids(org) == {"Target Co": pk(target["id"])}


async def test_merge_keeps_the_targets_own_values(gql, org):
    target = (await create_account(gql, as_="sales_admin", name="Target Co", industry="Retail", region="华北",
                                   website="target.example", ownerId=gid(org, "sales_manager"), tags=["a", "b"]))["account"]
    source = (await create_account(gql, as_="sales_admin", name="Source Co", industry="Software", region="华东",
                                   website="source.example", ownerId=gid(org, "sales_member"), tags=["b"]))["account"]
    merged = await merge(gql, source["id"], target["id"])
    assert merged == {"userErrors": [], "account": {
        "id": target["id"], "name": "Target Co", "industry": "Retail", "region": "华北", "website": "target.example",
        "tags": ["a", "b"], "version": 2, "owner": {"handle": "sales_manager"}}}
    [event] = await events(org, "ACCOUNT_MERGED")
    assert event.changes == {"mergedFrom": ["Source Co", None], "opportunities": [None, 0]}


async def test_merge_moves_the_deals_in_their_order(gql, org):
    first = await create(gql, title="First", accountName="Source Co")
    second = await create(gql, title="Second", accountName="Source Co")
    later = (await gql.ok(MOVE, {"input": {"id": first["id"], "version": first["version"], "stageKey": "qualified"}}))
    assert later["moveOpportunity"]["userErrors"] == []
    await create(gql, title="Own", accountName="Target Co")
    ids = await account_ids(org)
    merged = await merge(gql, to_global("Account", ids["Source Co"]), to_global("Account", ids["Target Co"]))
    assert merged["userErrors"] == []
    [event] = await events(org, "ACCOUNT_MERGED")
    assert event.changes == {"mergedFrom": ["Source Co", None], "opportunities": [None, 2]}
    moved = [(e.opportunity_id, e.changes) for e in await events(org, "OPPORTUNITY_UPDATED") if e.seq < event.seq]
    assert moved[-2:] == [(pk(first["id"]), {"account": ["Source Co", "Target Co"]}),
                          (pk(second["id"]), {"account": ["Source Co", "Target Co"]})]
    async with org.db.read() as s:
        deals = (await s.execute(select(m.Opportunity.title, m.Opportunity.account_id, m.Opportunity.version)
                                 .where(m.Opportunity.org_id == org.id).order_by(m.Opportunity.id))).all()
    assert deals == [("First", ids["Target Co"], 3), ("Second", ids["Target Co"], 2), ("Own", ids["Target Co"], 1)]


async def test_merge_carries_the_sources_history_and_drops_its_open_conflict_where_the_target_has_one(gql, org):
    await contested(gql, "Source Co", "sales_member", "marketing_member")
    source = (await account_ids(org))["Source Co"]
    assert (await resolve(gql, accountId=to_global("Account", source)))["userErrors"] == []
    await contested(gql, "Source Co", "legal_member")
    await contested(gql, "Target Co", "sales_member", "product_member")
    await contested(gql, "Other Co", "sales_member", "marketing_member")
    ids = await account_ids(org)
    target, other = ids["Target Co"], ids["Other Co"]
    admin = org.users["sales_admin"].id
    [history, source_open, target_open, other_open] = before = await conflicts(org)
    assert [c[1:3] for c in before] == [(source, True), (source, False), (target, False), (other, False)]
    merged = await merge(gql, to_global("Account", source), to_global("Account", target))
    assert merged["userErrors"] == []
    assert await conflicts(org) == [
        (history[0], target, True, admin, None, None), (target_open[0], target, False, None, None, None),
        (other_open[0], other, False, None, None, None)]
    assert source_open[0] not in {c[0] for c in await conflicts(org)}


async def test_merge_moves_the_sources_open_conflict_to_a_target_without_one(gql, org):
    await contested(gql, "Source Co", "sales_member", "marketing_member")
    await contested(gql, "Target Co", "sales_member")
    ids = await account_ids(org)
    [(conflict_id, *_)] = await conflicts(org)
    raised = len(await events(org, "OWNERSHIP_CONFLICT_RAISED"))
    merged = await merge(gql, to_global("Account", ids["Source Co"]), to_global("Account", ids["Target Co"]))
    assert merged["userErrors"] == []
    assert await conflicts(org) == [(conflict_id, ids["Target Co"], False, None, None, None)]
    assert len(await events(org, "OWNERSHIP_CONFLICT_RAISED")) == raised + 2  # the two moved cards join it


# ------------------------------------------------------------------ resolveOwnershipConflict


async def test_resolve_refusals_name_the_field(gql, org):
    await contested(gql, "Contested", "sales_member", "marketing_member")
    await create_account(gql, name="Quiet Ltd")
    ids = await account_ids(org)
    contested_id, unknown = to_global("Account", ids["Contested"]), to_global("Account", 10**8)
    assert await resolve(gql, accountId=unknown) == {"account": None, "userErrors": [
        {"field": ["accountId"], "code": "NOT_FOUND", "message": f"No customer with id {unknown!r}"}]}
    assert await resolve(gql, accountId=to_global("Account", ids["Quiet Ltd"])) == {"account": None, "userErrors": [
        {"field": ["accountId"], "code": "NOT_FOUND", "message": "Quiet Ltd has no open ownership conflict"}]}
    assert await resolve(gql, as_="legal_manager", accountId=contested_id) == {"account": None, "userErrors": [
        {"field": None, "code": "FORBIDDEN", "message": "Only a manager of an owner's department or an admin can resolve this conflict"}]}
    assert (await resolve(gql, accountId=contested_id, note="x" * 501, keepOpportunityId="nope"))["userErrors"] == [
        {"field": ["note"], "code": "VALIDATION", "message": "note is longer than 500 characters"},
        {"field": ["keepOpportunityId"], "code": "NOT_FOUND", "message": "No Opportunity with id 'nope'"}]
    assert [c[2] for c in await conflicts(org)] == [False] and await events(org, "OWNERSHIP_CONFLICT_RESOLVED") == []


async def test_resolving_one_customers_conflict_leaves_the_others_open(gql, org):
    ours = await contested(gql, "Contested", "sales_member", "marketing_member")
    theirs = await contested(gql, "Elsewhere", "sales_member", "legal_member")
    ids = await account_ids(org)
    [(first, *_), (second, *_)] = await conflicts(org)
    done = await resolve(gql, as_="sales_manager", accountId=to_global("Account", ids["Contested"]))
    assert done == {"account": {"name": "Contested"}, "userErrors": []}
    assert await conflicts(org) == [(first, ids["Contested"], True, org.users["sales_manager"].id, None, None),
                                    (second, ids["Elsewhere"], False, None, None, None)]
    resolved = await events(org, "OWNERSHIP_CONFLICT_RESOLVED")
    assert [(e.opportunity_id, e.changes) for e in resolved] == [
        (pk(card["id"]), {"ownershipConflict": ["open", "resolved"]}) for card in ours]
    shown = (await gql.ok(CONFLICT, {"id": theirs[0]["id"]}, as_="sales_admin"))["node"]["ownershipConflict"]
    assert [o["title"] for o in shown["opportunities"]] == ["Elsewhere legal_member"]


async def test_a_conflict_without_open_deals_is_resolved_by_an_admin_with_one_event(gql, org):
    deals = await contested(gql, "Gone Co", "sales_member", "marketing_member")
    for card, owner in zip(deals, ("sales_member", "marketing_member")):
        lost = (await gql.ok(MOVE, {"input": {"id": card["id"], "version": card["version"], "stageKey": "lost",
                                              "lostReason": "price"}}, as_=owner))["moveOpportunity"]
        assert lost["userErrors"] == []
    account = to_global("Account", (await account_ids(org))["Gone Co"])
    assert (await resolve(gql, as_="sales_manager", accountId=account))["userErrors"] == [
        {"field": None, "code": "FORBIDDEN", "message": "Only a manager of an owner's department or an admin can resolve this conflict"}]
    assert await resolve(gql, accountId=account, note="Both lost") == {"account": {"name": "Gone Co"}, "userErrors": []}
    resolved = await events(org, "OWNERSHIP_CONFLICT_RESOLVED")
    assert [(e.opportunity_id, e.changes) for e in resolved] == [
        (None, {"ownershipConflict": ["open", "resolved"], "note": [None, "Both lost"]})]
    [(_, _, closed, by, kept, note)] = await conflicts(org)
    assert (closed, by, kept, note) == (True, org.users["sales_admin"].id, None, "Both lost")


async def test_a_cards_conflict_lists_the_other_owners_open_deals_in_their_order(gql, org):
    """A card shows the open deals of the customer's other owners, by id (on PostgreSQL the
    moved deal's row now lies behind the others), not its owner's other deals nor closed ones;
    a closed card shows no conflict."""
    first = await create(gql, title="First", accountName="Contested")
    theirs = await create(gql, as_="marketing_member", title="Theirs", accountName="Contested")
    second = await create(gql, title="Second", accountName="Contested")
    lost = await create(gql, as_="legal_member", title="Lost", accountName="Contested")
    assert (await move(gql, lost["id"], "lost", as_="legal_member", lostReason="price"))["userErrors"] == []
    assert (await move(gql, first["id"], "qualified"))["userErrors"] == []

    async def shown(card):
        node = (await gql.ok(CONFLICT, {"id": card["id"]}, as_="sales_admin"))["node"]
        return node["ownershipConflict"] and [(o["title"], o["owner"]["handle"]) for o in node["ownershipConflict"]["opportunities"]]

    assert await shown(theirs) == [("First", "sales_member"), ("Second", "sales_member")]
    assert await shown(second) == [("Theirs", "marketing_member")]
    assert await shown(lost) is None


# ------------------------------------------------------------------ two writers at once (PostgreSQL)


async def test_an_update_waits_for_a_concurrent_one_and_sees_its_version(gql, org, backend):
    """updateAccount reads the customer under its row lock: sent with the version a
    committing writer is replacing, it waits, then answers CONFLICT and overwrites nothing."""
    postgres_only(backend)
    made = (await create_account(gql, name="Raced Ltd"))["account"]

    async def racer(held):
        await held.execute(sa_update(m.Account).where(m.Account.id == pk(made["id"])).values(industry="Mining", version=2))

    answer = await behind_a_transaction(org, racer, update(gql, id=made["id"], version=1, region="华东"))
    assert answer["account"] is None
    assert answer["userErrors"] == [{"field": ["version"], "code": "CONFLICT",
                                     "message": "Someone else changed this customer (now version 2); reload and retry"}]
    name, industry, region, *_, version = await account_row(org, pk(made["id"]))
    assert (industry, region, version) == ("Mining", None, 2)


async def test_a_merge_waits_for_a_concurrent_edit_of_either_customer(gql, org, backend):
    """mergeAccounts reads both customers under their row locks: an edit committing
    meanwhile is merged, not lost. The source's new industry fills the target's empty
    one; the target's new region is kept over the source's, and its version follows on."""
    postgres_only(backend)
    for held, changes in (("source", {"industry": "Mining"}), ("target", {"region": "华东"})):
        source = (await create_account(gql, name=f"Source {held} Co", region="华北"))["account"]
        target = (await create_account(gql, name=f"Target {held} Co"))["account"]
        edited = pk({"source": source, "target": target}[held]["id"])

        async def racer(session):
            await session.execute(sa_update(m.Account).where(m.Account.id == edited).values(version=2, **changes))

        answer = await behind_a_transaction(org, racer, merge(gql, source["id"], target["id"]))
        assert answer["userErrors"] == [], held
        _, industry, region, *_, version = await account_row(org, pk(target["id"]))
        assert (industry, region, version) == (("Mining", "华北", 2) if held == "source" else (None, "华东", 3)), held


async def test_a_deactivated_manager_is_not_told_of_a_conflict(gql, org):
    """The owners' departments' active managers are told; one who has left is not."""
    async with org.db.write() as s:
        (await s.get(m.User, org.users["legal_manager"].id)).deactivated_at = datetime.now(timezone.utc)
    await create(gql, as_="legal_member", title="Legal deal", accountName="Contested Ltd")
    await create(gql, as_="sales_admin", title="Sales deal", accountName="Contested Ltd", ownerId=gid(org, "sales_member"))
    assert await conflict_notes(org) == {"sales_member": "Sales deal", "sales_manager": "Sales deal", "legal_member": "Legal deal"}


async def alerts_told(org) -> list[tuple]:
    """(who, card, the card its event is about) of every conflict alert, by who; then clears them."""
    async with org.db.read() as s:
        rows = (await s.execute(
            select(m.User.handle, m.Opportunity.title, m.Event.opportunity_id).select_from(m.Notification)
            .join(m.User, m.User.id == m.Notification.user_id).join(m.Opportunity, m.Opportunity.id == m.Notification.opportunity_id)
            .join(m.Event, (m.Event.org_id == m.Notification.org_id) & (m.Event.seq == m.Notification.event_seq))
            .where(m.Notification.org_id == org.id, m.Notification.template == CONFLICT_TEMPLATE))).all()
        titles = dict((await s.execute(select(m.Opportunity.id, m.Opportunity.title).where(m.Opportunity.org_id == org.id))).all())
    async with org.db.write() as s:  # the next card's alerts alone
        await s.execute(delete(m.Notification).where(m.Notification.org_id == org.id))
    return sorted((who, title, titles[about]) for who, title, about in rows)


async def test_a_conflict_tells_each_person_once_pointing_at_their_own_card(gql, org, clock):
    """Three owners of one department on one customer: each owner is told on their own card,
    their manager once, on the new card; opening ties each alert to its card's event, a
    later card ties them all to its own. The conflict opens at the request's time."""
    async with org.db.write() as s:
        org_row = await s.get(m.Organization, org.id)
        for key in ("sales2", "sales3"):
            org.users[key] = await create_user(s, org_row, email=f"{key}.{org.id}@example.test", name=key.title(),
                                               department_key="sales", role="MEMBER", handle=key)
    clock.advance(hours=2)
    await create(gql, title="First", accountName="Contested Ltd")
    await create(gql, as_="sales_admin", title="Second", accountName="Contested Ltd", ownerId=gid(org, "sales3"))
    assert await alerts_told(org) == [("sales3", "Second", "Second"), ("sales_manager", "Second", "Second"),
                                      ("sales_member", "First", "First")]
    async with org.db.read() as s:
        opened = await s.scalar(select(m.OwnershipConflict.opened_at).where(m.OwnershipConflict.org_id == org.id))
    assert opened == clock.now
    await create(gql, as_="sales_admin", title="Third", accountName="Contested Ltd", ownerId=gid(org, "sales2"))
    assert await alerts_told(org) == [("sales2", "Third", "Third"), ("sales3", "Second", "Third"),
                                      ("sales_manager", "Third", "Third"), ("sales_member", "First", "Third")]
    raised = [(e.opportunity_id, e.changes) for e in await events(org, "OWNERSHIP_CONFLICT_RAISED")]
    ids = await card_ids(org)
    assert raised == [
        (ids["First"], {"ownershipConflict": [None, "open"], "owners": [None, ["Sales Member", "Sales3"]]}),
        (ids["Second"], {"ownershipConflict": [None, "open"], "owners": [None, ["Sales Member", "Sales3"]]}),
        (ids["Third"], {"ownershipConflict": [None, "open"], "owners": [None, ["Sales Member", "Sales2", "Sales3"]]})]


async def card_ids(org) -> dict[str, int]:
    async with org.db.read() as s:
        return dict((await s.execute(select(m.Opportunity.title, m.Opportunity.id).where(m.Opportunity.org_id == org.id))).all())


async def test_an_import_onto_a_contested_customer_names_its_new_deals_in_200_characters(gql, client, org):
    """An import brings two deals onto a customer another owner has an open deal with: the
    alert names the new deals, in the order they were made, cut to 200 characters. A customer
    of the same import that nobody contests, ahead of it, does not stop the check."""
    await create(gql, title="Quiet deal", accountName="Quiet Co")  # the first customer checked
    await create(gql, as_="legal_member", title="Legal deal", accountName="Contested Ltd")
    owner = org.users["sales_member"].email
    rows = [["客户", "商机名称", "负责人"], ["Quiet Co", "Quiet renewal", owner],
            ["Contested Ltd", "A" * 150, owner], ["Contested Ltd", "B" * 150, owner]]
    assert (await upload(client, org, workbook({"商机": rows, "联系人": CONTACTS[:1]})))["created"] == 3
    async with org.db.read() as s:
        told = (await s.execute(select(m.Notification.params).where(
            m.Notification.user_id == org.users["legal_member"].id, m.Notification.template == CONFLICT_TEMPLATE))).scalars().all()
    assert [p["opp"] for p in told] == ["A" * 150 + ", " + "B" * 48]


async def test_a_new_customer_is_created_at_the_requests_time(gql, org, clock):
    clock.advance(hours=5)
    deal = await create(gql, accountName="Brand New Trading")
    query = "query($id: ID!) { node(id: $id) { ... on Opportunity { account { name tags version createdAt } } } }"
    account = (await gql.ok(query, {"id": deal["id"]}))["node"]["account"]
    assert (account["name"], account["tags"], account["version"]) == ("Brand New Trading", [], 1)
    assert datetime.fromisoformat(account["createdAt"]) == clock.now


async def test_a_customer_created_meanwhile_is_the_new_deals_customer(gql, org, backend):
    """Another transaction creates the same customer while a deal names it: the deal joins that
    customer (the unique key refuses a second one)."""
    postgres_only(backend)

    async def racer(held):
        held.add(m.Account(org_id=org.id, name="Racer Co", normalized_name=accounts.account_key("Racer Co"), tags=[], version=1))
        await held.flush()

    deal = await behind_a_transaction(org, racer, create(gql, accountName="Racer Co."))
    ids = await account_ids(org)
    assert list(ids) == ["Racer Co"]
    async with org.db.read() as s:
        assert (await s.get(m.Opportunity, pk(deal["id"]))).account_id == ids["Racer Co"]


async def test_an_id_that_names_no_customer_is_refused_on_its_field(gql, org):
    deal = await create(gql)  # an opportunity's id is no customer's
    for bogus in ("bogus", deal["id"]):
        answer = await update(gql, id=bogus, version=1, region="华东")
        assert answer["userErrors"] == [{"field": ["id"], "code": "NOT_FOUND", "message": f"No Account with id {bogus!r}"}]


async def test_a_closed_deal_given_a_new_owner_raises_nothing(gql, org):
    """A lost deal changes hands on a customer two owners already share: no new deal is open
    there, so nothing is raised again."""
    await create(gql, title="Ours", accountName="Split Co")
    await create(gql, as_="legal_member", title="Theirs", accountName="Split Co")
    closed = await create(gql, title="Lost one", accountName="Split Co")
    assert (await move(gql, closed["id"], "lost", lostReason="预算取消"))["userErrors"] == []
    before = [e.seq for e in await events(org, "OWNERSHIP_CONFLICT_RAISED")]
    changed = (await gql.ok(UPDATE, {"input": {"id": closed["id"], "version": (await opp(gql, closed["id"]))["version"],
                                               "ownerId": to_global("User", org.users["marketing_member"].id)}}, as_="sales_admin"))
    assert changed["updateOpportunity"]["userErrors"] == []
    assert [e.seq for e in await events(org, "OWNERSHIP_CONFLICT_RAISED")] == before
