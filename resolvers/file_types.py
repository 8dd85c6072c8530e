"""What an uploaded file is, judged from its bytes (the client's content type is not
believed), and the name it is shown and downloaded under.

Executables and anything a browser could run as a page (HTML, SVG, XML that declares
either) are refused whatever they are called, as are names ending in such extensions:
a download saved as `.html` runs its script when opened from disk."""
import io
import re
import unicodedata
import zipfile

OCTET_STREAM = "application/octet-stream"
MAX_NAME = 120  # characters, extension included

_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_EXECUTABLE = (
    b"MZ",  # Windows PE (.exe, .dll)
    b"\x7fELF",
    b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe",  # Mach-O
    b"#!",  # scripts
)
_MARKUP = re.compile(rb"<\s*(!doctype\s+html|html|head|body|script|svg|iframe|object|embed)\b")
_OFFICE = (("word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
           ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
           ("ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"))
RISKY_EXTENSIONS = frozenset({
    "exe", "dll", "com", "bat", "cmd", "msi", "scr", "ps1", "vbs", "js", "mjs", "jar", "sh", "app", "apk",
    "html", "htm", "xhtml", "shtml", "svg", "svgz", "xml", "hta", "php",
})


class Refused(ValueError):
    """A file Baton does not keep: an executable or active content."""


def _zip_type(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return OCTET_STREAM
    if "[Content_Types].xml" in names:
        for prefix, media in _OFFICE:
            if any(n.startswith(prefix) for n in names):
                return media
    return "application/zip"


def _text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError:
            # A multi-byte character cut at the end of the sample is still text.
            try:
                text = head[:-3].decode(encoding)
            except UnicodeDecodeError:
                continue
        controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\r\n\t\f")
        return controls == 0
    return False


def sniff(data: bytes, name: str) -> str:
    """The content type of `data`; Refused for executables and active content."""
    if data.startswith(_EXECUTABLE):
        raise Refused("executable")
    for magic, media in _MAGIC:
        if data.startswith(magic):
            return media
    if data.startswith(b"PK\x03\x04"):
        return _zip_type(data)
    head = data[:4096]
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if _MARKUP.search(head.lower()) or (lowered.startswith(b"<?xml") and b"<svg" in data[:65536].lower()):
        raise Refused("markup")
    if data and _text(head):
        return "text/csv" if name.lower().endswith(".csv") else "text/plain"
    return OCTET_STREAM


def extension(name: str) -> str:
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


def clean_name(raw: str | None) -> str:
    """The name as shown: its last path component, NFC, without control or formatting
    characters (bidi overrides disguise `exe.pdf`), Windows-reserved characters or leading
    dots, at most MAX_NAME characters with its extension kept. Chinese names stay as typed."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    name = re.sub(r'[<>:"|?*]', "_", name)
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_NAME - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:MAX_NAME].rstrip()
    return name or "file"
