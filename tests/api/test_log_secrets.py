"""No token, download-link signature or password reaches the logs of a real
`baton serve` (uvicorn's access and error logs and every Python logger, at debug)."""
import json
import os
import subprocess
import sys
import time

import httpx

from tests.api.test_cli import ROOT, baton
from tests.conftest import free_port

PASSWORD = "s3cret-Pa55word"
WRONG_PASSWORD = "wr0ng-Pa55word"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { token userErrors { code } } }"
EXPORT_LINK = "mutation { createExportLink(input: {filter: {search: \"x\"}}) { url } }"
CARD = 'mutation { createOpportunity(input: {title: "Pilot", accountName: "Acme"}) { opportunity { id } } }'
ATTACH = """mutation($input: AttachFileInput!) { attachFile(input: $input) { attachment { downloadUrl } userErrors { code } } }"""
# Every logger to stderr at DEBUG (Baton's, SQLAlchemy's, ...), then the real `baton serve`.
SERVE = "import logging, sys; logging.basicConfig(level=logging.DEBUG); from api.cli import main; sys.exit(main(sys.argv[1:]))"


def test_no_secret_reaches_the_logs(tmp_path):
    made = baton(tmp_path, "user", "create", "--email", "ops@example.test", "--name", "Ops", "--department", "sales",
                 "--role", "ADMIN", "--password", PASSWORD, "--org", "Acme")
    assert made.returncode == 0, made.stderr
    issued = baton(tmp_path, "token", "create", "--name", "erp", "--scope", "read")
    assert issued.returncode == 0, issued.stderr
    api_token = issued.stdout.strip().splitlines()[-1]

    port = free_port()
    env = {**os.environ, "BATON_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", "PYTHONPATH": str(ROOT)}
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-c", SERVE, "serve", "--port", str(port), "--log-level", "debug"],
                                  cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    secrets = [PASSWORD, WRONG_PASSWORD, api_token]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, log_path.read_text()
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)

            def graphql(query, variables=None, token=None):
                headers = {"authorization": f"Bearer {token}"} if token else {}
                return http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers).json()["data"]

            wrong = graphql(LOGIN, {"i": {"email": "ops@example.test", "password": WRONG_PASSWORD}})
            assert wrong["login"]["token"] is None
            # graphql-core's error message quotes the variable, password and all (the client's own).
            odd = {"query": LOGIN, "variables": {"i": {"email": "ops@example.test", "password": PASSWORD, "remember": True}}}
            assert PASSWORD in http.post("/graphql", json=odd).text
            session = graphql(LOGIN, {"i": {"email": "ops@example.test", "password": PASSWORD}})["login"]["token"]
            url = graphql(EXPORT_LINK, token=session)["createExportLink"]["url"]
            ticket = url.split("ticket=", 1)[1]
            secrets += [session, ticket, ticket.split(".")[1]]

            assert http.get(url).status_code == 200  # the signed link
            assert http.get(url).status_code == 401  # used once already
            assert http.get("/export/opportunities.csv", headers={"authorization": f"Bearer {api_token}"}).status_code == 200
            assert http.get(f"/export/opportunities.csv?token={api_token}").status_code == 401
            assert http.get(f"/export/opportunities.csv?stageKeys=lead&token={session}").status_code == 401
            assert http.get("/graphql", params={"query": "{ viewer { id } }", "access_token": session}).status_code == 200
            # An attachment's download link: a capability in the path, for ten minutes.
            card = graphql(CARD, token=session)["createOpportunity"]["opportunity"]["id"]
            operations = {"query": ATTACH, "variables": {"input": {"opportunityId": card, "kind": "quote", "file": None}}}
            attached = http.post("/graphql", headers={"authorization": f"Bearer {session}"},
                                 data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
                                 files={"0": ("quote.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}).json()["data"]["attachFile"]
            link = attached["attachment"]["downloadUrl"]
            secrets += [link.rsplit("/", 1)[1]]
            assert http.get(link).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=15)
    output = log_path.read_text()
    # The requests were logged (with their query strings), the secrets in them masked.
    assert '"GET /export/opportunities.csv?token=*** HTTP/1.1" 401' in output, output[-3000:]
    assert "/export/opportunities.csv?ticket=*** HTTP/1.1\" 200" in output
    assert '"GET /files/*** HTTP/1.1" 200' in output
    leaks = sum(secret in output for secret in secrets)  # a count: the failure message shows no secret
    assert leaks == 0
