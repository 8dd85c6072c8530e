"""The admins' "view as" preview (`accessPreview`) answers what the user's own reads answer:
the same count, the same withheld fields, titles among theirs; members are refused."""
from resolvers.ids import to_global
from tests.api.test_access_rules import card, set_rule

PREVIEW = """query($id: ID!) { accessPreview(userId: $id) {
  user { id name } rule { role departmentKey scope hiddenFields } visibleCards totalCards hiddenFields sampleTitles } }"""
OWN_READ = "{ opportunities(first: 100) { totalCount edges { node { title hiddenFields amount probability } } } }"


async def preview(gql, org, who: str, as_="sales_admin") -> dict:
    return (await gql.ok(PREVIEW, {"id": to_global("User", org.users[who].id)}, as_=as_))["accessPreview"]


async def test_preview_equals_what_the_user_reads_under_a_department_rule(gql, org):
    for title, owner in [("Sales A", "sales_member"), ("Sales B", "sales_manager"), ("Legal A", "legal_member"),
                         ("Legal B", "legal_manager"), ("Finance A", "finance_member"), ("Marketing A", "marketing_member")]:
        await card(org, title, owner=owner)
    # Before any rule: everything, nothing hidden, no rule.
    before = await preview(gql, org, "legal_member")
    assert before["rule"] is None and before["hiddenFields"] == []
    assert before["visibleCards"] == before["totalCards"] == 6

    await set_rule(gql, role="MEMBER", scope="OWN")
    await set_rule(gql, role="MEMBER", departmentKey="legal", scope="DEPARTMENT", hiddenFields=["probability", "amount"])
    seen = await preview(gql, org, "legal_member")
    own = (await gql.ok(OWN_READ, as_="legal_member"))["opportunities"]
    assert seen["user"]["name"] == org.users["legal_member"].name
    assert seen["rule"] == {"role": "MEMBER", "departmentKey": "legal", "scope": "DEPARTMENT", "hiddenFields": ["amount", "probability"]}
    assert seen["totalCards"] == 6
    assert seen["visibleCards"] == own["totalCount"] == 2
    titles = sorted(e["node"]["title"] for e in own["edges"])
    assert titles == ["Legal A", "Legal B"] and sorted(seen["sampleTitles"]) == titles
    assert seen["hiddenFields"] == ["amount", "probability"]
    assert all(e["node"]["hiddenFields"] == seen["hiddenFields"] and e["node"]["amount"] is None for e in own["edges"])

    # Another member falls under the general rule: OWN (plus their department's cards it holds).
    other = await preview(gql, org, "finance_member")
    own = (await gql.ok(OWN_READ, as_="finance_member"))["opportunities"]
    assert other["rule"]["departmentKey"] is None and other["rule"]["scope"] == "OWN"
    assert other["visibleCards"] == own["totalCount"] and other["hiddenFields"] == []
    # Managers have no rule; admins always see everything.
    assert (await preview(gql, org, "legal_manager"))["visibleCards"] == 6
    admin = await preview(gql, org, "sales_admin")
    assert admin["rule"] is None and admin["visibleCards"] == 6 and len(admin["sampleTitles"]) == 5


async def test_members_and_unknown_users_are_refused(gql, org):
    body = await gql(PREVIEW, {"id": to_global("User", org.users["legal_member"].id)}, as_="sales_member")
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(PREVIEW, {"id": to_global("User", 987654321)}, as_="sales_admin")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # A department token (not an admin) is refused too.
    token = await org.department_token("sales_admin", "sales")
    body = await gql(PREVIEW, {"id": to_global("User", org.users["legal_member"].id)}, token=token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
