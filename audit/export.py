"""Streamed export of audit events as JSON Lines or CSV, in chain order."""

import csv
import io
import json

from .chain import COLUMNS, format_time
from .selectors import json_decoder

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _row_values(row: dict) -> dict:
    values = {name: row[name] for name in COLUMNS}
    values["occurred_at"] = format_time(row["occurred_at"])
    return values


def jsonl_lines(rows):
    for row in rows:
        yield json.dumps(_row_values(row), ensure_ascii=False, separators=(",", ":")) + "\n"


def _csv_cell(value) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")) if isinstance(value, dict) else str(value)
    # A spreadsheet would run a cell that starts like a formula: neutralise it.
    if text.startswith(_FORMULA_START):
        text = "'" + text
    return text


def csv_lines(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        values = _row_values(row)
        writer.writerow([_csv_cell(values[name]) for name in COLUMNS])
        yield buffer.getvalue()


FORMATS = {"jsonl": jsonl_lines, "csv": csv_lines}


# The fast path: chunks of rows straight from the database (tuples in COLUMNS order,
# time already formatted, details as JSON text; see audit.selectors.export_chunks) to
# blocks of text, for streamed responses. Same output, line for line, as jsonl_lines /
# csv_lines above, which the CLI uses.

_encode_jsonl = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_encode_details = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
_DETAILS = COLUMNS.index("details")
# Columns whose text can come from people (names, ids, slugs, a client's request id):
# the rest (times, registered action names, kinds, hex hashes) cannot start a formula.
_FREE_TEXT = tuple(COLUMNS.index(c) for c in (
    "actor_id", "actor_name", "owner_id", "owner_name", "org", "workspace", "target_kind", "target_id",
    "target_name", "request_id", "ip",
))
_FORMULA_CHARS = frozenset(_FORMULA_START)


def jsonl_blocks(chunks):
    encode, decode, names = _encode_jsonl, json_decoder(), COLUMNS
    for rows in chunks:
        lines = []
        for row in rows:
            item = dict(zip(names, row))  # noqa: B905
            item["details"] = decode(row[_DETAILS])
            lines.append(encode(item))
        lines.append("")
        yield "\n".join(lines)


def csv_blocks(chunks):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    decode, free, formula = json_decoder(), _FREE_TEXT, _FORMULA_CHARS
    encoded: dict = {}
    for rows in chunks:
        buffer.seek(0)
        buffer.truncate()
        out = []
        for row in rows:
            row = list(row)
            text = row[_DETAILS]
            cell = encoded.get(text)
            if cell is None:
                value = decode(text)
                cell = _encode_details(value) if isinstance(value, dict) else _csv_cell(value)
                if len(encoded) >= 20_000:
                    encoded.clear()
                encoded[text] = cell
            row[_DETAILS] = cell
            for i in free:
                value = row[i]
                if value and value[0] in formula:
                    row[i] = "'" + value
            out.append(row)
        writer.writerows(out)
        yield buffer.getvalue()


BLOCKS = {"jsonl": jsonl_blocks, "csv": csv_blocks}
CONTENT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}
