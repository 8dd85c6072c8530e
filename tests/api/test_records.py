"""Contacts (联系人) and follow-ups (跟进记录): duplicate checks on normalized phone and
email, updates with versions, contacts on cards with roles, follow-ups moving the card's
last and next contact, their paging, who may do what, and refusals writing nothing."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from db import models as m
from resolvers import records
from resolvers.ids import to_global
from tests.api.workflow_helpers import create, pk

ERRS = "userErrors { field code message }"
CONTACT_FIELDS = "id name title phone email wechat version account { name }"
CREATE_CONTACT = f"""mutation($input: CreateContactInput!) {{ createContact(input: $input) {{
  contact {{ {CONTACT_FIELDS} }} {ERRS} }} }}"""
UPDATE_CONTACT = f"""mutation($input: UpdateContactInput!) {{ updateContact(input: $input) {{
  contact {{ {CONTACT_FIELDS} }} {ERRS} }} }}"""
LINK = f"""mutation($input: LinkContactInput!) {{ linkContact(input: $input) {{
  opportunity {{ version contacts {{ role contact {{ name }} }} }} {ERRS} }} }}"""
UNLINK = f"""mutation($input: UnlinkContactInput!) {{ unlinkContact(input: $input) {{
  opportunity {{ contacts {{ role contact {{ name }} }} }} {ERRS} }} }}"""
LOG = f"""mutation($input: LogFollowUpInput!) {{ logFollowUp(input: $input) {{
  followUp {{ id kind at summary outcome nextStep nextFollowUpAt author {{ handle }} contact {{ name }}
    opportunity {{ lastContactAt lastContactKind nextFollowUpAt version }} }} {ERRS} }} }}"""
CARD = """query($id: ID!, $first: Int, $after: String) { node(id: $id) { ... on Opportunity { version lastContactAt nextFollowUpAt
  contacts { role contact { name } }
  followUps(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { summary kind } } }
  account { contacts { name phone email } } } } }"""
ACCOUNT_CONTACTS = "query($id: ID!) { account(id: $id) { contacts { name } } }"

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def iso(when: datetime) -> str:
    return when.isoformat()


async def account_gid(org, card: dict) -> str:
    async with org.db.read() as s:
        return to_global("Account", await s.scalar(select(m.Opportunity.account_id).where(m.Opportunity.id == pk(card["id"]))))


async def create_contact(gql, as_="sales_member", **fields) -> dict:
    return (await gql.ok(CREATE_CONTACT, {"input": fields}, as_=as_))["createContact"]


async def counts(org) -> tuple:
    async with org.db.read() as s:
        return tuple([
            await s.scalar(select(func.count()).select_from(table).where(table.c.org_id == org.id))
            for table in (m.Contact.__table__, m.FollowUp.__table__, m.Event.__table__)
        ] + [await s.scalar(select(func.count()).select_from(m.OpportunityContact))])


async def card_row(org, gid: str) -> m.Opportunity:
    async with org.db.read() as s:
        return await s.get(m.Opportunity, pk(gid))


async def events_of(org, type_: str) -> list[m.Event]:
    async with org.db.read() as s:
        return list((await s.execute(select(m.Event).where(m.Event.org_id == org.id, m.Event.type == type_).order_by(m.Event.seq))).scalars())


# ------------------------------------------------------------------ keys


@pytest.mark.parametrize("a,b", [
    ("+86 138-0013-8000", "13800138000"),
    ("0086 138 0013 8000", "138-0013-8000"),
    ("(+86) 138.0013.8000", "13800138000"),
    ("１３８００１３８０００", "13800138000"),
])
def test_one_phone_number(a, b):
    assert records.phone_key(a) == records.phone_key(b) == "13800138000"


def test_other_country_codes_stay_in_the_key():
    assert records.phone_key("+1 415 555 0100") == "14155550100"
    assert records.email_key(" Li.Lei@Example.COM ") == "li.lei@example.com"


# ------------------------------------------------------------------ contacts


async def test_contacts_are_deduplicated_by_normalized_phone_and_email(gql, org):
    card = await create(gql, accountName="星辰科技")
    account = await account_gid(org, card)
    made = await create_contact(gql, accountId=account, name="李雷", title="CTO", phone="+86 138-0013-8000",
                                email="Li.Lei@Example.com", wechat="lilei_wx")
    assert made["userErrors"] == []
    assert made["contact"] | {"id": None} == {"id": None, "name": "李雷", "title": "CTO", "phone": "+86 138-0013-8000",
                                              "email": "Li.Lei@Example.com", "wechat": "lilei_wx", "version": 1,
                                              "account": {"name": "星辰科技"}}
    other = await account_gid(org, await create(gql, title="Other", accountName="Other Corp"))
    before = await counts(org)
    for phone in ("13800138000", "0086 138 0013 8000", "+86 13800138000"):
        dup = await create_contact(gql, accountId=account, name="韩梅梅", phone=phone)
        assert dup["contact"] is None
        assert dup["userErrors"] == [{"field": ["phone"], "code": "DUPLICATE", "message": "The contact 李雷 already has this phone number"}]
    dup = await create_contact(gql, accountId=account, name="韩梅梅", email="  LI.LEI@example.COM ")
    assert dup["userErrors"] == [{"field": ["email"], "code": "DUPLICATE", "message": "The contact 李雷 already has this email address"}]
    # Another customer of the organization: still the same person's number.
    dup = await create_contact(gql, accountId=other, name="Someone", phone="138 0013 8000")
    assert [e["code"] for e in dup["userErrors"]] == ["DUPLICATE"]
    assert await counts(org) == before
    # Malformed values: every problem at once, nothing written.
    bad = await create_contact(gql, accountId=account, name=" ", phone="call me", email="not-an-email")
    assert sorted((e["field"][0], e["code"]) for e in bad["userErrors"]) == [
        ("email", "VALIDATION"), ("name", "VALIDATION"), ("phone", "VALIDATION")]
    assert (await create_contact(gql, accountId=account, name="X", phone="12"))["userErrors"][0]["field"] == ["phone"]
    unknown = await create_contact(gql, accountId=to_global("Account", 999999), name="X")
    assert unknown["userErrors"][0]["code"] == "NOT_FOUND" and unknown["userErrors"][0]["field"] == ["accountId"]
    assert await counts(org) == before
    # A different number and no email: fine; so is a contact with neither.
    assert (await create_contact(gql, accountId=account, name="韩梅梅", phone="+86 139 0000 0000"))["userErrors"] == []
    assert (await create_contact(gql, accountId=account, name="王五"))["userErrors"] == []
    seen = (await gql.ok(ACCOUNT_CONTACTS, {"id": account}))["account"]["contacts"]
    assert [c["name"] for c in seen] == ["李雷", "韩梅梅", "王五"]


async def test_update_contact_checks_version_and_duplicates(gql, org):
    account = await account_gid(org, await create(gql))
    first = (await create_contact(gql, accountId=account, name="Ann", phone="13800138000"))["contact"]
    second = (await create_contact(gql, accountId=account, name="Bob", email="bob@example.com"))["contact"]
    changed = (await gql.ok(UPDATE_CONTACT, {"input": {"id": second["id"], "version": 1, "title": "Buyer", "phone": "+86 139-0000-0000"}}))["updateContact"]
    assert changed["userErrors"] == [] and changed["contact"]["version"] == 2 and changed["contact"]["title"] == "Buyer"
    stale = (await gql.ok(UPDATE_CONTACT, {"input": {"id": second["id"], "version": 1, "title": "CEO"}}))["updateContact"]
    assert stale["contact"] is None
    assert stale["userErrors"] == [{"field": ["version"], "code": "CONFLICT",
                                    "message": "Someone else changed this contact (now version 2); reload and retry"}]
    taken = (await gql.ok(UPDATE_CONTACT, {"input": {"id": second["id"], "version": 2, "phone": "+86 13800138000"}}))["updateContact"]
    assert taken["userErrors"] == [{"field": ["phone"], "code": "DUPLICATE", "message": "The contact Ann already has this phone number"}]
    # Its own number, written differently: no duplicate of itself.
    own = (await gql.ok(UPDATE_CONTACT, {"input": {"id": first["id"], "version": 1, "phone": "+86 138 0013 8000"}}))["updateContact"]
    assert own["userErrors"] == [] and own["contact"]["version"] == 2
    async with org.db.read() as s:
        row = await s.get(m.Contact, pk(first["id"]))
        assert (row.phone, row.phone_key) == ("+86 138 0013 8000", "13800138000")
    # Nothing changed: the version stays.
    same = (await gql.ok(UPDATE_CONTACT, {"input": {"id": first["id"], "version": 2, "name": "Ann"}}))["updateContact"]
    assert same["userErrors"] == [] and same["contact"]["version"] == 2


async def test_link_and_unlink_contacts_with_roles(gql, org):
    card = await create(gql, accountName="Initech")
    account = await account_gid(org, card)
    ann = (await create_contact(gql, accountId=account, name="Ann"))["contact"]
    bob = (await create_contact(gql, accountId=account, name="Bob"))["contact"]
    elsewhere = await account_gid(org, await create(gql, title="Other", accountName="Elsewhere Ltd"))
    stranger = (await create_contact(gql, accountId=elsewhere, name="Eve"))["contact"]

    linked = (await gql.ok(LINK, {"input": {"opportunityId": card["id"], "contactId": ann["id"], "role": "DECISION_MAKER"}}))["linkContact"]
    assert linked["userErrors"] == [] and linked["opportunity"]["version"] == card["version"]
    linked = (await gql.ok(LINK, {"input": {"opportunityId": card["id"], "contactId": bob["id"], "role": "USER"}}))["linkContact"]
    assert linked["opportunity"]["contacts"] == [{"role": "DECISION_MAKER", "contact": {"name": "Ann"}},
                                                 {"role": "USER", "contact": {"name": "Bob"}}]
    # Linking again changes the role.
    again = (await gql.ok(LINK, {"input": {"opportunityId": card["id"], "contactId": bob["id"], "role": "INFLUENCER"}}))["linkContact"]
    assert again["opportunity"]["contacts"][1] == {"role": "INFLUENCER", "contact": {"name": "Bob"}}
    events = await events_of(org, "CONTACT_LINKED")
    assert [e.changes for e in events] == [
        {"contact": [None, "Ann"], "role": [None, "DECISION_MAKER"]},
        {"contact": [None, "Bob"], "role": [None, "USER"]},
        {"contact": ["Bob", "Bob"], "role": ["USER", "INFLUENCER"]},
    ]
    assert all(e.opportunity_id == pk(card["id"]) for e in events)
    # The same role again changes nothing.
    before = await counts(org)
    await gql.ok(LINK, {"input": {"opportunityId": card["id"], "contactId": bob["id"], "role": "INFLUENCER"}})
    assert await counts(org) == before
    # A contact of another customer does not go on this card.
    wrong = (await gql.ok(LINK, {"input": {"opportunityId": card["id"], "contactId": stranger["id"], "role": "USER"}}))["linkContact"]
    assert wrong["userErrors"] == [{"field": ["contactId"], "code": "VALIDATION", "message": "Eve is not a contact of this deal's customer"}]

    gone = (await gql.ok(UNLINK, {"input": {"opportunityId": card["id"], "contactId": ann["id"]}}))["unlinkContact"]
    assert gone["userErrors"] == [] and gone["opportunity"]["contacts"] == [{"role": "INFLUENCER", "contact": {"name": "Bob"}}]
    assert [e.changes for e in await events_of(org, "CONTACT_UNLINKED")] == [{"contact": ["Ann", None], "role": ["DECISION_MAKER", None]}]
    twice = (await gql.ok(UNLINK, {"input": {"opportunityId": card["id"], "contactId": ann["id"]}}))["unlinkContact"]
    assert twice["userErrors"] == [{"field": ["contactId"], "code": "NOT_FOUND", "message": "Ann is not on this deal"}]
    assert await counts(org) == before[:2] + (before[2] + 1, before[3] - 1)


# ------------------------------------------------------------------ follow-ups


async def test_a_follow_up_moves_the_cards_last_and_next_contact(gql, org):
    card = await create(gql, accountName="Umbrella")
    account = await account_gid(org, card)
    ann = (await create_contact(gql, accountId=account, name="Ann", phone="13800138000"))["contact"]
    at, plan = T0, T0 + timedelta(days=2)
    logged = (await gql.ok(LOG, {"input": {"opportunityId": card["id"], "kind": "CALL", "at": iso(at), "contactId": ann["id"],
                                           "summary": " Walked through the quote ", "outcome": "Wants a discount",
                                           "nextStep": "Send revised quote", "nextFollowUpAt": iso(plan)}}))["logFollowUp"]
    assert logged["userErrors"] == []
    follow_up = logged["followUp"]
    assert follow_up | {"id": None} == {
        "id": None, "kind": "CALL", "at": iso(at), "summary": "Walked through the quote", "outcome": "Wants a discount",
        "nextStep": "Send revised quote", "nextFollowUpAt": iso(plan), "author": {"handle": "sales_member"},
        "contact": {"name": "Ann"},
        "opportunity": {"lastContactAt": iso(at), "lastContactKind": "CALL", "nextFollowUpAt": iso(plan), "version": card["version"]},
    }
    [event] = await events_of(org, "FOLLOW_UP_LOGGED")
    assert event.opportunity_id == pk(card["id"]) and event.actor_id == org.users["sales_member"].id
    assert event.changes == {"followUp": [None, follow_up["id"]], "kind": [None, "CALL"],
                             "lastContactAt": [None, iso(at)], "nextFollowUpAt": [None, iso(plan)]}
    assert "sales" in event.department_keys

    # An earlier follow-up logged late: the last contact and the plan stay.
    earlier = (await gql.ok(LOG, {"input": {"opportunityId": card["id"], "kind": "WECHAT", "at": iso(at - timedelta(days=1)),
                                            "summary": "Intro", "nextFollowUpAt": iso(at)}}))["logFollowUp"]
    assert earlier["followUp"]["opportunity"] == {"lastContactAt": iso(at), "lastContactKind": "CALL", "nextFollowUpAt": iso(plan),
                                                  "version": card["version"]}
    assert (await events_of(org, "FOLLOW_UP_LOGGED"))[-1].changes == {"followUp": [None, earlier["followUp"]["id"]], "kind": [None, "WECHAT"]}

    # A later one without a plan: the card's plan is cleared.
    later = at + timedelta(days=1)
    latest = (await gql.ok(LOG, {"input": {"opportunityId": card["id"], "kind": "VISIT", "at": iso(later), "summary": "On site"}}))["logFollowUp"]
    assert latest["followUp"]["opportunity"] == {"lastContactAt": iso(later), "lastContactKind": "VISIT", "nextFollowUpAt": None,
                                                "version": card["version"]}
    assert (await events_of(org, "FOLLOW_UP_LOGGED"))[-1].changes == {
        "followUp": [None, latest["followUp"]["id"]], "kind": [None, "VISIT"],
        "lastContactAt": [iso(at), iso(later)], "nextFollowUpAt": [iso(plan), None]}
    row = await card_row(org, card["id"])
    assert row.version == card["version"] and row.last_contact_at == later and row.next_follow_up_at is None


async def test_follow_ups_page_newest_first(gql, org):
    card = await create(gql)
    for i in range(5):
        result = (await gql.ok(LOG, {"input": {"opportunityId": card["id"], "kind": "OTHER", "at": iso(T0 + timedelta(hours=i)),
                                               "summary": f"f{i}"}}))["logFollowUp"]
        assert result["userErrors"] == []
    page = (await gql.ok(CARD, {"id": card["id"], "first": 2}))["node"]["followUps"]
    assert page["totalCount"] == 5 and page["pageInfo"]["hasNextPage"]
    assert [e["node"]["summary"] for e in page["edges"]] == ["f4", "f3"]
    rest = (await gql.ok(CARD, {"id": card["id"], "first": 10, "after": page["pageInfo"]["endCursor"]}))["node"]["followUps"]
    assert [e["node"]["summary"] for e in rest["edges"]] == ["f2", "f1", "f0"] and not rest["pageInfo"]["hasNextPage"]
    bad = await gql(CARD, {"id": card["id"], "after": "nope"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_follow_up_validation_writes_nothing(gql, org):
    card = await create(gql)
    other = (await create_contact(gql, accountId=await account_gid(org, await create(gql, title="B", accountName="Other")), name="Eve"))["contact"]
    before = await counts(org)
    bad = (await gql.ok(LOG, {"input": {"opportunityId": card["id"], "kind": "MEETING", "at": iso(datetime.now(timezone.utc) + timedelta(days=1)),
                                        "summary": "", "nextFollowUpAt": iso(T0), "contactId": other["id"]}}))["logFollowUp"]
    assert bad["followUp"] is None
    assert sorted((e["field"][0], e["code"]) for e in bad["userErrors"]) == [
        ("at", "VALIDATION"), ("contactId", "VALIDATION"), ("nextFollowUpAt", "VALIDATION"), ("summary", "VALIDATION")]
    assert await counts(org) == before
    row = await card_row(org, card["id"])
    assert row.last_contact_at is None and row.next_follow_up_at is None


# ------------------------------------------------------------------ who may


async def test_viewers_and_other_departments_are_refused_and_nothing_is_published(gql, org):
    await gql.ok("""mutation { setAccessRule(input: {role: MEMBER, scope: DEPARTMENT}) { userErrors { code } } }""", as_="sales_admin")
    card = await create(gql, accountName="Acme")
    account = await account_gid(org, card)
    ann = (await create_contact(gql, accountId=account, name="Ann", email="ann@acme.test"))["contact"]
    follow_up = {"opportunityId": card["id"], "kind": "CALL", "at": iso(T0), "summary": "Hello"}
    before = await counts(org)

    viewer = (await gql.ok(LOG, {"input": follow_up}, as_="sales_viewer"))["logFollowUp"]
    assert viewer["followUp"] is None and [e["code"] for e in viewer["userErrors"]] == ["FORBIDDEN"]
    for query, data, name in (
        (CREATE_CONTACT, {"accountId": account, "name": "Bob"}, "createContact"),
        (UPDATE_CONTACT, {"id": ann["id"], "version": 1, "name": "Annie"}, "updateContact"),
        (LINK, {"opportunityId": card["id"], "contactId": ann["id"], "role": "USER"}, "linkContact"),
        (UNLINK, {"opportunityId": card["id"], "contactId": ann["id"]}, "unlinkContact"),
    ):
        refused = (await gql.ok(query, {"input": data}, as_="sales_viewer"))[name]
        assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"], name

    # marketing_member sees no card of Acme: the card, the customer and its contacts do not exist for them.
    outsider = (await gql.ok(LOG, {"input": follow_up}, as_="marketing_member"))["logFollowUp"]
    assert outsider["userErrors"] == [{"field": ["id"], "code": "NOT_FOUND", "message": f"No opportunity with id {card['id']!r}"}]
    refused = (await gql.ok(CREATE_CONTACT, {"input": {"accountId": account, "name": "Bob"}}, as_="marketing_member"))["createContact"]
    assert refused["userErrors"] == [{"field": ["accountId"], "code": "NOT_FOUND", "message": f"No customer with id {account!r}"}]
    refused = (await gql.ok(UPDATE_CONTACT, {"input": {"id": ann["id"], "version": 1, "name": "Annie"}}, as_="marketing_member"))["updateContact"]
    assert refused["userErrors"] == [{"field": ["id"], "code": "NOT_FOUND", "message": f"No contact with id {ann['id']!r}"}]
    refused = (await gql.ok(LINK, {"input": {"opportunityId": card["id"], "contactId": ann["id"], "role": "USER"}}, as_="marketing_member"))["linkContact"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    assert (await gql.ok(ACCOUNT_CONTACTS, {"id": account}, as_="marketing_member"))["account"] is None
    # Their own card on the same customer shows the customer, and so its contacts.
    mine = await create(gql, as_="marketing_member", title="Theirs", accountName="Acme")
    seen = (await gql.ok(CARD, {"id": mine["id"]}, as_="marketing_member"))["node"]["account"]["contacts"]
    assert seen == [{"name": "Ann", "phone": None, "email": "ann@acme.test"}]
    before = await counts(org)

    # Straight through the resolvers: a refusal publishes nothing; a follow-up publishes its event.
    published = []

    async def publish(org_id, message):
        published.append(message)

    for who in ("sales_viewer", "marketing_member"):
        ctx = org.ctx(who)
        ctx.publish = publish
        result, errors = await records.log_follow_up(ctx, {"opportunity_id": card["id"], "kind": "CALL", "at": T0, "summary": "x"})
        assert result is None and errors
    ctx = org.ctx("sales_member")
    ctx.publish = publish
    _, errors = await records.log_follow_up(ctx, {"opportunity_id": card["id"], "kind": "CALL", "at": T0, "summary": ""})
    assert [e.code for e in errors] == ["VALIDATION"]
    assert published == [] and await counts(org) == before
    async with org.db.read() as s:
        head = await s.scalar(select(m.Organization.event_seq).where(m.Organization.id == org.id))
    result, errors = await records.log_follow_up(ctx, {"opportunity_id": card["id"], "kind": "CALL", "at": T0, "summary": "ok"})
    assert errors == [] and result.summary == "ok"
    assert [message["seq"] for message in published] == [[head + 1]]


async def test_withheld_accounts_withhold_contacts(gql, org):
    card = await create(gql, accountName="Globex")
    account = await account_gid(org, card)
    ann = (await create_contact(gql, accountId=account, name="Ann"))["contact"]
    await gql.ok(LINK, {"input": {"opportunityId": card["id"], "contactId": ann["id"], "role": "GATEKEEPER"}})
    await gql.ok(LOG, {"input": {"opportunityId": card["id"], "kind": "EMAIL", "at": iso(T0), "summary": "Mail", "contactId": ann["id"]}})
    await gql.ok("""mutation { setAccessRule(input: {role: MEMBER, scope: ALL, hiddenFields: ["account"]}) { userErrors { code } } }""",
                 as_="sales_admin")
    node = (await gql.ok(CARD, {"id": card["id"]}))["node"]
    assert node["contacts"] == [] and node["account"]["contacts"] == []
    assert node["followUps"]["totalCount"] == 1
    contact = (await gql.ok("""query($id: ID!) { node(id: $id) { ... on Opportunity { followUps { edges { node { contact { name } } } } } } }""",
                            {"id": card["id"]}))["node"]["followUps"]["edges"][0]["node"]["contact"]
    assert contact is None
    refused = (await gql.ok(UPDATE_CONTACT, {"input": {"id": ann["id"], "version": 1, "name": "Annie"}}))["updateContact"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    # The admin still sees everything.
    node = (await gql.ok(CARD, {"id": card["id"]}, as_="sales_admin"))["node"]
    assert node["contacts"] == [{"role": "GATEKEEPER", "contact": {"name": "Ann"}}]
