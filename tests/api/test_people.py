"""People through the API (issue 24): invitations, users, deactivation, passwords,
departments; who may do what, single-use expiring links, and the configuration log."""
import asyncio
from datetime import datetime, timedelta, timezone

import httpx
from sqlalchemy import select, update

from api.app import create_app
from api.live.codes import TOKEN_REVOKED
from api.settings import Settings
from db import models as m
from resolvers.auth import issue_token, token_hash
from resolvers.ids import to_global
from tests.api.channel_receivers import smtp  # noqa: F401 - fixture
from tests.api.workflow_helpers import create
from tests.conftest import GQL, PASSWORD
from tests.realtime.wsclient import BOARD_EVENTS, open_socket

ERRS = "userErrors { code field message }"
USER = "user { id name email role active deactivatedAt department { key } }"
INVITE = """mutation($input: InviteUserInput!) { inviteUser(input: $input) {
  invite { id email name role status department { key } invitedBy { handle } } link emailed %s } }""" % ERRS
REVOKE_INVITE = "mutation($id: ID!) { revokeInvite(input: {id: $id}) { invite { id status } link emailed %s } }" % ERRS
ACCEPT = "mutation($input: AcceptInviteInput!) { acceptInvite(input: $input) { token %s %s } }" % (USER, ERRS)
INVITES = "query($status: InviteStatus) { invites(status: $status) { email status department { key } } }"
LINK_INFO = "query($token: String!) { linkInfo(token: $token) { kind email name organizationName expiresAt } }"
CREATE_USER = "mutation($input: CreateUserInput!) { createUser(input: $input) { %s %s } }" % (USER, ERRS)
UPDATE_USER = "mutation($input: UpdateUserInput!) { updateUser(input: $input) { %s %s } }" % (USER, ERRS)
DEACTIVATE = "mutation($id: ID!) { deactivateUser(input: {id: $id}) { %s %s } }" % (USER, ERRS)
REACTIVATE = "mutation($id: ID!) { reactivateUser(input: {id: $id}) { %s %s } }" % (USER, ERRS)
CHANGE_PASSWORD = "mutation($input: ChangeMyPasswordInput!) { changeMyPassword(input: $input) { changed %s } }" % ERRS
CREATE_RESET = "mutation($id: ID!) { createPasswordReset(input: {id: $id}) { link expiresAt %s } }" % ERRS
RESET = "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { token user { email } %s } }" % ERRS
PROFILE = "mutation($input: UpdateMyProfileInput!) { updateMyProfile(input: $input) { user { name } %s } }" % ERRS
DEPT = "department { id key name archived managers { handle } }"
CREATE_DEPT = "mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { %s %s } }" % (DEPT, ERRS)
UPDATE_DEPT = "mutation($input: UpdateDepartmentInput!) { updateDepartment(input: $input) { %s %s } }" % (DEPT, ERRS)
ARCHIVE_DEPT = "mutation($id: ID!) { archiveDepartment(input: {id: $id}) { %s %s } }" % (DEPT, ERRS)
RESTORE_DEPT = "mutation($id: ID!) { restoreDepartment(input: {id: $id}) { %s %s } }" % (DEPT, ERRS)
LOGIN = "mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password}) { token %s } }" % ERRS
VIEWER = "{ viewer { email name } }"
CONFIG_LOG = "{ events(first: 100, types: [CONFIGURATION_CHANGED]) { edges { node { type changes actor { handle } } } } }"


def gid(user) -> str:
    return to_global("User", user.id)


def codes(errors) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in errors]


async def config_log(gql) -> list[dict]:
    edges = (await gql.ok(CONFIG_LOG, as_="sales_admin"))["events"]["edges"]
    return [e["node"]["changes"] for e in edges]


async def signed_in(gql, token) -> bool:
    body = await gql(VIEWER, token=token)
    if "errors" in body:
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
        return False
    return True


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


async def invite(gql, as_="sales_admin", **fields) -> dict:
    data = {"email": "new.person@example.test", "name": "New Person", "departmentKey": "legal", **fields}
    return (await gql.ok(INVITE, {"input": data}, as_=as_))["inviteUser"]


# ------------------------------------------------------------------ invitations


async def test_invite_accept_sign_in_and_single_use(gql, org):
    made = await invite(gql, email="Ana.Lima@Example.test", role="MANAGER")
    assert made["userErrors"] == [] and made["emailed"] is False
    assert made["invite"]["email"] == "ana.lima@example.test" and made["invite"]["status"] == "PENDING"
    assert made["invite"]["role"] == "MANAGER" and made["invite"]["department"] == {"key": "legal"}
    assert made["invite"]["invitedBy"] == {"handle": "sales_admin"}
    assert made["link"].startswith("/#/join/")  # no BATON_BASE_URL: relative
    token = token_of(made["link"])
    assert len(token) >= 43
    async with org.db.read() as session:  # only the hash is kept
        row = (await session.execute(select(m.OneTimeLink).where(m.OneTimeLink.token_hash == token_hash(token)))).scalar_one()
        assert token not in (row.email, row.name, row.token_hash)

    info = (await gql.ok(LINK_INFO, {"token": token}, as_=None))["linkInfo"]
    assert info["kind"] == "INVITE" and info["email"] == "ana.lima@example.test" and info["name"] == "New Person"
    assert info["organizationName"].startswith("Org ")
    assert [i["email"] for i in (await gql.ok(INVITES, {"status": "PENDING"}, as_="sales_admin"))["invites"]] == ["ana.lima@example.test"]

    short = (await gql.ok(ACCEPT, {"input": {"token": token, "name": " ", "password": "short"}}, as_=None))["acceptInvite"]
    assert short["token"] is None and codes(short["userErrors"]) == [("VALIDATION", ["name"]), ("VALIDATION", ["password"])]
    accepted = (await gql.ok(ACCEPT, {"input": {"token": token, "name": "Ana Lima", "password": "long enough", "locale": "zh-CN"}},
                             as_=None))["acceptInvite"]
    assert accepted["userErrors"] == []
    assert accepted["user"] == {"id": accepted["user"]["id"], "name": "Ana Lima", "email": "ana.lima@example.test", "role": "MANAGER",
                                "active": True, "deactivatedAt": None, "department": {"key": "legal"}}
    assert (await gql.ok(VIEWER, token=accepted["token"]))["viewer"]["email"] == "ana.lima@example.test"
    login = (await gql.ok(LOGIN, {"email": "ana.lima@example.test", "password": "long enough"}, as_=None))["login"]
    assert login["token"] and login["userErrors"] == []

    again = (await gql.ok(ACCEPT, {"input": {"token": token, "name": "Eve", "password": "long enough"}}, as_=None))["acceptInvite"]
    assert again["token"] is None and again["userErrors"] == [
        {"code": "VALIDATION", "field": ["token"], "message": "This link has already been used"}]
    assert (await gql.ok(LINK_INFO, {"token": token}, as_=None))["linkInfo"] is None
    assert [i["status"] for i in (await gql.ok(INVITES, as_="sales_admin"))["invites"]] == ["ACCEPTED"]
    assert await config_log(gql) == [
        {"subject": [None, "invite"], "target": [None, made["invite"]["id"]], "action": [None, "created"],
         "email": [None, "ana.lima@example.test"], "name": [None, "New Person"], "department": [None, "legal"], "role": [None, "MANAGER"]},
        {"subject": [None, "invite"], "target": [None, made["invite"]["id"]], "action": [None, "accepted"],
         "status": ["PENDING", "ACCEPTED"], "user": [None, accepted["user"]["id"]], "email": [None, "ana.lima@example.test"]},
    ]


async def test_invite_refusals_and_manager_scope(gql, org):
    assert codes((await invite(gql, as_="sales_member"))["userErrors"]) == [("FORBIDDEN", None)]
    assert codes((await invite(gql, as_="sales_viewer"))["userErrors"]) == [("FORBIDDEN", None)]
    bad = await invite(gql, email="not-an-email", departmentKey="hr", name="\x01")
    assert bad["invite"] is None and bad["link"] is None
    assert codes(bad["userErrors"]) == [("VALIDATION", ["email"]), ("VALIDATION", ["name"]), ("NOT_FOUND", ["departmentKey"])]
    dup = await invite(gql, email=org.users["legal_member"].email.upper())
    assert codes(dup["userErrors"]) == [("DUPLICATE", ["email"])]
    # A manager invites into their own department, as MEMBER or VIEWER only.
    own = await invite(gql, as_="legal_manager", email="clerk@example.test", role="VIEWER")
    assert own["userErrors"] == [] and own["invite"]["role"] == "VIEWER"
    assert codes((await invite(gql, as_="legal_manager", departmentKey="sales"))["userErrors"]) == [("FORBIDDEN", ["departmentKey"])]
    assert codes((await invite(gql, as_="legal_manager", role="ADMIN"))["userErrors"]) == [("FORBIDDEN", ["role"])]
    assert [i["email"] for i in (await gql.ok(INVITES, as_="legal_manager"))["invites"]] == ["clerk@example.test"]
    denied = await gql(INVITES, as_="sales_member")
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Refusals write nothing and log nothing.
    assert [c["action"] for c in await config_log(gql)] == [[None, "created"]]


async def test_revoked_expired_and_unknown_links(gql, org, clock):
    first = await invite(gql, email="a@example.test")
    assert codes((await gql.ok(REVOKE_INVITE, {"id": first["invite"]["id"]}, as_="sales_member"))["revokeInvite"]["userErrors"]) == [("FORBIDDEN", None)]
    revoked = (await gql.ok(REVOKE_INVITE, {"id": first["invite"]["id"]}, as_="sales_admin"))["revokeInvite"]
    assert revoked["userErrors"] == [] and revoked["invite"]["status"] == "REVOKED" and revoked["link"] is None
    twice = (await gql.ok(REVOKE_INVITE, {"id": first["invite"]["id"]}, as_="sales_admin"))["revokeInvite"]
    assert codes(twice["userErrors"]) == [("VALIDATION", ["id"])]
    body = {"name": "A", "password": "long enough"}
    refused = (await gql.ok(ACCEPT, {"input": {"token": token_of(first["link"]), **body}}, as_=None))["acceptInvite"]
    assert codes(refused["userErrors"]) == [("VALIDATION", ["token"])] and "revoked" in refused["userErrors"][0]["message"]

    second = await invite(gql, email="b@example.test")
    async with org.db.write() as session:
        await session.execute(update(m.OneTimeLink).where(m.OneTimeLink.token_hash == token_hash(token_of(second["link"])))
                              .values(expires_at=clock.now - timedelta(seconds=1)))
    expired = (await gql.ok(ACCEPT, {"input": {"token": token_of(second["link"]), **body}}, as_=None))["acceptInvite"]
    assert expired["userErrors"] == [{"code": "VALIDATION", "field": ["token"], "message": "This link has expired; ask for a new one"}]
    assert (await gql.ok(LINK_INFO, {"token": token_of(second["link"])}, as_=None))["linkInfo"] is None
    assert [i["email"] for i in (await gql.ok(INVITES, {"status": "EXPIRED"}, as_="sales_admin"))["invites"]] == ["b@example.test"]
    assert [i["email"] for i in (await gql.ok(INVITES, {"status": "REVOKED"}, as_="sales_admin"))["invites"]] == ["a@example.test"]

    unknown = (await gql.ok(ACCEPT, {"input": {"token": "no-such-token", **body}}, as_=None))["acceptInvite"]
    assert codes(unknown["userErrors"]) == [("NOT_FOUND", ["token"])]
    assert (await gql.ok(LINK_INFO, {"token": "no-such-token"}, as_=None))["linkInfo"] is None
    # A newer invitation of the same email replaces the pending one.
    third, fourth = await invite(gql, email="c@example.test"), await invite(gql, email="C@example.test")
    assert (await gql.ok(LINK_INFO, {"token": token_of(third["link"])}, as_=None))["linkInfo"] is None
    assert (await gql.ok(LINK_INFO, {"token": token_of(fourth["link"])}, as_=None))["linkInfo"]["email"] == "c@example.test"


async def test_concurrent_accepts_of_one_invitation_make_one_user(gql, org):
    made = await invite(gql, email="race@example.test")
    token = token_of(made["link"])
    results = await asyncio.gather(*(
        gql.ok(ACCEPT, {"input": {"token": token, "name": f"Racer {i}", "password": "long enough"}}, as_=None) for i in range(3)))
    won = [r["acceptInvite"] for r in results if r["acceptInvite"]["token"]]
    lost = [r["acceptInvite"] for r in results if not r["acceptInvite"]["token"]]
    assert len(won) == 1 and [codes(r["userErrors"]) for r in lost] == [[("VALIDATION", ["token"])]] * 2
    async with org.db.read() as session:
        assert len((await session.execute(select(m.User).where(m.User.email == "race@example.test"))).scalars().all()) == 1


async def test_concurrent_creations_of_one_address_make_one_user(gql, org):
    """Both pass the address check before either writes: the loser answers DUPLICATE, not an internal error."""
    data = {"email": "twice@example.test", "name": "Twice", "departmentKey": "legal", "password": "long enough"}
    results = await asyncio.gather(*(gql.ok(CREATE_USER, {"input": data}, as_="sales_admin") for _ in range(3)))
    made = [r["createUser"] for r in results if r["createUser"]["user"]]
    refused = [codes(r["createUser"]["userErrors"]) for r in results if not r["createUser"]["user"]]
    assert len(made) == 1 and refused == [[("DUPLICATE", ["email"])]] * 2
    async with org.db.read() as session:
        assert len((await session.execute(select(m.User).where(m.User.email == "twice@example.test"))).scalars().all()) == 1


async def test_invitation_is_emailed_when_smtp_is_configured(database_url, clock, org, smtp):
    from tests.api.channel_receivers import SMTP_PASSWORD, SMTP_USER

    settings = Settings(database_url=database_url, broadcast_url="memory://", base_url="https://baton.example/",
                        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False, smtp_username=SMTP_USER,
                        smtp_password=SMTP_PASSWORD, smtp_from="Baton <baton@baton.example>")
    app = create_app(settings, migrate=False, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://baton.test") as client:
            made = await invite(GQL(client, org), email="mail.me@example.test")
    assert made["userErrors"] == [] and made["emailed"] is True
    assert made["link"].startswith("https://baton.example/#/join/")
    [(_, recipients, mail)] = smtp.messages
    assert recipients == ["mail.me@example.test"]
    assert "invited you to" in mail["Subject"] and made["link"] in mail.get_content()


# ------------------------------------------------------------------ users


async def test_create_and_update_users(gql, org):
    made = (await gql.ok(CREATE_USER, {"input": {"email": "Kim@Example.test", "name": "Kim", "departmentKey": "finance",
                                                  "password": "long enough"}}, as_="sales_admin"))["createUser"]
    assert made["userErrors"] == [] and made["user"]["email"] == "kim@example.test" and made["user"]["role"] == "MEMBER"
    assert (await gql.ok(LOGIN, {"email": "kim@example.test", "password": "long enough"}, as_=None))["login"]["token"]
    assert codes((await gql.ok(CREATE_USER, {"input": {"email": "x@example.test", "name": "X", "departmentKey": "sales"}},
                               as_="sales_manager"))["createUser"]["userErrors"]) == [("FORBIDDEN", None)]
    bad = (await gql.ok(CREATE_USER, {"input": {"email": "kim@example.test", "name": "", "departmentKey": "nope", "password": "short"}},
                        as_="sales_admin"))["createUser"]
    assert codes(bad["userErrors"]) == [("DUPLICATE", ["email"]), ("VALIDATION", ["name"]), ("NOT_FOUND", ["departmentKey"]),
                                        ("VALIDATION", ["password"])]

    kim = made["user"]["id"]
    moved = (await gql.ok(UPDATE_USER, {"input": {"id": kim, "name": "Kim Park", "departmentKey": "legal", "role": "MANAGER"}},
                          as_="sales_admin"))["updateUser"]
    assert moved["userErrors"] == [] and moved["user"]["department"] == {"key": "legal"} and moved["user"]["role"] == "MANAGER"
    assert (await config_log(gql))[-2:] == [
        {"subject": [None, "user"], "target": [None, kim], "action": [None, "created"], "name": [None, "Kim"],
         "email": [None, "kim@example.test"], "department": [None, "finance"], "role": [None, "MEMBER"]},
        {"subject": [None, "user"], "target": [None, kim], "action": [None, "updated"], "name": ["Kim", "Kim Park"],
         "department": ["finance", "legal"], "role": ["MEMBER", "MANAGER"]},
    ]
    dup = (await gql.ok(UPDATE_USER, {"input": {"id": kim, "email": org.users["sales_member"].email}}, as_="sales_admin"))["updateUser"]
    assert codes(dup["userErrors"]) == [("DUPLICATE", ["email"])]
    own_role = (await gql.ok(UPDATE_USER, {"input": {"id": gid(org.users["sales_admin"]), "role": "MEMBER"}}, as_="sales_admin"))["updateUser"]
    assert codes(own_role["userErrors"]) == [("VALIDATION", ["role"])]
    unknown = (await gql.ok(UPDATE_USER, {"input": {"id": to_global("User", 10**9), "name": "X"}}, as_="sales_admin"))["updateUser"]
    assert codes(unknown["userErrors"]) == [("NOT_FOUND", ["id"])]


async def test_a_manager_edits_only_their_departments_members(gql, org):
    member, other = gid(org.users["legal_member"]), gid(org.users["sales_member"])
    ok = (await gql.ok(UPDATE_USER, {"input": {"id": member, "name": "Legal Person", "role": "VIEWER"}}, as_="legal_manager"))["updateUser"]
    assert ok["userErrors"] == [] and ok["user"]["role"] == "VIEWER"
    for data, expected in (
        ({"id": other, "name": "X"}, [("FORBIDDEN", ["id"])]),
        ({"id": member, "role": "MANAGER"}, [("FORBIDDEN", ["role"])]),
        ({"id": member, "departmentKey": "sales"}, [("FORBIDDEN", ["departmentKey"])]),
        ({"id": gid(org.users["sales_admin"]), "name": "X"}, [("FORBIDDEN", ["id"])]),
    ):
        refused = (await gql.ok(UPDATE_USER, {"input": data}, as_="legal_manager"))["updateUser"]
        assert codes(refused["userErrors"]) == expected, data
    assert codes((await gql.ok(UPDATE_USER, {"input": {"id": member, "name": "X"}}, as_="sales_member"))["updateUser"]["userErrors"]) == [
        ("FORBIDDEN", None)]


async def test_deactivated_users_cannot_sign_in_and_their_tokens_stop(gql, org):
    member = org.users["sales_member"]
    async with org.db.write() as session:
        api, _ = await issue_token(session, member, kind="api", now=datetime.now(timezone.utc), name="tool", scope="read")
    assert await signed_in(gql, api)
    assert codes((await gql.ok(DEACTIVATE, {"id": gid(member)}, as_="sales_manager"))["deactivateUser"]["userErrors"]) == [("FORBIDDEN", None)]
    own = (await gql.ok(DEACTIVATE, {"id": gid(org.users["sales_admin"])}, as_="sales_admin"))["deactivateUser"]
    assert own["userErrors"] == [{"code": "VALIDATION", "field": ["id"], "message": "You cannot deactivate yourself"}]

    done = (await gql.ok(DEACTIVATE, {"id": gid(member)}, as_="sales_admin"))["deactivateUser"]
    assert done["userErrors"] == [] and done["user"]["active"] is False and done["user"]["deactivatedAt"]
    assert not await signed_in(gql, org.tokens["sales_member"])  # the session was revoked
    assert not await signed_in(gql, api)  # the API token signs nobody in
    refused = (await gql.ok(LOGIN, {"email": member.email, "password": PASSWORD}, as_=None))["login"]
    assert refused["token"] is None and codes(refused["userErrors"]) == [("VALIDATION", ["email"])]
    listed = "query($all: Boolean) { users(includeInactive: $all) { handle active } }"
    assert "sales_member" not in [u["handle"] for u in (await gql.ok(listed, as_="sales_admin"))["users"]]
    assert {"handle": "sales_member", "active": False} in (await gql.ok(listed, {"all": True}, as_="sales_admin"))["users"]
    paged = "query($all: Boolean) { usersConnection(first: 100, includeInactive: $all) { edges { node { handle } } } }"
    handles = lambda data: [e["node"]["handle"] for e in data["usersConnection"]["edges"]]  # noqa: E731
    assert "sales_member" not in handles(await gql.ok(paged, as_="sales_admin"))
    assert "sales_member" in handles(await gql.ok(paged, {"all": True}, as_="sales_admin"))
    async with org.db.read() as session:
        revoked = (await session.execute(select(m.ApiToken.revoked_at).where(m.ApiToken.user_id == member.id, m.ApiToken.kind == "session"))).scalars().all()
    assert revoked and all(revoked)

    back = (await gql.ok(REACTIVATE, {"id": gid(member)}, as_="sales_admin"))["reactivateUser"]
    assert back["userErrors"] == [] and back["user"]["active"] is True and back["user"]["deactivatedAt"] is None
    assert await signed_in(gql, api)  # API tokens work again; sessions stay revoked
    assert not await signed_in(gql, org.tokens["sales_member"])
    assert (await gql.ok(LOGIN, {"email": member.email, "password": PASSWORD}, as_=None))["login"]["token"]
    assert [c for c in await config_log(gql)] == [
        {"subject": [None, "user"], "target": [None, gid(member)], "action": [None, "deactivated"], "active": [True, False]},
        {"subject": [None, "user"], "target": [None, gid(member)], "action": [None, "reactivated"], "active": [False, True]},
    ]


async def test_a_deactivated_user_is_given_no_new_work(gql, org):
    member = org.users["sales_member"]
    assert (await gql.ok(DEACTIVATE, {"id": gid(member)}, as_="sales_admin"))["deactivateUser"]["userErrors"] == []
    refused = {"code": "VALIDATION", "field": ["ownerId"], "message": f"{member.name} is deactivated; reactivate them first"}
    new_card = "mutation($input: CreateOpportunityInput!) { createOpportunity(input: $input) { opportunity { id } %s } }" % ERRS
    made = (await gql.ok(new_card, {"input": {"title": "Fleet", "accountName": "Northwind", "ownerId": gid(member)}}, as_="sales_admin"))
    assert made["createOpportunity"] == {"opportunity": None, "userErrors": [refused]}
    card = await create(gql, as_="sales_admin")
    task = "mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } %s } }" % ERRS
    assigned = (await gql.ok(task, {"input": {"opportunityId": card["id"], "title": "Call", "assigneeId": gid(member)}}, as_="sales_admin"))
    assert assigned["createTask"] == {"task": None, "userErrors": [{**refused, "field": ["assigneeId"]}]}
    # Signing them out (nothing new given to them) still works.
    signed_out = "mutation($id: ID!) { revokeUserSessions(input: {userId: $id}) { revokedCount %s } }" % ERRS
    assert (await gql.ok(signed_out, {"id": gid(member)}, as_="sales_admin"))["revokeUserSessions"]["userErrors"] == []


async def test_the_last_active_admin_stays(gql, org):
    """Two admins deactivating each other at once: one wins, the other is refused (as the
    last active admin or, when the winner committed before its request signed in, as
    deactivated itself)."""
    second = (await gql.ok(UPDATE_USER, {"input": {"id": gid(org.users["legal_manager"]), "role": "ADMIN"}}, as_="sales_admin"))["updateUser"]
    assert second["userErrors"] == []
    first, other = gid(org.users["sales_admin"]), gid(org.users["legal_manager"])
    results = await asyncio.gather(gql(DEACTIVATE, {"id": other}, as_="sales_admin"),
                                   gql(DEACTIVATE, {"id": first}, as_="legal_manager"))
    signed_out = [r for r in results if r.get("errors")]
    answered = [r["data"]["deactivateUser"] for r in results if not r.get("errors")]
    assert [e["extensions"]["code"] for r in signed_out for e in r["errors"]] in ([], ["UNAUTHENTICATED"])
    outcomes = sorted(codes(r["userErrors"]) for r in answered)
    assert outcomes == ([[]] if signed_out else [[], [("VALIDATION", ["id"])]])
    if not signed_out:
        refused = next(r for r in answered if r["userErrors"])
        assert "last active admin" in refused["userErrors"][0]["message"]
    async with org.db.read() as session:
        admins = (await session.execute(select(m.User.id).where(m.User.org_id == org.id, m.User.role == "ADMIN",
                                                                m.User.deactivated_at.is_(None)))).scalars().all()
    assert len(admins) == 1


async def test_deactivation_closes_open_websockets(org, live_server):
    member = org.users["finance_member"]
    async with org.db.write() as session:
        api, _ = await issue_token(session, member, kind="api", now=datetime.now(timezone.utc), name="feed", scope="read")
    sockets = [await open_socket(live_server.ws, token) for token in (org.tokens["finance_member"], api)]
    for sock in sockets:
        await sock.subscribe(BOARD_EVENTS)
    async with httpx.AsyncClient(base_url=live_server.http, timeout=10) as client:
        done = await GQL(client, org).ok(DEACTIVATE, {"id": gid(member)}, as_="sales_admin")
    assert done["deactivateUser"]["userErrors"] == []
    for sock in sockets:
        assert await sock.closed_code(timeout=2.0) == TOKEN_REVOKED.code
    refused = await open_socket(live_server.ws, api, expect_ack=False)
    assert await refused.closed_code() is not None


# ------------------------------------------------------------------ passwords and profile


async def test_change_my_password_keeps_this_session_only(gql, org):
    member = org.users["sales_member"]
    other = (await gql.ok(LOGIN, {"email": member.email, "password": PASSWORD}, as_=None))["login"]["token"]
    wrong = (await gql.ok(CHANGE_PASSWORD, {"input": {"currentPassword": "nope", "newPassword": "short"}}))["changeMyPassword"]
    assert wrong["changed"] is False
    assert codes(wrong["userErrors"]) == [("VALIDATION", ["currentPassword"]), ("VALIDATION", ["newPassword"])]
    done = (await gql.ok(CHANGE_PASSWORD, {"input": {"currentPassword": PASSWORD, "newPassword": "a new secret"}}))["changeMyPassword"]
    assert done == {"changed": True, "userErrors": []}
    assert await signed_in(gql, org.tokens["sales_member"]) and not await signed_in(gql, other)
    assert (await gql.ok(LOGIN, {"email": member.email, "password": PASSWORD}, as_=None))["login"]["token"] is None
    assert (await gql.ok(LOGIN, {"email": member.email, "password": "a new secret"}, as_=None))["login"]["token"]
    # Recorded without any value.
    assert await config_log(gql) == [
        {"subject": [None, "user"], "target": [None, gid(member)], "action": [None, "passwordChanged"]}]


async def test_password_reset_link(gql, org, clock):
    member = org.users["sales_member"]
    assert codes((await gql.ok(CREATE_RESET, {"id": gid(member)}, as_="sales_manager"))["createPasswordReset"]["userErrors"]) == [("FORBIDDEN", None)]
    made = (await gql.ok(CREATE_RESET, {"id": gid(member)}, as_="sales_admin"))["createPasswordReset"]
    assert made["userErrors"] == [] and made["link"].startswith("/#/reset/")
    assert datetime.fromisoformat(made["expiresAt"]) == clock.now + timedelta(hours=24)
    token = token_of(made["link"])
    info = (await gql.ok(LINK_INFO, {"token": token}, as_=None))["linkInfo"]
    assert info["kind"] == "RESET" and info["email"] == member.email
    short = (await gql.ok(RESET, {"input": {"token": token, "newPassword": "short"}}, as_=None))["resetPassword"]
    assert codes(short["userErrors"]) == [("VALIDATION", ["newPassword"])]
    done = (await gql.ok(RESET, {"input": {"token": token, "newPassword": "reset secret"}}, as_=None))["resetPassword"]
    assert done["userErrors"] == [] and done["user"] == {"email": member.email}
    assert await signed_in(gql, done["token"]) and not await signed_in(gql, org.tokens["sales_member"])
    again = (await gql.ok(RESET, {"input": {"token": token, "newPassword": "reset secret"}}, as_=None))["resetPassword"]
    assert codes(again["userErrors"]) == [("VALIDATION", ["token"])]
    # A newer link revokes the older; an expired one fails.
    older = token_of((await gql.ok(CREATE_RESET, {"id": gid(member)}, as_="sales_admin"))["createPasswordReset"]["link"])
    newer = token_of((await gql.ok(CREATE_RESET, {"id": gid(member)}, as_="sales_admin"))["createPasswordReset"]["link"])
    assert (await gql.ok(LINK_INFO, {"token": older}, as_=None))["linkInfo"] is None
    assert [c["action"][1] for c in await config_log(gql)] == ["passwordResetCreated", "passwordReset", "passwordResetCreated",
                                                               "passwordResetCreated"]
    clock.advance(hours=25)
    expired = (await gql.ok(RESET, {"input": {"token": newer, "newPassword": "reset secret"}}, as_=None))["resetPassword"]
    assert expired["userErrors"] == [{"code": "VALIDATION", "field": ["token"], "message": "This link has expired; ask for a new one"}]


async def test_update_my_profile(gql, org):
    done = (await gql.ok(PROFILE, {"input": {"name": "  Sam Sales "}}))["updateMyProfile"]
    assert done == {"user": {"name": "Sam Sales"}, "userErrors": []}
    blank = (await gql.ok(PROFILE, {"input": {"name": " "}}))["updateMyProfile"]
    assert codes(blank["userErrors"]) == [("VALIDATION", ["name"])]
    assert await config_log(gql) == [{"subject": [None, "user"], "target": [None, gid(org.users["sales_member"])],
                                      "action": [None, "updated"], "name": ["Sales Member", "Sam Sales"]}]


# ------------------------------------------------------------------ departments


async def test_departments_create_rename_archive_restore(gql, org):
    assert codes((await gql.ok(CREATE_DEPT, {"input": {"key": "ops", "name": "Ops"}}, as_="sales_manager"))["createDepartment"]["userErrors"]) == [
        ("FORBIDDEN", None)]
    bad = (await gql.ok(CREATE_DEPT, {"input": {"key": "Sales", "name": ""}}, as_="sales_admin"))["createDepartment"]
    assert codes(bad["userErrors"]) == [("DUPLICATE", ["key"]), ("VALIDATION", ["name"])]
    assert codes((await gql.ok(CREATE_DEPT, {"input": {"key": "o p", "name": "Ops"}}, as_="sales_admin"))["createDepartment"]["userErrors"]) == [
        ("VALIDATION", ["key"])]
    made = (await gql.ok(CREATE_DEPT, {"input": {"key": "Ops", "name": "Operations"}}, as_="sales_admin"))["createDepartment"]
    assert made["userErrors"] == [] and made["department"]["key"] == "ops" and made["department"]["archived"] is False
    ops = made["department"]["id"]
    renamed = (await gql.ok(UPDATE_DEPT, {"input": {"id": ops, "name": "Ops team"}}, as_="sales_admin"))["updateDepartment"]
    assert renamed["department"]["name"] == "Ops team"

    # Refused while it has active members, and while it holds open cards.
    kim = (await gql.ok(CREATE_USER, {"input": {"email": "kim.ops@example.test", "name": "Kim", "departmentKey": "ops"}},
                        as_="sales_admin"))["createUser"]["user"]["id"]
    busy = (await gql.ok(ARCHIVE_DEPT, {"id": ops}, as_="sales_admin"))["archiveDepartment"]
    assert codes(busy["userErrors"]) == [("VALIDATION", ["id"])] and "1 active members" in busy["userErrors"][0]["message"]
    await gql.ok(DEACTIVATE, {"id": kim}, as_="sales_admin")
    card = await create(gql)
    async with org.db.write() as session:
        ops_id = await session.scalar(select(m.Department.id).where(m.Department.org_id == org.id, m.Department.key == "ops"))
        await session.execute(update(m.Opportunity).where(m.Opportunity.id == int(to_pk(card["id"]))).values(department_id=ops_id))
    holding = (await gql.ok(ARCHIVE_DEPT, {"id": ops}, as_="sales_admin"))["archiveDepartment"]
    assert codes(holding["userErrors"]) == [("VALIDATION", ["id"])] and "1 open cards" in holding["userErrors"][0]["message"]
    async with org.db.write() as session:
        lost = await session.scalar(select(m.Stage.id).join(m.Pipeline).where(m.Pipeline.org_id == org.id, m.Stage.key == "lost"))
        await session.execute(update(m.Opportunity).where(m.Opportunity.id == int(to_pk(card["id"]))).values(stage_id=lost))

    archived = (await gql.ok(ARCHIVE_DEPT, {"id": ops}, as_="sales_admin"))["archiveDepartment"]
    assert archived["userErrors"] == [] and archived["department"]["archived"] is True
    listed = "query($all: Boolean) { departments(includeArchived: $all) { key archived } }"
    assert "ops" not in [d["key"] for d in (await gql.ok(listed))["departments"]]
    assert {"key": "ops", "archived": True} in (await gql.ok(listed, {"all": True}))["departments"]
    assert codes((await invite(gql, departmentKey="ops"))["userErrors"]) == [("VALIDATION", ["departmentKey"])]
    moved = (await gql.ok(UPDATE_USER, {"input": {"id": gid(org.users["sales_member"]), "departmentKey": "ops"}}, as_="sales_admin"))["updateUser"]
    assert codes(moved["userErrors"]) == [("VALIDATION", ["departmentKey"])]
    restored = (await gql.ok(RESTORE_DEPT, {"id": ops}, as_="sales_admin"))["restoreDepartment"]
    assert restored["userErrors"] == [] and restored["department"]["archived"] is False

    department_changes = [c for c in await config_log(gql) if c["subject"] == [None, "department"]]
    assert department_changes == [
        {"subject": [None, "department"], "target": [None, ops], "action": [None, "created"], "key": [None, "ops"], "name": [None, "Operations"]},
        {"subject": [None, "department"], "target": [None, ops], "action": [None, "updated"], "name": ["Operations", "Ops team"]},
        {"subject": [None, "department"], "target": [None, ops], "action": [None, "archived"], "archived": [False, True]},
        {"subject": [None, "department"], "target": [None, ops], "action": [None, "restored"], "archived": [True, False]},
    ]


async def test_department_managers(gql, org):
    departments = {d["key"]: d for d in (await gql.ok("{ departments { key managers { handle } } }"))["departments"]}
    assert departments["sales"]["managers"] == [{"handle": "sales_manager"}]
    assert departments["legal"]["managers"] == [{"handle": "legal_manager"}]
    assert departments["finance"]["managers"] == []


def to_pk(global_id: str) -> int:
    from resolvers.ids import parse_global

    return parse_global(global_id)[1]
