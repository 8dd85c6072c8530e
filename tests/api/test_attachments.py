"""Files on deals: attachFile over the GraphQL multipart request spec, content sniffing and
refusals, the size limit, content-addressed storage, signed download links, who may
attach, see, download and remove, and stages that require a file to enter."""
import base64
import hashlib
import io
import json
import os
import zipfile
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select, update

from api.app import create_app
from api.demo import quote_pdf
from api.settings import Settings
from db import models as m
from db.files import LocalFileStore
from resolvers import attachments as rules
from resolvers.file_types import clean_name, sniff
from resolvers.ids import to_global
from resolvers.setup import create_organization
from tests.api.test_cli import baton
from tests.api.workflow_helpers import create, events, move, pk

LIMIT = 512 * 1024  # BATON_MAX_ATTACHMENT_MB=0.5 below, over twice the JSON body limit
PDF = quote_pdf("Harbor freight")
CHINESE = "报价单 v2.pdf"

ATTACH = """mutation($input: AttachFileInput!) { attachFile(input: $input) {
  attachment { id kind name contentType size sha256 createdAt downloadUrl uploadedBy { handle } }
  opportunity { id attachments { id name } }
  userErrors { code field message } } }"""
REMOVE = """mutation($input: RemoveAttachmentInput!) { removeAttachment(input: $input) {
  opportunity { id attachments { id } } userErrors { code field message } } }"""
CARD_FILES = """query($id: ID!) { node(id: $id) { ... on Opportunity { attachments { id kind name downloadUrl } } } }"""
NODE = """query($id: ID!) { node(id: $id) { __typename ... on Attachment { id name sha256 } } }"""
STAGES = "{ pipelines { stages { id key requiredFiles } } }"
UPDATE_STAGE = """mutation($input: UpdateStageInput!) { updateStage(input: $input) {
  stage { key requiredFiles } userErrors { code field message } } }"""
CREATE_STAGE = """mutation($input: CreateStageInput!) { createStage(input: $input) {
  stage { key requiredFiles } userErrors { code field message } } }"""
SET_RULE = """mutation($input: SetAccessRuleInput!) { setAccessRule(input: $input) { userErrors { code } } }"""


@pytest.fixture
def files_dir(tmp_path):
    return tmp_path / "files"


@pytest.fixture
async def app(database_url, clock, files_dir):
    """The app with its own file store, a 0.5 MB attachment limit and the JSON body limit
    (256 KiB) as the multipart limit: attachments up to their own limit must still pass."""
    settings = Settings(database_url=database_url, broadcast_url="memory://", files_dir=files_dir,
                        max_attachment_mb=0.5, max_upload_bytes=256 * 1024)
    application = create_app(settings, migrate=False, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


async def upload(client, org, opp_gid: str, data: bytes, name: str, *, kind="quote", as_="sales_member",
                 client_type="application/pdf", headers=None) -> dict:
    operations = {"query": ATTACH, "variables": {"input": {"opportunityId": opp_gid, "kind": kind, "file": None}}}
    response = await client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": (name, data, client_type)},
        headers={"authorization": f"Bearer {org.tokens[as_]}", **(headers or {})},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["attachFile"]


def stored(files_dir) -> list[str]:
    return sorted(p.name for p in files_dir.rglob("*") if p.is_file()) if files_dir.exists() else []


async def rows(org) -> list[m.Attachment]:
    async with org.db.read() as s:
        return list((await s.execute(select(m.Attachment).where(m.Attachment.org_id == org.id).order_by(m.Attachment.id))).scalars())


# ------------------------------------------------------------------ attaching


async def test_a_pdf_with_a_chinese_name_is_stored_sniffed_and_logged(client, gql, org, clock, files_dir):
    card = await create(gql)
    sha = hashlib.sha256(PDF).hexdigest()
    # The client's type and path are not believed: the bytes say PDF, the name loses its folders.
    done = await upload(client, org, card["id"], PDF, f"C:\\Users\\li\\{CHINESE}", client_type="application/x-msdownload")
    assert done["userErrors"] == []
    attachment = done["attachment"]
    assert {k: v for k, v in attachment.items() if k not in ("id", "createdAt", "downloadUrl")} == {
        "kind": "quote", "name": CHINESE, "contentType": "application/pdf", "size": len(PDF), "sha256": sha,
        "uploadedBy": {"handle": "sales_member"},
    }
    assert datetime.fromisoformat(attachment["createdAt"]) == clock.now
    assert done["opportunity"] == {"id": card["id"], "attachments": [{"id": attachment["id"], "name": CHINESE}]}
    assert (await gql.ok("query($id: ID!) { node(id: $id) { ... on Opportunity { version } } }", {"id": card["id"]}))["node"] == {
        "version": card["version"]}  # a file edits nothing a form holds
    assert attachment["downloadUrl"].startswith("/files/") and "bt_" not in attachment["downloadUrl"]
    # Content-addressed: ab/cd/<sha256>, the exact bytes.
    assert (files_dir / sha[:2] / sha[2:4] / sha).read_bytes() == PDF
    [event] = await events(org, "ATTACHMENT_ADDED")
    assert (event.opportunity_id, event.actor_id) == (pk(card["id"]), org.users["sales_member"].id)
    assert event.changes == {"attachment": [None, attachment["id"]], "kind": [None, "quote"], "name": [None, CHINESE]}

    # node(id) loads it; a second file lists first (newest first).
    assert (await gql.ok(NODE, {"id": attachment["id"]}))["node"] == {
        "__typename": "Attachment", "id": attachment["id"], "name": CHINESE, "sha256": sha}
    second = await upload(client, org, card["id"], b"name,amount\n\xe5\xbc\xa0\xe4\xb8\x89,100\n", "prices.csv", kind="other")
    assert second["attachment"]["contentType"] == "text/csv"
    listed = (await gql.ok(CARD_FILES, {"id": card["id"]}))["node"]["attachments"]
    assert [a["kind"] for a in listed] == ["other", "quote"]


async def test_the_same_bytes_are_stored_once(client, gql, org, files_dir):
    first, second = await create(gql, title="First"), await create(gql, title="Second")
    a = await upload(client, org, first["id"], PDF, "quote.pdf")
    b = await upload(client, org, second["id"], PDF, "same quote.pdf")
    assert a["userErrors"] == b["userErrors"] == []
    assert a["attachment"]["sha256"] == b["attachment"]["sha256"]
    assert a["attachment"]["id"] != b["attachment"]["id"]
    assert stored(files_dir) == [a["attachment"]["sha256"]]
    assert len(await events(org, "ATTACHMENT_ADDED")) == 2


async def test_files_up_to_the_limit_pass_and_larger_ones_are_refused_writing_nothing(client, gql, org, files_dir):
    card = await create(gql)
    # Larger than the JSON body limit (256 KiB) and exactly the attachment limit: accepted.
    exact = PDF + b"%" * (LIMIT - len(PDF))
    ok = await upload(client, org, card["id"], exact, "big.pdf")
    assert ok["userErrors"] == [] and ok["attachment"]["size"] == LIMIT
    before = (stored(files_dir), [e.seq for e in await events(org)])

    refused = await upload(client, org, card["id"], exact + b"%", "bigger.pdf")
    assert refused["attachment"] is None and refused["opportunity"] is None
    assert refused["userErrors"] == [{"code": "VALIDATION", "field": ["file"], "message": "The file is larger than 0.5 MB"}]
    assert (stored(files_dir), [e.seq for e in await events(org)]) == before
    assert len(await rows(org)) == 1

    chinese = await upload(client, org, card["id"], exact + b"%", "bigger.pdf", headers={"accept-language": "zh-CN"})
    assert chinese["userErrors"][0]["message"] == "文件超过 0.5 MB"
    empty = await upload(client, org, card["id"], b"", "empty.pdf")
    assert empty["userErrors"] == [{"code": "VALIDATION", "field": ["file"], "message": "The file is empty"}]


@pytest.mark.parametrize("data, name", [
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 64, "报价单.pdf"),  # a Windows program
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 32, "quote.pdf"),
    (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\x00" * 32, "quote.docx"),  # macOS
    (b"#!/bin/sh\nrm -rf ~\n", "quote.txt"),
    (b"\xef\xbb\xbf  <!DOCTYPE html><html><script>fetch('/graphql')</script></html>", "quote.pdf"),
    (b"<?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "logo.png"),
    (b"just words", "notes.html"),  # saved as .html it would open as a page
])
async def test_programs_and_pages_are_refused_whatever_they_are_called(client, gql, org, files_dir, data, name):
    card = await create(gql)
    refused = await upload(client, org, card["id"], data, name)
    assert refused["attachment"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("VALIDATION", ["file"])]
    assert "run code" in refused["userErrors"][0]["message"]
    assert stored(files_dir) == [] and await rows(org) == [] and await events(org, "ATTACHMENT_ADDED") == []


async def test_bad_kinds_and_unknown_cards(client, gql, org):
    card = await create(gql)
    bad = await upload(client, org, card["id"], PDF, "q.pdf", kind="Quote file!")
    assert [(e["code"], e["field"]) for e in bad["userErrors"]] == [("VALIDATION", ["kind"])]
    upper = await upload(client, org, card["id"], PDF, "q.pdf", kind=" Signed_Contract ")
    assert upper["attachment"]["kind"] == "signed_contract"
    unknown = await upload(client, org, to_global("Opportunity", 99999999), PDF, "q.pdf")
    assert [e["code"] for e in unknown["userErrors"]] == ["NOT_FOUND"]


def office_file(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}/document.xml", "<x/>")
    return buffer.getvalue()


def test_types_are_judged_from_the_bytes():
    office = "application/vnd.openxmlformats-officedocument."
    assert sniff(office_file("word"), "x.bin") == office + "wordprocessingml.document"
    assert sniff(office_file("xl"), "x.bin") == office + "spreadsheetml.sheet"
    assert sniff(office_file("ppt"), "x.bin") == office + "presentationml.presentation"
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("a.txt", "a")
    assert sniff(plain_zip.getvalue(), "x.docx") == "application/zip"
    assert sniff(b"\x89PNG\r\n\x1a\n....", "x.pdf") == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0....", "x") == "image/jpeg"
    assert sniff(b"GIF89a....", "x") == "image/gif"
    assert sniff("客户,金额\n华为,100\n".encode("gb18030"), "deals.csv") == "text/csv"
    assert sniff(b"\x00\x01\x02\x03binary", "x.pdf") == "application/octet-stream"


def test_names_keep_chinese_and_lose_paths_controls_and_leading_dots():
    assert clean_name("../../etc/报价单 v2.pdf") == "报价单 v2.pdf"
    assert clean_name("..\\..\\.hidden.pdf") == "hidden.pdf"
    assert clean_name("quote\u202efdp.exe") == "quotefdp.exe"  # no right-to-left override disguising the type
    assert clean_name("a\x00b\r\nc.pdf") == "abc.pdf"
    assert clean_name('what?"<>|.pdf') == "what_____.pdf"
    assert clean_name("...") == clean_name(None) == "file"
    long = clean_name("合" * 300 + ".pdf")
    assert len(long) == 120 and long.endswith(".pdf")


# ------------------------------------------------------------------ downloads


async def test_the_download_link_gives_the_bytes_with_safe_headers(client, gql, org):
    card = await create(gql)
    attachment = (await upload(client, org, card["id"], PDF, CHINESE))["attachment"]
    response = await client.get(attachment["downloadUrl"])  # no Authorization: the link is the grant
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        f"attachment; filename=\"___ v2.pdf\"; filename*=UTF-8''{quote(CHINESE, safe='')}")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in response.headers["cache-control"]


async def test_cached_board_results_keep_each_viewers_own_links(client, gql, org):
    card = await create(gql)
    assert (await upload(client, org, card["id"], PDF, "a.pdf"))["userErrors"] == []
    listing = "{ opportunities(first: 5) { edges { node { attachments { downloadUrl } } } } }"

    async def link_user(as_):
        url = (await gql.ok(listing, as_=as_))["opportunities"]["edges"][0]["node"]["attachments"][0]["downloadUrl"]
        payload = url.removeprefix("/files/").split(".")[0]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["u"]

    # Both members share an access rule, so they share cached results, but not links.
    assert await link_user("sales_member") == org.users["sales_member"].id
    assert await link_user("marketing_member") == org.users["marketing_member"].id


async def test_expired_and_forged_links_are_refused_without_details(client, gql, org, clock):
    card = await create(gql)
    first = (await upload(client, org, card["id"], PDF, "a.pdf"))["attachment"]
    second = (await upload(client, org, card["id"], b"plain text", "b.txt", kind="other"))["attachment"]
    url = first["downloadUrl"]
    payload, signature = url.removeprefix("/files/").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    other = dict(claims, a=pk(second["id"]))
    swapped = rules._b64(json.dumps(other, separators=(",", ":")).encode())
    for forged in (f"/files/{payload}.{signature[:-2]}AA", f"/files/{swapped}.{signature}", "/files/nonsense", f"/files/{payload}"):
        response = await client.get(forged)
        assert (response.status_code, response.text) == (404, "Not found"), forged

    clock.advance(minutes=9)
    assert (await client.get(url)).status_code == 200  # still within its ten minutes
    clock.advance(minutes=2)
    expired = await client.get(url)
    assert (expired.status_code, expired.text) == (404, "Not found")
    fresh = (await gql.ok(CARD_FILES, {"id": card["id"]}))["node"]["attachments"]
    assert (await client.get(fresh[-1]["downloadUrl"])).content == PDF


async def test_someone_who_cannot_see_the_deal_can_neither_attach_nor_download(client, gql, org):
    card = await create(gql)
    attachment = (await upload(client, org, card["id"], PDF, "a.pdf"))["attachment"]
    link = (await gql.ok(CARD_FILES, {"id": card["id"]}, as_="legal_member"))["node"]["attachments"][0]["downloadUrl"]
    assert (await client.get(link)).status_code == 200

    # Members now see their own department's cards only: legal no longer sees sales' deal.
    assert (await gql.ok(SET_RULE, {"input": {"role": "MEMBER", "scope": "DEPARTMENT"}}, as_="sales_admin"))["setAccessRule"]["userErrors"] == []
    assert (await client.get(link)).status_code == 404  # the link re-checks what its user sees
    assert (await gql.ok(NODE, {"id": attachment["id"]}, as_="legal_member"))["node"] is None
    refused = await upload(client, org, card["id"], PDF, "b.pdf", as_="legal_member")
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    removed = (await gql.ok(REMOVE, {"input": {"id": attachment["id"]}}, as_="legal_member"))["removeAttachment"]
    assert [e["code"] for e in removed["userErrors"]] == ["NOT_FOUND"]
    assert len(await rows(org)) == 1 and len(await events(org, "ATTACHMENT_ADDED")) == 1

    # A deactivated user's links stop working too.
    own = (await gql.ok(CARD_FILES, {"id": card["id"]}))["node"]["attachments"][0]["downloadUrl"]
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id == org.users["sales_member"].id).values(deactivated_at=datetime.now().astimezone()))
    assert (await client.get(own)).status_code == 404


async def test_viewers_cannot_attach(client, gql, org, files_dir):
    card = await create(gql)
    refused = await upload(client, org, card["id"], PDF, "a.pdf", as_="sales_viewer")
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("FORBIDDEN", None)]
    assert stored(files_dir) == [] and await rows(org) == []


# ------------------------------------------------------------------ removing


async def test_the_uploader_the_owner_or_an_admin_removes_a_file(client, gql, org, files_dir):
    card = await create(gql)  # owned by sales_member
    a, b, c = [(await upload(client, org, card["id"], PDF + n, f"{n.decode()}.pdf", as_="marketing_member"))["attachment"]
               for n in (b"1", b"2", b"3")]
    refused = (await gql.ok(REMOVE, {"input": {"id": a["id"]}}, as_="product_member"))["removeAttachment"]
    assert refused == {"opportunity": None, "userErrors": [{
        "code": "FORBIDDEN", "field": ["id"],
        "message": "Only whoever uploaded the file, the deal's owner or an admin can remove it"}]}
    for who, item in (("marketing_member", a), ("sales_member", b), ("sales_admin", c)):
        done = (await gql.ok(REMOVE, {"input": {"id": item["id"]}}, as_=who))["removeAttachment"]
        assert done["userErrors"] == [], who
    assert done["opportunity"] == {"id": card["id"], "attachments": []}
    removed = await events(org, "ATTACHMENT_REMOVED")
    assert [(e.actor_id, e.changes) for e in removed] == [
        (org.users[who].id, {"attachment": [item["id"], None], "kind": ["quote", None], "name": [item["name"], None]})
        for who, item in (("marketing_member", a), ("sales_member", b), ("sales_admin", c))
    ]
    again = (await gql.ok(REMOVE, {"input": {"id": a["id"]}}, as_="sales_admin"))["removeAttachment"]
    assert [e["code"] for e in again["userErrors"]] == ["NOT_FOUND"]
    assert len(stored(files_dir)) == 3  # rows go; the content-addressed bytes stay


async def test_prune_files_deletes_only_old_bytes_no_attachment_names(client, gql, org, files_dir, database_url, tmp_path):
    first, second = await create(gql, title="First"), await create(gql, title="Second")
    shared = [(await upload(client, org, card["id"], PDF, "quote.pdf"))["attachment"] for card in (first, second)]
    notes = (await upload(client, org, first["id"], b"Meeting notes\n", "notes.txt", kind="other", client_type="text/plain"))["attachment"]
    for item in (shared[0], notes):
        assert (await gql.ok(REMOVE, {"input": {"id": item["id"]}}))["removeAttachment"]["userErrors"] == []
    store = LocalFileStore(files_dir)
    assert sorted(f.sha256 for f in store.stored()) == sorted([shared[0]["sha256"], notes["sha256"]])
    now = datetime.now(timezone.utc)
    # The quote is still the second card's; the notes are no one's, but were written just now.
    assert await rules.unreferenced_files(org.db, store, now, timedelta(hours=24)) == []
    [unused] = await rules.unreferenced_files(org.db, store, now + timedelta(hours=25), timedelta(hours=24))
    assert (unused.sha256, unused.size) == (notes["sha256"], len(b"Meeting notes\n"))
    # Storing known bytes again makes them recent: a new row may be about to name them.
    old = (now - timedelta(hours=30)).timestamp()
    os.utime(store.path(notes["sha256"]), (old, old))
    assert [f.sha256 for f in await rules.unreferenced_files(org.db, store, now, timedelta(hours=24))] == [notes["sha256"]]
    store.put(b"Meeting notes\n")
    assert await rules.unreferenced_files(org.db, store, now, timedelta(hours=24)) == []

    os.utime(store.path(notes["sha256"]), (old, old))
    env = {"BATON_DATABASE_URL": database_url, "BATON_FILES_DIR": str(files_dir)}
    dry = baton(tmp_path, "prune-files", "--dry-run", env_extra=env)
    assert dry.returncode == 0 and dry.stdout.startswith("1 files (0.0 MB) in ") and "none removed" in dry.stdout, dry
    assert store.exists(notes["sha256"])
    done = baton(tmp_path, "prune-files", env_extra=env)
    assert done.returncode == 0 and done.stdout.startswith("1 files (0.0 MB) named by no attachment removed"), done
    assert [f.sha256 for f in store.stored()] == [shared[0]["sha256"]]
    # The second card's quote still downloads.
    [kept] = (await gql.ok(CARD_FILES, {"id": second["id"]}))["node"]["attachments"]
    assert (await client.get(kept["downloadUrl"])).content == PDF
    refused = baton(tmp_path, "prune-files", "--older-than-hours", "0", env_extra=env)
    assert refused.returncode == 2 and "at least 1" in refused.stderr


# ------------------------------------------------------------------ the stage gate


async def stages(gql) -> dict:
    return {st["key"]: st for st in (await gql.ok(STAGES))["pipelines"][0]["stages"]}


async def test_a_stage_requiring_a_quote_holds_cards_until_one_is_attached(client, gql, org):
    proposal = (await stages(gql))["proposal"]
    assert proposal["requiredFiles"] == []  # tests/conftest.py clears the default's
    set_ = (await gql.ok(UPDATE_STAGE, {"input": {"id": proposal["id"], "requiredFiles": ["quote"]}}, as_="sales_admin"))["updateStage"]
    assert set_ == {"stage": {"key": "proposal", "requiredFiles": ["quote"]}, "userErrors": []}
    [announced] = await events(org, "PIPELINE_UPDATED")
    assert announced.changes["requiredFiles"] == [[], ["quote"]]

    card = await create(gql, amount="1000", expectedCloseDate="2031-01-31")
    refused = await move(gql, card["id"], "proposal")
    assert refused["opportunity"] is None
    assert refused["userErrors"] == [{"code": "STAGE_GATE", "field": ["file:quote"], "message": "Proposal needs a quote file first"}]
    # Skipping past it needs the file too; other parts of the gate are listed with it.
    other = await create(gql, title="No amount")
    both = await move(gql, other["id"], "negotiation")
    assert both["userErrors"][0]["field"] == ["amount", "expectedCloseDate", "file:quote"]
    chinese = await client.post("/graphql", json={"query": """mutation($i: MoveOpportunityInput!) { moveOpportunity(input: $i) {
        userErrors { message } } }""", "variables": {"i": {"id": card["id"], "version": card["version"], "stageKey": "proposal"}}},
        headers={"authorization": f"Bearer {org.tokens['sales_member']}", "accept-language": "zh-CN"})
    assert chinese.json()["data"]["moveOpportunity"]["userErrors"][0]["message"] == "进入Proposal前需先补全：已上传的报价文件"

    wrong_kind = await upload(client, org, card["id"], PDF, "contract.pdf", kind="contract")
    assert wrong_kind["userErrors"] == []
    assert (await move(gql, card["id"], "proposal"))["userErrors"][0]["field"] == ["file:quote"]
    assert (await upload(client, org, card["id"], PDF, CHINESE))["userErrors"] == []
    moved = await move(gql, card["id"], "proposal")
    assert moved["userErrors"] == [] and moved["opportunity"]["stage"]["key"] == "proposal"

    # A card being created cannot carry a file yet: it enters, and needs the quote to move on.
    direct = await create(gql, title="Imported", stageKey="proposal", amount="5", expectedCloseDate="2031-01-31")
    onward = await move(gql, direct["id"], "negotiation")
    assert onward["userErrors"][0]["field"] == ["file:quote"]


async def test_required_files_are_checked_like_other_stage_settings(gql, org):
    st = await stages(gql)
    bad = (await gql.ok(UPDATE_STAGE, {"input": {"id": st["proposal"]["id"], "requiredFiles": ["quote", "Signed contract"]}},
                        as_="sales_admin"))["updateStage"]
    assert [(e["code"], e["field"]) for e in bad["userErrors"]] == [("VALIDATION", ["requiredFiles"])]
    many = (await gql.ok(UPDATE_STAGE, {"input": {"id": st["proposal"]["id"], "requiredFiles": [f"k{i}" for i in range(11)]}},
                         as_="sales_admin"))["updateStage"]
    assert many["userErrors"][0]["message"] == "requiredFiles lists at most 10 kinds"
    member = (await gql.ok(UPDATE_STAGE, {"input": {"id": st["proposal"]["id"], "requiredFiles": ["quote"]}}))["updateStage"]
    assert [e["code"] for e in member["userErrors"]] == ["FORBIDDEN"]
    assert (await stages(gql))["proposal"]["requiredFiles"] == []
    pipeline_id = (await gql.ok("{ pipelines { id } }"))["pipelines"][0]["id"]
    made = (await gql.ok(CREATE_STAGE, {"input": {"pipelineId": pipeline_id, "key": "signing",
                                                  "requiredFiles": ["Signed_Contract", "signed_contract"]}}, as_="sales_admin"))["createStage"]
    assert made == {"stage": {"key": "signing", "requiredFiles": ["signed_contract"]}, "userErrors": []}


async def test_new_organizations_need_a_quote_to_enter_proposal(db):
    async with db.write() as s:
        org = await create_organization(s, "Fresh files org")
        minimal = await create_organization(s, "Fresh minimal org", minimal_pipeline=True)
    async with db.read() as s:
        def required(org_id):
            return select(m.Stage.key, m.Stage.required_files).join(m.Pipeline).where(m.Pipeline.org_id == org_id)
        assert {k: v for k, v in (await s.execute(required(org.id))).all() if v} == {"proposal": ["quote"]}
        assert {k: v for k, v in (await s.execute(required(minimal.id))).all() if v} == {}


async def test_a_preview_counts_cards_a_file_requirement_would_stop(client, gql, org):
    PREVIEW = """query($input: UpdateStageInput!) { previewStageChange(input: $input) { cardsInStage cardsFailingGate cardsNewlyFailing } }"""
    with_quote = await create(gql, title="Quoted", stageKey="proposal", amount="5", expectedCloseDate="2031-01-31")
    await create(gql, title="Unquoted", stageKey="proposal", amount="5", expectedCloseDate="2031-01-31")
    assert (await upload(client, org, with_quote["id"], PDF, "q.pdf"))["userErrors"] == []
    proposal = (await stages(gql))["proposal"]
    preview = (await gql.ok(PREVIEW, {"input": {"id": proposal["id"], "requiredFiles": ["quote"]}}, as_="sales_admin"))["previewStageChange"]
    assert preview == {"cardsInStage": 2, "cardsFailingGate": 1, "cardsNewlyFailing": 1}
    # Once the quote is required, a card still waiting for it shows what a new required field would do.
    assert (await gql.ok(UPDATE_STAGE, {"input": {"id": proposal["id"], "requiredFiles": ["quote"]}}, as_="sales_admin"))["updateStage"]["userErrors"] == []
    field = (await gql.ok(PREVIEW, {"input": {"id": proposal["id"], "requiredFields": ["amount", "expectedCloseDate", "probability"]}},
                          as_="sales_admin"))["previewStageChange"]
    assert field == {"cardsInStage": 2, "cardsFailingGate": 2, "cardsNewlyFailing": 2}


# ------------------------------------------------------------------ the store and the multipart limit


def test_the_local_store_writes_atomically_and_once(tmp_path):
    from db.files import LocalFileStore

    store = LocalFileStore(tmp_path)
    sha = store.put(b"hello")
    assert sha == hashlib.sha256(b"hello").hexdigest() and store.exists(sha)
    path = tmp_path / sha[:2] / sha[2:4] / sha
    first = path.stat()
    assert store.put(b"hello") == sha
    again = path.stat()  # not written again (the same file), only made recent (prune-files spares it)
    assert again.st_ino == first.st_ino and again.st_mtime_ns >= first.st_mtime_ns
    with store.open(sha) as f:
        assert f.read() == b"hello"
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [sha]  # no temporary file left
    with pytest.raises(ValueError):
        store.open("../../etc/passwd")


async def test_a_multipart_body_past_the_attachment_limit_is_refused_before_it_is_read(database_url, clock, tmp_path, org):
    settings = Settings(database_url=database_url, broadcast_url="memory://", files_dir=tmp_path, max_attachment_mb=0.5,
                        max_upload_bytes=256 * 1024)
    app = create_app(settings, migrate=False, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://baton.test") as client:
            card = to_global("Opportunity", 1)
            huge = b"%PDF-" + b"0" * (LIMIT + 128 * 1024)
            operations = {"query": ATTACH, "variables": {"input": {"opportunityId": card, "kind": "quote", "file": None}}}
            response = await client.post(
                "/graphql", data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
                files={"0": ("huge.pdf", huge, "application/pdf")}, headers={"authorization": f"Bearer {org.tokens['sales_member']}"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


def test_files_default_next_to_the_sqlite_database(tmp_path):
    unset = {"_env_file": None, "files_dir": None}  # the test run sets BATON_FILES_DIR (tests/conftest.py)
    assert Settings(**unset, database_url=f"sqlite+aiosqlite:///{tmp_path}/baton.db").files_path == tmp_path / "files"
    assert str(Settings(**unset, database_url="postgresql+asyncpg://x/y").files_path) == "baton-files"
    assert Settings(_env_file=None, files_dir=tmp_path / "elsewhere").files_path == tmp_path / "elsewhere"


def test_links_name_their_viewer_and_expire_after_ten_minutes(org, clock):
    ctx = org.ctx("sales_member", clock)
    ctx.secret_key = "k"
    row = m.Attachment(id=5, org_id=org.id)
    url = rules.download_url(ctx, row)
    claims = json.loads(base64.urlsafe_b64decode(url.split("/")[2].split(".")[0] + "=="))
    assert claims["u"] == org.users["sales_member"].id and claims["a"] == 5 and claims["o"] == org.id
    expires = datetime.fromtimestamp(claims["e"]).astimezone()
    assert timedelta(minutes=9) < expires - clock.now <= timedelta(minutes=10)
