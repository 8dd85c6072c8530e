"""The inbox: paging, unread counts, marking read (only one's own)."""
from tests.api.workflow_helpers import INBOX, MARK_READ, create, event_count, inbox

COMMENT = "mutation($input: AddCommentInput!) { addComment(input: $input) { userErrors { code } } }"


async def test_inbox_pages_counts_and_marks_read(gql, org):
    deal = await create(gql)
    for i in range(3):
        await gql.ok(COMMENT, {"input": {"opportunityId": deal["id"], "body": f"@finance_member note {i}"}})
    first = (await gql.ok(INBOX, {"first": 2}, as_="finance_member"))["notifications"]
    assert first["totalCount"] == 3 and first["unreadCount"] == 3 and first["pageInfo"]["hasNextPage"]
    assert [e["node"]["message"][-6:] for e in first["edges"]] == ["note 2", "note 1"]  # newest first
    rest = (await gql.ok(INBOX, {"first": 2, "after": first["pageInfo"]["endCursor"]}, as_="finance_member"))["notifications"]
    assert [e["node"]["message"][-6:] for e in rest["edges"]] == ["note 0"]

    before = await event_count(org)
    one = first["edges"][0]["node"]["id"]
    # Someone else cannot mark my notification read.
    assert (await gql.ok(MARK_READ, {"input": {"ids": [one]}}, as_="legal_member"))["markNotificationsRead"]["unreadCount"] == 0
    assert (await inbox(gql, "finance_member"))["unreadCount"] == 3
    marked = (await gql.ok(MARK_READ, {"input": {"ids": [one]}}, as_="finance_member"))["markNotificationsRead"]
    assert marked == {"unreadCount": 2, "userErrors": []}
    unread = await inbox(gql, "finance_member", unread=True)
    assert unread["totalCount"] == 2 and one not in [e["node"]["id"] for e in unread["edges"]]
    assert (await gql.ok(MARK_READ, {"input": {}}, as_="finance_member"))["markNotificationsRead"]["unreadCount"] == 0
    assert (await inbox(gql, "finance_member"))["edges"][0]["node"]["read"] is True
    assert await event_count(org) == before  # personal state, not a board change


async def test_bad_ids_are_user_errors(gql):
    result = (await gql.ok(MARK_READ, {"input": {"ids": ["nonsense"]}}))["markNotificationsRead"]
    assert result["userErrors"][0]["code"] == "NOT_FOUND"
