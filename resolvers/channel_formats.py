"""What each channel is sent: the message Baton composes, and each vendor's request
body and signature. Pure functions (no I/O): api/channels.py posts and mails them.

A message is a plain dict, stored with its delivery (already redacted for whoever
reads the channel, and in their language): {"title", "text", "details": [lines],
"path": "/#board/<id>" | None, "locale"}; the bodies' own words ("Open in Baton")
follow its locale.
"""
import base64
import hashlib
import hmac
import html
import json
from email.message import EmailMessage
from urllib.parse import quote_plus, urlsplit, urlunsplit

from resolvers.i18n import DEFAULT, msg

TYPES = ("EMAIL", "FEISHU", "DINGTALK", "WECOM")
BOTS = ("FEISHU", "DINGTALK", "WECOM")
SIGNED = ("FEISHU", "DINGTALK")  # bots with a documented signature; WeCom's key is in its URL
TITLES = {
    "alert": msg("Alert"), "escalation": msg("Escalated alert"), "approval": msg("Approval"), "handoff": msg("Handoff"),
    "mention": msg("Mention"), "assigned": msg("Assigned to you"), "deliverable": msg("Deliverable"),
    "digest": msg("Your daily digest"), "test": msg("Test message"),
}
OPEN_LABEL = msg("Open in Baton")
WECOM_MAX_BYTES = 4096  # a markdown message's content is at most 4096 bytes (UTF-8)


def message(kind: str, text: str, details: list[str] | None = None, path: str | None = None,
            locale: str = DEFAULT) -> dict:
    title = TITLES[kind].render(locale) if kind in TITLES else kind.title()
    return {"title": title, "text": text, "details": list(details or []), "path": path, "locale": locale}


def open_label(message: dict) -> str:
    return OPEN_LABEL.render(message.get("locale") or DEFAULT)


def link(base_url: str, sent: dict) -> str | None:
    return base_url.rstrip("/") + sent["path"] if sent.get("path") else None


def _plain_md(text: str) -> str:
    """Card titles and comments are typed by users: square brackets would let one turn
    a line into a link in a markdown bot message, so they become full-width brackets."""
    return text.replace("[", "［").replace("]", "］")


# ------------------------------------------------------------------ Feishu / Lark
# Custom bot guide ("自定义机器人使用指南"), https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot :
# rich text is msg_type "post"; with 签名校验 the body also carries "timestamp" (seconds, as a
# string) and "sign" = Base64(HmacSHA256 keyed with "<timestamp>\n<secret>" over an empty message).


def feishu_sign(secret: str, timestamp: int) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def feishu_body(sent: dict, base_url: str, secret: str | None, timestamp: int) -> dict:
    content = [[{"tag": "text", "text": sent["text"]}]]
    content += [[{"tag": "text", "text": line}] for line in sent["details"]]
    href = link(base_url, sent)
    if href:
        content.append([{"tag": "a", "text": open_label(sent), "href": href}])
    body = {"msg_type": "post", "content": {"post": {"zh_cn": {"title": sent["title"], "content": content}}}}
    if secret:
        body = {"timestamp": str(timestamp), "sign": feishu_sign(secret, timestamp), **body}
    return body


# ------------------------------------------------------------------ DingTalk
# Custom robot ("自定义机器人接入", 加签), https://open.dingtalk.com/document/group/custom-robot-access :
# timestamp in milliseconds; sign = urlEncode(Base64(HmacSHA256 keyed with the secret over
# "<timestamp>\n<secret>")), both appended to the webhook URL's query. Message types:
# https://open.dingtalk.com/document/development/robot-message-type (markdown: title, text).


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    if not secret:
        return url
    parts = urlsplit(url)
    extra = f"timestamp={timestamp_ms}&sign={quote_plus(dingtalk_sign(secret, timestamp_ms))}"
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


def dingtalk_body(sent: dict, base_url: str) -> dict:
    lines = [f"#### {_plain_md(sent['title'])}", "", _plain_md(sent["text"])]
    if sent["details"]:
        lines += [""] + [f"- {_plain_md(line)}" for line in sent["details"]]
    href = link(base_url, sent)
    if href:
        lines += ["", f"[{open_label(sent)}]({href})"]
    return {"msgtype": "markdown", "markdown": {"title": sent["title"], "text": "\n".join(lines)}}


# ------------------------------------------------------------------ WeCom (企业微信)
# Group bot ("群机器人配置说明"), https://developer.work.weixin.qq.com/document/path/91770 :
# POST to .../cgi-bin/webhook/send?key=KEY, {"msgtype": "markdown", "markdown": {"content"}};
# no signature (the key in the URL is the credential).


def wecom_body(sent: dict, base_url: str) -> dict:
    head = f"**{_plain_md(sent['title'])}**\n{_plain_md(sent['text'])}"
    tail = "".join(f"\n> {_plain_md(line)}" for line in sent["details"])
    href = link(base_url, sent)
    footer = f"\n[{open_label(sent)}]({href})" if href else ""
    content = head + tail + footer
    while len(content.encode()) > WECOM_MAX_BYTES and tail:  # drop detail lines, keep the link
        tail = tail[: tail.rfind("\n>")]
        content = head + tail + footer
    return {"msgtype": "markdown", "markdown": {"content": content.encode()[:WECOM_MAX_BYTES].decode(errors="ignore")}}


def accepted(channel_type: str, answer: bytes) -> str | None:
    """None when the bot's answer says it took the message, else why not. The vendors
    answer HTTP 200 even on refusal (a bad signature, a rate limit): the code is in the body."""
    try:
        data = json.loads(answer or b"{}")
    except ValueError:
        return "the answer is not JSON"
    if not isinstance(data, dict):
        return "the answer is not a JSON object"
    if channel_type == "FEISHU":
        code = data.get("code", data.get("StatusCode"))
        text = data.get("sent", data.get("StatusMessage", ""))
    else:
        code, text = data.get("errcode"), data.get("errmsg", "")
    return None if code == 0 else f"refused: {code} {text}"[:300]


def bot_request(channel_type: str, url: str, secret: str | None, sent: dict, base_url: str, now_seconds: float) -> tuple[str, bytes]:
    """(URL, JSON body) of one attempt: signatures are per attempt (the vendors refuse a
    timestamp more than an hour off), so they are computed at sending time."""
    if channel_type == "FEISHU":
        body = feishu_body(sent, base_url, secret, int(now_seconds))
    elif channel_type == "DINGTALK":
        url, body = dingtalk_url(url, secret, int(now_seconds * 1000)), dingtalk_body(sent, base_url)
    else:
        body = wecom_body(sent, base_url)
    return url, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# ------------------------------------------------------------------ email


def email(sent: dict, base_url: str, sender: str, to: str) -> EmailMessage:
    """A text and an HTML part with the same content and the link to the card."""
    href = link(base_url, sent)
    mail = EmailMessage()
    mail["Subject"] = f"Baton · {sent['title']}: {sent['text']}"[:200].replace("\n", " ")
    mail["From"] = sender
    mail["To"] = to
    text = "\n".join([sent["text"], "", *sent["details"], *(["", f"{open_label(sent)}: {href}"] if href else [])])
    mail.set_content(text)
    e = html.escape
    details = "".join(f"<li>{e(line)}</li>" for line in sent["details"])
    page = (
        f"<html><body><h2>{e(sent['title'])}</h2><p>{e(sent['text'])}</p>"
        + (f"<ul>{details}</ul>" if details else "")
        + (f'<p><a href="{e(href)}">{e(open_label(sent))}</a></p>' if href else "")
        + "</body></html>"
    )
    mail.add_alternative(page, subtype="html")
    return mail


def mask_target(channel_type: str, target: str) -> str:
    """What the API shows of a target: an email address as it is; a bot URL without its
    credential (query values, or the last path segment: Feishu's hook token)."""
    if channel_type == "EMAIL":
        return target
    parts = urlsplit(target)
    if parts.query:
        query = "&".join(f"{pair.split('=', 1)[0]}=***" for pair in parts.query.split("&") if pair)
        return urlunsplit(parts._replace(query=query, fragment=""))
    path = parts.path.rstrip("/")
    head = path.rsplit("/", 1)[0] if "/" in path.strip("/") else ""
    return urlunsplit(parts._replace(path=f"{head}/***", fragment=""))
