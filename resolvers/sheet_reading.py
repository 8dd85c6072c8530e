"""Reading spreadsheets: CSV or XLSX files, the sheets of a workbook by name, headers in
English or Chinese mapped to fields, and the row-level report every import shares."""
import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from resolvers.errors import VALIDATION
from resolvers.i18n import Msg

# Sheet kinds -> the workbook sheet names that hold them (compared like headers).
SHEET_NAMES = {
    "contacts": ["Contacts", "联系人"],
    "follow_ups": ["Follow-ups", "Followups", "跟进记录", "跟进"],
}


class SpreadsheetError(ValueError):
    """The file as a whole cannot be read (format, missing columns)."""


@dataclass
class Rejection:
    row: int  # the spreadsheet's row number (the header is row 1)
    reasons: list[str]  # in English (the command line's report)
    texts: list[Msg] = field(default_factory=list)  # the same, to render in a reader's language
    code: str = VALIDATION  # CONFLICT: changed since the export; NOT_FOUND: an unknown id
    sheet: str = ""  # "" for the deals' sheet, else the sheet's kind (contacts, follow_ups)

    def __str__(self) -> str:
        where = f"{self.sheet.replace('_', '-')} row" if self.sheet else "row"
        return f"{where} {self.row}: {'; '.join(self.reasons)}"


Rows = Iterable[tuple[int, list]]


def norm_header(value) -> str:
    return re.sub(r"[\s_\-:：*]+", "", str(value or "")).casefold()


def cell_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def title_key(title: str) -> str:
    """Deal titles match without case, width or spaces."""
    return "".join(unicodedata.normalize("NFKC", title).casefold().split())


def aliases(headers: dict[str, list[str]]) -> dict[str, str]:
    """Normalized header -> field, for `map_columns`."""
    return {norm_header(alias): name for name, names in headers.items() for alias in names}


def map_columns(header: list, known: dict[str, str]) -> tuple[dict[str, int], list[str]]:
    """(field -> column index, unknown column names)."""
    columns, unknown = {}, []
    for index, cell in enumerate(header):
        name = known.get(norm_header(cell))
        if name and name not in columns:
            columns[name] = index
        elif str(cell or "").strip():
            unknown.append(str(cell).strip())
    return columns, unknown


def non_blank(rows: Rows) -> list[tuple[int, list]]:
    return [(n, list(cells)) for n, cells in rows if any(cell_text(c) for c in cells)]


def read_rows(data: bytes, filename: str) -> tuple[list[str], Rows]:
    """(header cells, iterator of (row number, cells)) of a CSV file or a workbook's first sheet."""
    sheets = read_sheets(data, filename)
    return next(iter(sheets.values()))


def read_sheets(data: bytes, filename: str) -> dict[str, tuple[list[str], Rows]]:
    """Sheet name -> (header, rows), in the workbook's order; a CSV file is one sheet ("")."""
    name = (filename or "").lower()
    if name.endswith((".xlsx", ".xlsm")) or data[:2] == b"PK":
        return _read_xlsx(data)
    if name.endswith(".xls"):
        raise SpreadsheetError("Old .xls files are not supported; save as .xlsx or .csv")
    return {"": _read_csv(data)}


def sheet_kind(sheet_name: str) -> str:
    """"contacts", "follow_ups", or "opportunities" for any other sheet."""
    key = norm_header(sheet_name)
    for kind, names in SHEET_NAMES.items():
        if key in {norm_header(n) for n in names}:
            return kind
    return "opportunities"


def _read_csv(data: bytes):
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SpreadsheetError("The CSV file is neither UTF-8 nor GB18030 text")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header = next(reader, None)
    if header is None:
        raise SpreadsheetError("The file is empty")
    return header, ((i, row) for i, row in enumerate(reader, start=2))


def _read_xlsx(data: bytes):
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise SpreadsheetError(f"Not a readable XLSX file ({type(exc).__name__})") from exc
    sheets = {}
    for index, sheet in enumerate(workbook.worksheets):
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            if index == 0:
                raise SpreadsheetError("The first sheet is empty")
            continue
        sheets[sheet.title] = ([h if h is not None else "" for h in header],
                               ((i, list(row)) for i, row in enumerate(rows, start=2)))
    return sheets
