"""Real local receivers for the channel tests: one HTTP server (Starlette on uvicorn)
answering like Feishu's, DingTalk's and WeCom's bot endpoints, checking signatures
the way each vendor documents them (written out here, independently of Baton's
code), and SMTP servers (aiosmtpd) that require a login: one in plain text, one that
requires STARTTLS with a certificate from a throwaway CA (trustme)."""
import asyncio
import base64
import hashlib
import hmac
import json
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy

import pytest
import trustme
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import free_port


def feishu_expected_sign(secret: str, timestamp: str) -> str:
    # 飞书: HmacSHA256 keyed with timestamp + "\n" + secret over an empty message, Base64.
    return base64.b64encode(hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()


def dingtalk_expected_sign(secret: str, timestamp: str) -> str:
    # 钉钉: HmacSHA256 keyed with the secret over timestamp + "\n" + secret, Base64 (then URL-encoded in the query).
    return base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()).decode()


@dataclass
class Post:
    vendor: str
    path: str
    query: dict
    headers: dict
    raw: bytes

    @property
    def body(self) -> dict:
        return json.loads(self.raw)


@dataclass
class Bots:
    """Bot endpoints: /feishu/open-apis/bot/v2/hook/<token>, /dingtalk/robot/send?access_token=,
    /wecom/cgi-bin/webhook/send?key=. `secrets` maps a Feishu token or DingTalk access
    token to its signing secret; `broken` vendors answer HTTP 500 echoing the URL."""

    port: int = field(default_factory=free_port)
    received: list[Post] = field(default_factory=list)
    secrets: dict = field(default_factory=dict)
    broken: set = field(default_factory=set)
    clock: object = None

    def url(self, vendor: str, token: str) -> str:
        base = f"http://127.0.0.1:{self.port}"
        return {
            "FEISHU": f"{base}/feishu/open-apis/bot/v2/hook/{token}",
            "DINGTALK": f"{base}/dingtalk/robot/send?access_token={token}",
            "WECOM": f"{base}/wecom/cgi-bin/webhook/send?key={token}",
        }[vendor]

    def of(self, vendor: str) -> list[Post]:
        return [p for p in self.received if p.vendor == vendor]

    def _fresh(self, seconds: float) -> bool:
        # Both vendors refuse a timestamp more than an hour from their clock (here: the test's).
        return abs(self.clock().timestamp() - seconds) <= 3600

    def app(self) -> Starlette:
        async def feishu(request):
            raw = await request.body()
            self.received.append(Post("FEISHU", request.url.path, dict(request.query_params), dict(request.headers), raw))
            if "FEISHU" in self.broken:
                return JSONResponse({"error": f"broken at {request.url}"}, status_code=500)
            body = json.loads(raw)
            secret = self.secrets.get(request.path_params["token"])
            if secret is not None and not (
                body.get("sign") == feishu_expected_sign(secret, body.get("timestamp", "")) and self._fresh(int(body["timestamp"]))
            ):
                return JSONResponse({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})
            return JSONResponse({"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"})

        async def dingtalk(request):
            raw = await request.body()
            query = dict(request.query_params)
            self.received.append(Post("DINGTALK", request.url.path, query, dict(request.headers), raw))
            if "DINGTALK" in self.broken:
                return JSONResponse({"error": f"broken at {request.url}"}, status_code=500)
            secret = self.secrets.get(query.get("access_token"))
            if secret is not None and not (
                query.get("sign") == dingtalk_expected_sign(secret, query.get("timestamp", "")) and self._fresh(int(query["timestamp"]) / 1000)
            ):
                return JSONResponse({"errcode": 310000, "errmsg": "sign not match"})
            return JSONResponse({"errcode": 0, "errmsg": "ok"})

        async def wecom(request):
            raw = await request.body()
            self.received.append(Post("WECOM", request.url.path, dict(request.query_params), dict(request.headers), raw))
            if "WECOM" in self.broken:
                return JSONResponse({"error": f"broken at {request.url}"}, status_code=500)
            if request.query_params.get("key") not in self.secrets.get("wecom_keys", ()):
                return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
            return JSONResponse({"errcode": 0, "errmsg": "ok"})

        return Starlette(routes=[
            Route("/feishu/open-apis/bot/v2/hook/{token}", feishu, methods=["POST"]),
            Route("/dingtalk/robot/send", dingtalk, methods=["POST"]),
            Route("/wecom/cgi-bin/webhook/send", wecom, methods=["POST"]),
        ])


async def serve(bots: Bots):
    """Start the bots' server; returns a coroutine function that stops it."""
    server = uvicorn.Server(uvicorn.Config(bots.app(), host="127.0.0.1", port=bots.port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)

    async def stop():
        server.should_exit = True
        await asyncio.wait_for(task, 10)

    return stop


@pytest.fixture
async def bots(clock):
    receiver = Bots(clock=clock)
    stop = await serve(receiver)
    yield receiver
    await stop()


SMTP_USER, SMTP_PASSWORD = "baton-mailer", "smtp-Pa55-word-42"


class Mailbox:
    """Messages the SMTP server accepted, parsed."""

    def __init__(self):
        self.messages = []
        self.logins = []
        self.data_over_tls = []  # per accepted message: whether it came over TLS
        self.received = []  # (TLS on, bytes) of everything clients sent, on a RecordingController

    async def handle_DATA(self, server, session, envelope):
        self.data_over_tls.append(session.ssl is not None)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        self.logins.append((auth_data.login, ok))
        if ok:
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Authentication credentials invalid")


@pytest.fixture
def smtp():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), authenticator=box.authenticate, auth_require_tls=False,
                            auth_exclude_mechanism=["LOGIN"])  # AUTH PLAIN only: smtplib tries each offered mechanism
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


class RecordingSMTP(SMTP):
    """Keeps every chunk a client sends with whether TLS was on when it arrived: after
    STARTTLS the TLS layer hands this protocol the decrypted bytes."""

    def data_received(self, data: bytes) -> None:
        self.event_handler.received.append((self._tls_protocol is not None, bytes(data)))
        super().data_received(data)


class RecordingController(Controller):
    def factory(self):
        return RecordingSMTP(self.handler, **self.SMTP_kwargs)


@pytest.fixture
def smtp_tls(tmp_path):
    """An SMTP server that refuses everything but EHLO and STARTTLS before TLS, offers AUTH
    only over TLS, and presents a certificate for 127.0.0.1 signed by a CA made here
    (its PEM at `ca_file`, trusted by nothing else)."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    box = Mailbox()
    box.ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(box.ca_file))
    controller = RecordingController(
        box, hostname="127.0.0.1", port=free_port(), authenticator=box.authenticate, tls_context=server_context,
        require_starttls=True, auth_require_tls=True, auth_exclude_mechanism=["LOGIN"])
    controller.start()
    box.port = controller.port
    box.received.clear()  # the controller's own start-up probe
    yield box
    controller.stop()
