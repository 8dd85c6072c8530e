"""Server-side text in the reader's language: English and Simplified Chinese.

Messages are written in code as English templates with `{name}` placeholders
(str.format syntax, so `{gid!r}` and `{at:%H:%M}` work); the template is the msgid
and the Chinese text lives in the gettext catalog `locales/zh_CN/LC_MESSAGES/baton.po`,
read once at import with Babel. A missing or empty translation falls back to English.
`make messages` re-extracts the templates (babel.cfg) and updates the catalog.

Codes (error codes, kinds) never change with the language; only the words do."""
from dataclasses import dataclass, field
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

SUPPORTED = ("en", "zh-CN")
DEFAULT = "en"
DOMAIN = "baton"
# Found next to the source (a clone, or `pip install -e .`), not in site-packages.
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
# gettext's folder name for each supported language other than the source's.
CATALOG_NAMES = {"zh-CN": "zh_CN"}
# Params marking a nested message (JSON-safe, so notifications store them as they are).
NESTED = "$msg"


def _load(name: str) -> dict[str, str]:
    path = LOCALES_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return {}
    with path.open("rb") as f:
        catalog = read_po(f, locale=name)
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and m.string and not m.fuzzy}


CATALOGS: dict[str, dict[str, str]] = {locale: _load(name) for locale, name in CATALOG_NAMES.items()}


def supported(locale: str | None) -> str | None:
    """`locale` spelled as Baton spells it when it is supported ("zh-cn", "zh_CN" -> "zh-CN"), else None."""
    if not locale:
        return None
    wanted = locale.strip().replace("_", "-").lower()
    return next((s for s in SUPPORTED if s.lower() == wanted), None)


def _match(tag: str) -> str | None:
    """The supported locale an Accept-Language tag asks for: zh, zh-CN, zh-Hans, zh-SG -> zh-CN
    (Simplified Chinese), zh-TW / zh-HK / zh-Hant -> none; en-* -> en."""
    try:
        parsed = Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    if parsed.language == "en":
        return "en"
    if parsed.language == "zh":
        if parsed.script == "Hant" or (parsed.script is None and parsed.territory in ("TW", "HK", "MO")):
            return None
        return "zh-CN"
    return None


def negotiate(header: str | None) -> str | None:
    """The best supported locale an Accept-Language header names (by q, then order), or None."""
    if not header:
        return None
    ranked = []
    for i, part in enumerate(header.split(",")[:20]):
        tag, _, rest = part.strip().partition(";")
        tag = tag.strip()
        q = 1.0
        for param in rest.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and tag != "*" and q > 0:
            ranked.append((-q, i, tag))
    for _, _, tag in sorted(ranked):
        found = _match(tag)
        if found:
            return found
    return None


def _value(locale: str, value):
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATOR.render(locale).join(str(_value(locale, item)) for item in value)
    if isinstance(value, Msg):
        return value.render(locale)
    if isinstance(value, dict) and NESTED in value:
        return translate(locale, value[NESTED], **(value.get("params") or {}))
    return value


def translate(locale: str | None, template: str, **params) -> str:
    """`template` in `locale` with `params` filled in (nested messages rendered in the same
    language). English is the template itself; a broken translation falls back to it."""
    values = {key: _value(locale, value) for key, value in params.items()}
    text = CATALOGS.get(locale or DEFAULT, {}).get(template) if locale != DEFAULT else None
    if text:
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError, AttributeError):
            pass
    return template.format(**values)


def escape(text: str) -> str:
    """Literal text as a template (no placeholders)."""
    return text.replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True)
class Msg:
    """A message to render later, in the language of whoever reads it."""

    template: str
    params: dict = field(default_factory=dict)

    def render(self, locale: str | None = DEFAULT) -> str:
        return translate(locale, self.template, **self.params)

    def __str__(self) -> str:
        return self.render(DEFAULT)

    def to_json(self) -> dict:
        return {NESTED: self.template, "params": jsonable(self.params)}


def msg(template: str, **params) -> Msg:
    """Mark a template for extraction and keep it (with its params) to render per reader."""
    return Msg(template, params)


def jsonable(params: dict) -> dict:
    """Params as stored with a notification: nested messages become {"$msg", "params"}."""
    return {key: _json(value) for key, value in params.items()}


def _json(value):
    if isinstance(value, Msg):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_json(item) for item in value]
    return value


LIST_SEPARATOR = msg(", ")  # joins list params: "amount, next step" / "金额、下一步"


# Statuses as words in a sentence ("This handoff is already accepted").
STATUS_WORDS = {
    "PENDING": msg("pending"), "ACCEPTED": msg("accepted"), "DECLINED": msg("declined"),
    "CANCELLED": msg("cancelled"), "APPROVED": msg("approved"), "REJECTED": msg("rejected"),
    "RETURNED": msg("returned"), "SUPERSEDED": msg("superseded"), "TRANSFERRED": msg("transferred"),
    "SKIPPED": msg("skipped"),
}


def status_word(status: str) -> Msg:
    return STATUS_WORDS.get(status) or Msg(escape(status.lower()))
