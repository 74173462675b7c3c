"""Streamed export of audit events as JSON Lines or CSV, in chain order.

The format has one definition and one implementation that is fast:

- `jsonl_lines` / `csv_lines` define it, row by row in Python over event dicts. They are
  short enough to read as the specification of the files, and the tests hold the fast
  path to them byte for byte.
- `stream(qs, fmt)` is what the web export and `dock audit export` send. The database
  writes each line itself (quoting, escaping, neutralising formulas, formatting the
  time), in two parts around the details; Python only re-encodes the details, once per
  distinct text, with orjson, and joins the parts. A million events stream in seconds,
  in blocks, in constant memory. (CSV on SQLite: see `_sqlite_csv`.)
"""

import csv
import io
import json
from itertools import islice

import orjson
from django.db import connections
from django.db.models import CharField, F, Func
from django.db.models.functions import Cast

from .chain import COLUMNS, format_time, json_text, orjson_exact
from .selectors import ExportTime, json_decoder, stream_rows

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# The definition. -----------------------------------------------------------------------------


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
CONTENT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}


# The implementation: lines written by the database. ------------------------------------------

_DETAILS = COLUMNS.index("details")
# Values Dock itself makes (a time, registered action names, principal kinds, hex hashes):
# never quoted, never a formula.
_FIXED = frozenset({"occurred_at", "action", "actor_kind", "prev_hash", "hash"})
# Columns whose text can come from people (names, ids, slugs; request ids recorded before
# the server made every one its own were a client's).
_FREE_TEXT = frozenset({
    "actor_id", "actor_name", "owner_id", "owner_name", "org", "workspace", "target_kind", "target_id",
    "target_name", "request_id", "ip",
})

# SQL spellings, per database ("code": the code point of the first character).
_SQL = {
    "postgresql": {"code": "ascii({x})", "has": "strpos({x}, {c}) > 0", "chr": "chr({n})", "json": "to_json({x})::text"},
    "sqlite": {"code": "unicode({x})", "has": "instr({x}, {c}) > 0", "chr": "char({n})", "json": "json_quote({x})"},
}
_FORMULA_CODES = ", ".join(str(ord(c)) for c in _FORMULA_START)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Sql(str):
    """An SQL expression among the literal text of a line (see _concat)."""


def _concat(parts: list, vendor: str) -> str:
    """Literal text and `_Sql` expressions, in order, as one SQL text expression. On SQLite
    one printf, which builds the line in one pass where each `||` copies all of it again
    (half as fast); elsewhere `||`, as fast as PostgreSQL's own concatenating functions."""
    if vendor == "sqlite":
        # Doubled once more for Django, which reads `%s` and `%%` in the statement itself.
        template = "".join("%%s" if isinstance(part, _Sql) else part.replace("%", "%%%%") for part in parts)
        arguments = "".join(f", {part}" for part in parts if isinstance(part, _Sql))
        return f"printf({_literal(template)}{arguments})"
    return "(" + " || ".join(part if isinstance(part, _Sql) else _literal(part) for part in parts if part) + ")"


class _LinePart(Func):
    """The columns `names` of an event as the part of an export line they make, written
    by the database (`fmt`: csv or jsonl). Each source expression is one column."""

    output_field = CharField()

    def __init__(self, fmt: str, names: tuple[str, ...], *, lead: str = "", tail: str = "", plain: bool = False):
        """`plain` (csv): the cells as they are when none needs quoting, whatever they hold."""
        self.fmt, self.names, self.lead, self.tail, self.plain = fmt, names, lead, tail, plain
        columns = [ExportTime("occurred_at") if name == "occurred_at" else F(name) for name in names]
        super().__init__(*columns)

    def as_sql(self, compiler, connection, **extra):
        sql = _SQL.get(connection.vendor, _SQL["sqlite"])
        columns = []
        for name, expression in zip(self.names, self.source_expressions, strict=True):
            column, params = compiler.compile(expression)
            if params:  # a column's SQL is repeated below, which parameters would not follow
                raise ValueError(f"export column {name} compiled with parameters")
            columns.append((name, column))
        if self.fmt == "jsonl":  # "key": value, the first one opening the object
            parts = [self.lead]
            for name, x in columns:
                parts += [("{" if name == COLUMNS[0] else ",") + json.dumps(name) + ":", *self._json(name, x, sql)]
            return _concat([*parts, self.tail], connection.vendor), []
        # CSV. Most rows quote no cell: one test over all of the row's text picks, for them,
        # an expression that only neutralises formulas.
        quoting, plain = [self.lead], [self.lead]
        for i, (name, x) in enumerate(columns):
            comma = [","] if i else []
            quoting += [*comma, _Sql(self._csv(name, x, sql))]
            formula = f"CASE WHEN {sql['code'].format(x=x)} IN ({_FORMULA_CODES}) THEN '''' || {x} ELSE {x} END"
            plain += [*comma, _Sql(formula if name in _FREE_TEXT else x)]
        quoting.append(self.tail)
        plain.append(self.tail)
        text = " || ".join(x for name, x in columns if name not in _FIXED)
        if self.plain or not text:
            return _concat(plain, connection.vendor), []
        any_quoted = " OR ".join(sql["has"].format(x=f"({text})", c=c) for c in ("','", "'\"'", sql["chr"].format(n=10)))
        return (f"CASE WHEN {any_quoted} THEN {_concat(quoting, connection.vendor)} "
                f"ELSE {_concat(plain, connection.vendor)} END"), []

    @staticmethod
    def _csv(name: str, x: str, sql: dict) -> str:
        if name in _FIXED:
            return x
        # Python's csv module (QUOTE_MINIMAL, "\n" lines) quotes a cell holding a comma,
        # a double quote or a newline, and doubles the quotes inside.
        needs_quotes = " OR ".join(sql["has"].format(x=x, c=c) for c in ("','", "'\"'", sql["chr"].format(n=10)))
        quoted = "'\"' || {prefix}replace(" + x + ", '\"', '\"\"') || '\"'"
        if name in _FREE_TEXT:
            prefix = f"CASE WHEN {sql['code'].format(x=x)} IN ({_FORMULA_CODES}) THEN '''' ELSE '' END"
            return f"CASE WHEN {needs_quotes} THEN {quoted.format(prefix=prefix + ' || ')} ELSE {prefix} || {x} END"
        return f"CASE WHEN {needs_quotes} THEN {quoted.format(prefix='')} ELSE {x} END"

    @staticmethod
    def _json(name: str, x: str, sql: dict) -> list:
        if name in _FIXED:
            return ['"', _Sql(x), '"']
        return [_Sql(sql["json"].format(x=x))]


def _details_csv(details):
    if isinstance(details, dict):
        text = json_text(details)
    else:
        text = _csv_cell(details)
    if "," in text or '"' in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _details_jsonl(details):
    if orjson_exact(details):
        return orjson.dumps(details).decode()
    return json.dumps(details, ensure_ascii=False, separators=(",", ":"))


_BEFORE, _AFTER = COLUMNS[:_DETAILS], COLUMNS[_DETAILS + 1:]


def stream(qs, fmt: str, *, chunk_size: int = 2000):
    """The events of `qs` in chain order as blocks of text in `fmt` (csv: the header
    first), one block per chunk of rows, exactly as `FORMATS[fmt]` would write them."""
    if fmt == "csv":
        yield ",".join(COLUMNS) + "\n"
        if connections[qs.db].vendor == "sqlite":
            yield from _sqlite_csv(qs, chunk_size)
            return
        head, tail = _LinePart("csv", _BEFORE, tail=","), _LinePart("csv", _AFTER, lead=",")
        cell = _cells(_details_csv)
    else:
        head, tail = _LinePart("jsonl", _BEFORE, tail=',"details":'), _LinePart("jsonl", _AFTER, tail="}")
        cell = _cells(_details_jsonl)
    for rows in stream_rows(_line_parts(qs, head, tail).values_list("_head", "_details", "_tail"), chunk_size):
        yield "".join([f"{line_head}{cell(details)}{line_tail}\n" for line_head, details, line_tail in rows])


def _line_parts(qs, head: _LinePart, tail: _LinePart):
    """`qs` in chain order with the parts of each line: the database's head and tail
    around the details' text."""
    return qs.order_by("id").annotate(_head=head, _details=Cast("details", CharField()), _tail=tail)


def _cells(render):
    """`render` of a details text, decoded, once per distinct text (up to 20,000 at a time)."""
    decode, cells = json_decoder(), {}

    def cell(details: str) -> str:
        text = cells.get(details)
        if text is None:
            if len(cells) >= 20_000:
                cells.clear()
            text = cells[details] = render(decode(details))
        return text

    return cell


# The head ends in a comma, the tail starts with one: a plain line has one per column.
_PLAIN_COMMAS = len(_BEFORE) + len(_AFTER)
_READ_AGAIN = 500  # rows per statement that reads rows again: under any SQLite's limit on parameters


def _sqlite_csv(qs, chunk_size: int):
    """CSV on SQLite, where picking a row's quoting expression costs more than the rest of
    its line (the test reads all of the row's text three times): the database writes the
    line as if no cell needed quoting, formulas neutralised; Python, which counts a line's
    commas and finds a quote or a newline in a fraction of that, checks each line, and
    writes the rows it finds any in by the definition itself, from the rows read again,
    one statement per chunk. SQLite answers it while the first statement streams
    (PostgreSQL's streamed result would not: there the database keeps the choice, and is
    fast enough making it)."""
    head, tail = _LinePart("csv", _BEFORE, tail=",", plain=True), _LinePart("csv", _AFTER, lead=",", plain=True)
    cell = _cells(_details_csv)
    for rows in stream_rows(_line_parts(qs, head, tail).values_list("id", "_head", "_details", "_tail"), chunk_size):
        lines, careful = [], {}
        for event_id, line_head, details, line_tail in rows:
            text = line_head + line_tail
            if text.count(",") != _PLAIN_COMMAS or '"' in text or "\n" in text:
                careful[event_id] = len(lines)
                lines.append("")
            else:
                lines.append(f"{line_head}{cell(details)}{line_tail}\n")
        ids = list(careful)
        for start in range(0, len(ids), _READ_AGAIN):
            batch = ids[start:start + _READ_AGAIN]
            again = list(qs.model.objects.using(qs.db).filter(pk__in=batch).order_by("id").values("id", *COLUMNS))
            for row, line in zip(again, islice(csv_lines(again), 1, None), strict=True):
                lines[careful[row["id"]]] = line
        yield "".join(lines)
