"""Contacts and follow-ups, exactly: updateContact's rules for the name, the email and
the stored keys (with the row after each answer), links and unlinks that touch only their
own card with their events, the import's count of links, logFollowUp's bounds on times
and texts (code, field, message) and the card's last contact, and the answers to two
writers racing on PostgreSQL (a unique key taken meanwhile, a row changed meanwhile, a link
that does not wait for an edit); which contacts a restricted member reaches, and the order
of a customer's contacts and a card's links."""
import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from db import models as m
from resolvers import records
from resolvers.ids import to_global
from tests.api.test_import_roundtrip import CONTACTS, workbook
from tests.api.test_records import (
    ACCOUNT_CONTACTS, CARD, LINK, LOG, UNLINK, UPDATE_CONTACT, account_gid, card_row, counts, create_contact, events_of,
)
from tests.api.workflow_helpers import create, pk
from tests.conftest import wait_for

OWN = """mutation { setAccessRule(input: {role: MEMBER, scope: OWN}) { userErrors { code } } }"""
IMPORT = """mutation($input: ImportOpportunitiesInput!) { importOpportunities(input: $input) {
  created contactsCreated contactsExisting contactsLinked userErrors { code field } } }"""


async def contact_row(org, gid: str) -> m.Contact:
    async with org.db.read() as s:
        return await s.get(m.Contact, pk(gid))


async def update(gql, **fields) -> dict:
    return (await gql.ok(UPDATE_CONTACT, {"input": fields}))["updateContact"]


async def links(org) -> list[tuple]:
    async with org.db.read() as s:
        rows = (await s.execute(select(m.OpportunityContact).join(m.Contact, m.Contact.id == m.OpportunityContact.contact_id)
                                .where(m.Contact.org_id == org.id).order_by(m.OpportunityContact.id))).scalars()
        return [(row.opportunity_id, row.contact_id, row.role) for row in rows]


def errors(answer: dict) -> list[tuple]:
    return [(e["field"], e["code"], e["message"]) for e in answer["userErrors"]]


async def ann_and_bob(gql, org):
    account = await account_gid(org, await create(gql))
    ann = (await create_contact(gql, accountId=account, name="Ann", phone="13800138000", email="ann@example.com"))["contact"]
    bob = (await create_contact(gql, accountId=account, name="Bob", email="Bob@Example.com"))["contact"]
    return ann, bob


# ------------------------------------------------------------------ updateContact


async def test_renaming_bumps_the_version(gql, org, clock):
    ann, _ = await ann_and_bob(gql, org)
    clock.advance(hours=3)
    renamed = await update(gql, id=ann["id"], version=1, name=" Annie ")
    assert renamed["userErrors"] == [] and (renamed["contact"]["name"], renamed["contact"]["version"]) == ("Annie", 2)
    row = await contact_row(org, ann["id"])
    assert (row.name, row.version, row.updated_at, row.phone_key, row.email_key) == (
        "Annie", 2, clock.now, "13800138000", "ann@example.com")


async def test_blank_name_is_refused(gql, org):
    ann, _ = await ann_and_bob(gql, org)
    answer = await update(gql, id=ann["id"], version=1, name="  ")
    assert answer["contact"] is None and errors(answer) == [(["name"], "VALIDATION", "name must not be blank")]
    row = await contact_row(org, ann["id"])
    assert (row.name, row.version) == ("Ann", 1)


async def test_name_longer_than_100_is_refused(gql, org):
    ann, _ = await ann_and_bob(gql, org)
    answer = await update(gql, id=ann["id"], version=1, name="n" * 101)
    assert errors(answer) == [(["name"], "VALIDATION", "name is longer than 100 characters")]
    assert (await update(gql, id=ann["id"], version=1, name="n" * 100))["contact"]["name"] == "n" * 100


PHONE_TEXT = "phone must be a phone number: digits, spaces, dashes and an optional leading +"
EMAIL_TEXT = "email must be an address such as name@example.com"


@pytest.mark.parametrize("phone, stored, problem", [
    ("12345" + "-" * 35, "12345" + "-" * 35, None),  # 40 characters, 5 digits: both at their bounds
    ("12345" + "-" * 36, None, "phone is longer than 40 characters"),
    ("1234", None, PHONE_TEXT),  # 4 digits
    ("1" * 20, "1" * 20, None),
    ("1" * 21, None, PHONE_TEXT),
    ("+86 1234", None, PHONE_TEXT),  # 4 digits once +86 is taken off
    ("＋８６ １３９ ０００ ０", "+86 139 000 0", None),  # full-width: kept as half-width
    (" 139 0000 0000 ", "139 0000 0000", None),
])
async def test_a_contacts_phone_at_its_bounds(gql, org, phone, stored, problem):
    account = await account_gid(org, await create(gql))
    answer = await create_contact(gql, accountId=account, name="Ann", phone=phone)
    assert errors(answer) == ([(["phone"], "VALIDATION", problem)] if problem else [])
    assert (answer["contact"] and answer["contact"]["phone"]) == stored


@pytest.mark.parametrize("email, problem", [
    ("a" * 242 + "@example.com", None),  # 254 characters
    ("a" * 243 + "@example.com", "email is longer than 254 characters"),
    ("ann@example", EMAIL_TEXT),
    ("ann@@example.com", EMAIL_TEXT),
])
async def test_a_contacts_email_at_its_bounds(gql, org, email, problem):
    account = await account_gid(org, await create(gql))
    answer = await create_contact(gql, accountId=account, name="Ann", email=email)
    assert errors(answer) == ([(["email"], "VALIDATION", problem)] if problem else [])
    assert (answer["contact"] and answer["contact"]["email"]) == (None if problem else email)


async def test_a_new_contact_is_stamped_with_the_requests_time_and_a_name_of_at_most_100(gql, org, clock):
    account = await account_gid(org, await create(gql))
    clock.advance(hours=3)  # the request's clock, not the database's or the machine's
    refused = await create_contact(gql, accountId=account, name="n" * 101)
    assert (refused["contact"], errors(refused)) == (None, [(["name"], "VALIDATION", "name is longer than 100 characters")])
    made = (await create_contact(gql, accountId=account, name="n" * 100))["contact"]
    row = await contact_row(org, made["id"])
    assert (row.name, row.version, row.created_at, row.updated_at) == ("n" * 100, 1, clock.now, clock.now)


async def test_email_of_another_contact_is_a_duplicate(gql, org):
    ann, bob = await ann_and_bob(gql, org)
    answer = await update(gql, id=bob["id"], version=1, email=" ANN@example.com ")
    assert answer["contact"] is None
    assert errors(answer) == [(["email"], "DUPLICATE", "The contact Ann already has this email address")]
    row = await contact_row(org, bob["id"])
    assert (row.email, row.email_key, row.version) == ("Bob@Example.com", "bob@example.com", 1)


async def test_new_email_changes_its_key(gql, org):
    _, bob = await ann_and_bob(gql, org)
    answer = await update(gql, id=bob["id"], version=1, email="Robert@Example.org")
    assert answer["userErrors"] == [] and answer["contact"]["email"] == "Robert@Example.org"
    row = await contact_row(org, bob["id"])
    assert (row.email, row.email_key, row.phone_key, row.version) == ("Robert@Example.org", "robert@example.org", None, 2)


async def test_other_changes_keep_the_keys(gql, org):
    _, bob = await ann_and_bob(gql, org)
    answer = await update(gql, id=bob["id"], version=1, title="Buyer")
    assert answer["userErrors"] == [] and answer["contact"]["version"] == 2
    row = await contact_row(org, bob["id"])
    assert (row.title, row.phone, row.phone_key, row.email_key) == ("Buyer", None, None, "bob@example.com")


async def test_a_malformed_id_is_not_found_at_its_field(gql, org):
    assert errors(await update(gql, id="nope", version=1, title="Buyer")) == [(["id"], "NOT_FOUND", "No Contact with id 'nope'")]


async def test_a_restricted_member_edits_only_contacts_of_customers_they_see(gql, org):
    await gql.ok(OWN, as_="sales_admin")
    mine = await account_gid(org, await create(gql, accountName="Mine Ltd"))
    theirs = await account_gid(org, await create(gql, as_="marketing_member", accountName="Theirs Ltd"))
    ann = (await create_contact(gql, accountId=mine, name="Ann"))["contact"]
    bob = (await create_contact(gql, as_="marketing_member", accountId=theirs, name="Bob"))["contact"]
    done = await update(gql, id=ann["id"], version=1, title="Buyer")
    assert done["userErrors"] == [] and (done["contact"]["title"], done["contact"]["version"]) == ("Buyer", 2)
    assert errors(await update(gql, id=bob["id"], version=1, title="Buyer")) == [
        (["id"], "NOT_FOUND", f"No contact with id {bob['id']!r}")]
    row = await contact_row(org, bob["id"])
    assert (row.title, row.version) == (None, 1)


async def test_a_customers_contacts_come_oldest_first_after_an_edit(gql, org):
    """On PostgreSQL the edited contact's row (a new email: a new index entry too) now lies
    behind the other: the id orders them."""
    account = await account_gid(org, await create(gql))
    ann = (await create_contact(gql, accountId=account, name="Ann", email="ann@example.com"))["contact"]
    await create_contact(gql, accountId=account, name="Bob")
    assert (await update(gql, id=ann["id"], version=1, email="annie@example.com"))["userErrors"] == []
    assert (await gql.ok(ACCOUNT_CONTACTS, {"id": account}))["account"]["contacts"] == [{"name": "Ann"}, {"name": "Bob"}]


# ------------------------------------------------------------------ contacts on cards


async def test_a_contact_on_two_cards_is_linked_and_unlinked_per_card(gql, org, clock):
    first = await create(gql, accountName="Initech")
    second = await create(gql, title="Second", accountName="Initech")
    ann = (await create_contact(gql, accountId=await account_gid(org, first), name="Ann"))["contact"]
    await gql.ok(LINK, {"input": {"opportunityId": first["id"], "contactId": ann["id"], "role": "USER"}})
    clock.advance(hours=2)
    linked = (await gql.ok(LINK, {"input": {"opportunityId": second["id"], "contactId": ann["id"], "role": "USER"}}))["linkContact"]
    assert linked["userErrors"] == [] and linked["opportunity"]["contacts"] == [{"role": "USER", "contact": {"name": "Ann"}}]
    assert await links(org) == [(pk(first["id"]), pk(ann["id"]), "USER"), (pk(second["id"]), pk(ann["id"]), "USER")]
    async with org.db.read() as s:
        made = await s.scalar(select(m.OpportunityContact.created_at).where(m.OpportunityContact.opportunity_id == pk(second["id"])))
    assert made == clock.now
    event = (await events_of(org, "CONTACT_LINKED"))[-1]
    assert (event.opportunity_id, event.changes, event.department_keys) == (
        pk(second["id"]), {"contact": [None, "Ann"], "role": [None, "USER"]}, ["sales"])

    gone = (await gql.ok(UNLINK, {"input": {"opportunityId": second["id"], "contactId": ann["id"]}}))["unlinkContact"]
    assert gone["userErrors"] == [] and gone["opportunity"]["contacts"] == []
    assert await links(org) == [(pk(first["id"]), pk(ann["id"]), "USER")]
    [event] = await events_of(org, "CONTACT_UNLINKED")
    assert (event.opportunity_id, event.changes, event.department_keys) == (
        pk(second["id"]), {"contact": ["Ann", None], "role": ["USER", None]}, ["sales"])
    assert event.snapshot["title"] == "Second"

    again = (await gql.ok(UNLINK, {"input": {"opportunityId": second["id"], "contactId": ann["id"]}}))["unlinkContact"]
    assert errors(again) == [(["contactId"], "NOT_FOUND", "Ann is not on this deal")]
    assert await links(org) == [(pk(first["id"]), pk(ann["id"]), "USER")]


async def test_unlinking_an_unknown_contact_is_not_found(gql, org):
    card = await create(gql)
    ghost = to_global("Contact", 999999)
    before = await counts(org)
    answer = (await gql.ok(UNLINK, {"input": {"opportunityId": card["id"], "contactId": ghost}}))["unlinkContact"]
    assert errors(answer) == [(["contactId"], "NOT_FOUND", f"No contact with id {ghost!r}")]
    assert await counts(org) == before


async def upload(client, org, data: bytes) -> dict:
    operations = {"query": IMPORT, "variables": {"input": {"file": None}}}
    response = await client.post(
        "/graphql", data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": ("book.xlsx", data, "application/octet-stream")},
        headers={"authorization": f"Bearer {org.tokens['sales_admin']}"})
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["importOpportunities"]


async def test_import_counts_only_new_links_and_new_roles(client, org):
    deals = [["客户", "商机名称", "负责人"], ["华东制造有限公司", "智能工厂一期", org.users["sales_member"].email]]
    first = await upload(client, org, workbook({"商机": deals, "联系人": CONTACTS}))
    assert first == {"created": 1, "contactsCreated": 2, "contactsExisting": 0, "contactsLinked": 1, "userErrors": []}
    again = await upload(client, org, workbook({"商机": deals, "联系人": CONTACTS}))
    assert again == {"created": 0, "contactsCreated": 0, "contactsExisting": 2, "contactsLinked": 0, "userErrors": []}
    new_role = [CONTACTS[0], [*CONTACTS[1][:6], "把关人", CONTACTS[1][7]]]
    changed = await upload(client, org, workbook({"商机": deals, "联系人": new_role}))
    assert changed == {"created": 0, "contactsCreated": 0, "contactsExisting": 1, "contactsLinked": 1, "userErrors": []}
    assert [role for _, _, role in await links(org)] == ["GATEKEEPER"]


async def test_linking_an_unknown_contact_is_not_found(gql, org):
    card = await create(gql)
    ghost = to_global("Contact", 999999)
    answer = (await gql.ok(LINK, {"input": {"opportunityId": card["id"], "contactId": ghost, "role": "USER"}}))["linkContact"]
    assert errors(answer) == [(["contactId"], "NOT_FOUND", f"No contact with id {ghost!r}")]


async def test_a_card_lists_its_contacts_in_the_order_they_were_linked(gql, org):
    card = await create(gql)
    account = await account_gid(org, card)
    ann = (await create_contact(gql, accountId=account, name="Ann"))["contact"]
    bob = (await create_contact(gql, accountId=account, name="Bob"))["contact"]
    for contact, role in ((bob, "USER"), (ann, "GATEKEEPER")):
        await gql.ok(LINK, {"input": {"opportunityId": card["id"], "contactId": contact["id"], "role": role}})
    node = (await gql.ok(CARD, {"id": card["id"]}))["node"]
    assert node["contacts"] == [{"role": "USER", "contact": {"name": "Bob"}}, {"role": "GATEKEEPER", "contact": {"name": "Ann"}}]


async def test_a_card_lists_no_link_to_another_customers_contact(gql, org):
    """Such a link no write path makes (a card keeps its customer; a merge moves the deals and
    the contacts together): written here directly, it is not listed."""
    card = await create(gql, accountName="Initech")
    ann = (await create_contact(gql, accountId=await account_gid(org, card), name="Ann"))["contact"]
    zed = (await create_contact(gql, accountId=await account_gid(org, await create(gql, accountName="Globex")), name="Zed"))["contact"]
    async with org.db.write() as s:
        s.add(m.OpportunityContact(opportunity_id=pk(card["id"]), contact_id=pk(zed["id"]), role="USER"))
    await gql.ok(LINK, {"input": {"opportunityId": card["id"], "contactId": ann["id"], "role": "GATEKEEPER"}})
    assert (await gql.ok(CARD, {"id": card["id"]}))["node"]["contacts"] == [{"role": "GATEKEEPER", "contact": {"name": "Ann"}}]


# ------------------------------------------------------------------ follow-ups


async def log(gql, card, **fields) -> dict:
    data = {"opportunityId": card["id"], "kind": "CALL", "summary": "Call", **fields}
    return (await gql.ok(LOG, {"input": data}))["logFollowUp"]


def iso(when: datetime) -> str:
    return when.isoformat()


async def test_follow_up_times_must_be_between_2000_and_2100(gql, org):
    card = await create(gql)
    early = datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    assert errors(await log(gql, card, at=iso(early))) == [(["at"], "VALIDATION", "at must be between 2000 and 2100")]
    late = datetime(2100, 12, 31, 0, 0, 1, tzinfo=timezone.utc)
    assert errors(await log(gql, card, at=iso(datetime(2020, 1, 1, tzinfo=timezone.utc)), nextFollowUpAt=iso(late))) == [
        (["nextFollowUpAt"], "VALIDATION", "nextFollowUpAt must be between 2000 and 2100")]
    assert (await card_row(org, card["id"])).last_contact_at is None
    first, last = datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2100, 12, 31, tzinfo=timezone.utc)
    done = await log(gql, card, at=iso(first), nextFollowUpAt=iso(last))
    assert done["userErrors"] == [] and (done["followUp"]["at"], done["followUp"]["nextFollowUpAt"]) == (iso(first), iso(last))


async def test_follow_up_at_may_be_ten_minutes_ahead(gql, org, clock):
    card = await create(gql)
    ahead = await log(gql, card, at=iso(clock.now + timedelta(minutes=10, seconds=1)))
    assert errors(ahead) == [(["at"], "VALIDATION", "at must not be in the future")]
    assert (await log(gql, card, at=iso(clock.now - timedelta(minutes=5))))["userErrors"] == []
    done = await log(gql, card, at=iso(clock.now + timedelta(minutes=10)))
    assert done["userErrors"] == [] and done["followUp"]["opportunity"]["lastContactAt"] == iso(clock.now + timedelta(minutes=10))


async def test_follow_up_plan_must_be_after_at(gql, org, clock):
    card = await create(gql)
    at = clock.now - timedelta(hours=1)
    assert errors(await log(gql, card, at=iso(at), nextFollowUpAt=iso(at))) == [
        (["nextFollowUpAt"], "VALIDATION", "nextFollowUpAt must be after at")]
    done = await log(gql, card, at=iso(at), nextFollowUpAt=iso(at + timedelta(seconds=1)))
    assert done["userErrors"] == []


async def test_follow_up_text_lengths(gql, org, clock):
    card = await create(gql)
    at = iso(clock.now)
    assert errors(await log(gql, card, at=at, summary="s" * 5001)) == [(["summary"], "VALIDATION", "summary is longer than 5000 characters")]
    assert errors(await log(gql, card, at=at, outcome="o" * 1001)) == [(["outcome"], "VALIDATION", "outcome is longer than 1000 characters")]
    assert errors(await log(gql, card, at=at, nextStep="n" * 501)) == [(["nextStep"], "VALIDATION", "nextStep is longer than 500 characters")]
    before = await counts(org)
    done = await log(gql, card, at=at, summary="s" * 5000, outcome="o" * 1000, nextStep="n" * 500)
    assert done["userErrors"] == [] and await counts(org) == (before[0], before[1] + 1, before[2] + 1, before[3])


async def test_follow_up_with_an_unknown_contact_is_not_found(gql, org, clock):
    card = await create(gql)
    ghost = to_global("Contact", 999999)
    assert errors(await log(gql, card, at=iso(clock.now), contactId=ghost)) == [(["contactId"], "NOT_FOUND", f"No contact with id {ghost!r}")]


async def test_a_follow_up_at_the_same_time_as_the_last_contact_takes_its_place(gql, org, clock):
    card = await create(gql)
    at = clock.now - timedelta(hours=1)
    await log(gql, card, at=iso(at), nextFollowUpAt=iso(at + timedelta(days=1)))
    clock.advance(minutes=30)
    same = await log(gql, card, kind="VISIT", at=iso(at), nextFollowUpAt=iso(at + timedelta(days=2)))
    assert same["followUp"]["opportunity"] | {"version": None} == {
        "lastContactAt": iso(at), "lastContactKind": "VISIT", "nextFollowUpAt": iso(at + timedelta(days=2)), "version": None}
    event = (await events_of(org, "FOLLOW_UP_LOGGED"))[-1]
    assert event.changes == {"followUp": [None, same["followUp"]["id"]], "kind": [None, "VISIT"],
                             "nextFollowUpAt": [iso(at + timedelta(days=1)), iso(at + timedelta(days=2))]}
    async with org.db.read() as s:
        row = await s.get(m.FollowUp, pk(same["followUp"]["id"]))
    assert row.created_at == clock.now


# ------------------------------------------------------------------ two writers at once (PostgreSQL)


@pytest.mark.parametrize("field", ["phone", "email"])
async def test_the_unique_key_that_refused_a_racing_contact_names_its_field(gql, org, field):
    """What the API answers when the database, not the check before it, refuses a duplicate:
    each database names the refusing key's column in its error, on both."""
    account = pk(await account_gid(org, await create(gql)))
    key = {"phone": "13800138000", "email": "racer@example.com"}[field]
    async with org.db.read() as s:
        for name in ("First", "Second"):
            s.add(m.Contact(org_id=org.id, account_id=account, name=name, version=1, **{field: key, f"{field}_key": key}))
        with pytest.raises(IntegrityError) as refused:
            await s.flush()
    error = records._duplicate_race(refused.value)
    assert (error.code, error.field, error.params) == ("DUPLICATE", [field], {})
    assert error.message == "A contact with this phone number or email address was just added"



def postgres_only(backend):
    if backend == "sqlite":
        pytest.skip("SQLite runs one writer at a time: no two transactions overlap")


async def waiting_on_a_lock(org):
    async def blocked():
        async with org.db.read() as s:
            return await s.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))

    await wait_for(blocked)


async def behind_a_transaction(org, statements, request):
    """`request`'s answer when it runs while another transaction holds what `statements(session)`
    wrote: that transaction commits once the request waits on its lock."""
    async with org.db.sessionmaker() as held, held.begin():
        await statements(held)
        racing = asyncio.create_task(request)
        await waiting_on_a_lock(org)
    return await racing


async def test_a_phone_taken_while_creating_is_a_duplicate(gql, org, backend):
    postgres_only(backend)
    account = await account_gid(org, await create(gql))
    async def racer(held):
        held.add(m.Contact(org_id=org.id, account_id=pk(account), name="Racer", phone="13800138000", phone_key="13800138000"))
        await held.flush()

    answer = await behind_a_transaction(org, racer, create_contact(gql, accountId=account, name="Ann", phone="+86 138 0013 8000"))
    assert answer["contact"] is None
    assert errors(answer) == [(["phone"], "DUPLICATE", "A contact with this phone number or email address was just added")]
    async with org.db.read() as s:
        assert (await s.execute(select(m.Contact.name).where(m.Contact.org_id == org.id))).scalars().all() == ["Racer"]


async def test_an_email_taken_while_updating_is_a_duplicate(gql, org, backend):
    postgres_only(backend)
    _, bob = await ann_and_bob(gql, org)
    account_id = (await contact_row(org, bob["id"])).account_id

    async def racer(held):
        held.add(m.Contact(org_id=org.id, account_id=account_id, name="Racer", email="racer@example.com", email_key="racer@example.com"))
        await held.flush()

    answer = await behind_a_transaction(org, racer, update(gql, id=bob["id"], version=1, email="Racer@example.com"))
    assert answer["contact"] is None
    assert errors(answer) == [(["email"], "DUPLICATE", "A contact with this phone number or email address was just added")]
    row = await contact_row(org, bob["id"])
    assert (row.email, row.version) == ("Bob@Example.com", 1)


async def test_an_update_waits_for_a_concurrent_one_and_sees_its_version(gql, org, backend):
    postgres_only(backend)
    _, bob = await ann_and_bob(gql, org)
    async def concurrent_edit(held):
        await held.execute(text("UPDATE contacts SET version = 2, title = 'Held' WHERE id = :id"), {"id": pk(bob["id"])})

    answer = await behind_a_transaction(org, concurrent_edit, update(gql, id=bob["id"], version=1, title="Buyer"))
    assert answer["contact"] is None
    assert errors(answer) == [(["version"], "CONFLICT", "Someone else changed this contact (now version 2); reload and retry")]
    row = await contact_row(org, bob["id"])
    assert (row.title, row.version) == ("Held", 2)


async def test_linking_does_not_wait_for_an_edit_of_the_contact(gql, org, backend):
    """Only updateContact locks the contact's row: a link reads it as committed (the link's
    foreign key takes a KEY SHARE lock, which a title edit does not block)."""
    postgres_only(backend)
    card = await create(gql)
    ann = (await create_contact(gql, accountId=await account_gid(org, card), name="Ann"))["contact"]
    async with org.db.sessionmaker() as held, held.begin():
        await held.execute(text("UPDATE contacts SET title = 'Held' WHERE id = :id"), {"id": pk(ann["id"])})
        linked = (await asyncio.wait_for(
            gql.ok(LINK, {"input": {"opportunityId": card["id"], "contactId": ann["id"], "role": "USER"}}), timeout=10))["linkContact"]
        await held.rollback()
    assert linked["userErrors"] == [] and linked["opportunity"]["contacts"] == [{"role": "USER", "contact": {"name": "Ann"}}]
