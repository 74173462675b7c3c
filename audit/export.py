"""Streamed export of audit events as JSON Lines or CSV, in chain order."""

import csv
import io
import json

from .chain import COLUMNS, format_time

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
