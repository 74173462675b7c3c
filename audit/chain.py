"""The hash chain over audit events: canonical form, hashing and verification."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

GENESIS = "0" * 64

# Export columns, in the order SPEC fixes. The hash covers every column before it.
COLUMNS = (
    "occurred_at",
    "action",
    "actor_id",
    "actor_kind",
    "actor_name",
    "owner_id",
    "owner_name",
    "org",
    "workspace",
    "target_kind",
    "target_id",
    "target_name",
    "details",
    "request_id",
    "ip",
    "prev_hash",
    "hash",
)
HASHED = COLUMNS[:-1]
_TEXT = tuple(name for name in HASHED if name != "details")


def format_time(value: datetime) -> str:
    value = value.astimezone(UTC)
    if value.year < 1000:  # isoformat pads the year to four digits; strftime does not
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def orjson_exact(value) -> bool:
    """Whether orjson writes `value` byte for byte as the json module does (sorted keys,
    no spaces, ensure_ascii=False): plain JSON only. Not floats (orjson writes 1e-05 as
    0.00001), integers past 64 bits (it refuses them), keys that are not strings (json
    converts them), nor anything json refuses and orjson would write (a datetime)."""
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**64
    if isinstance(value, dict):
        return all(isinstance(key, str) and orjson_exact(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return all(orjson_exact(item) for item in value)
    return False


def json_text(value, *, exact: bool | None = None) -> str:
    """`value` as compact JSON with sorted keys, as json.dumps writes it; orjson writes the
    same bytes ten times faster when it can (`exact`: see orjson_exact)."""
    if orjson_exact(value) if exact is None else exact:
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:
            pass  # a lone surrogate: json writes it, and encoding the text fails later
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical_text(row: dict) -> str:
    payload = {name: row[name] for name in HASHED}
    if isinstance(payload["occurred_at"], datetime):
        payload["occurred_at"] = format_time(payload["occurred_at"])
    # Every column but the details is text: checking just those is the fast way to ask.
    exact = orjson_exact(payload["details"]) and all(type(payload[name]) is str for name in _TEXT)
    return json_text(payload, exact=exact)


def canonical(row: dict) -> bytes:
    return _canonical_text(row).encode()


def compute_hash(row: dict) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


def sha256_hex(text: str) -> str:
    """The hash of a canonical form given as text: what the databases compute when they
    link an event to the head (audit.services), on SQLite through this very function."""
    return hashlib.sha256(text.encode()).hexdigest()


_PREV_SLOT = '"prev_hash":"' + "?" * 64 + '"'


def canonical_around_prev(row: dict) -> tuple[str, str]:
    """The canonical form of `row` as the text before and after its prev_hash value, so
    that the database can hash `before || prev || after` with the chain head it has just
    locked (audit.services). The top-level prev_hash is the last one in the text: keys
    are sorted, only `details` (which sorts before it) can nest, and a string value cannot
    hold an unescaped quote."""
    text = _canonical_text({**row, "prev_hash": "?" * 64})
    before, slot, after = text.rpartition(_PREV_SLOT)
    assert slot, "the canonical form always holds prev_hash"
    return before + '"prev_hash":"', '"' + after


@dataclass
class VerifyResult:
    ok: bool
    count: int
    head: str
    bad_event_id: int | None = None
    reason: str = ""


def verify(rows, *, expected_count: int | None = None, expected_head: str | None = None) -> VerifyResult:
    """Walk `rows` (dicts with `id` and every column, in chain order) and recompute the chain."""
    prev = GENESIS
    count = 0
    for row in rows:
        if row["prev_hash"] != prev:
            return VerifyResult(False, count, prev, row["id"], "prev_hash does not match the event before it")
        if compute_hash(row) != row["hash"]:
            return VerifyResult(False, count, prev, row["id"], "hash does not match the event's contents")
        prev = row["hash"]
        count += 1
    if expected_count is not None and (expected_count != count or expected_head != prev):
        return VerifyResult(
            False, count, prev, None, f"chain head says {expected_count} events ending {expected_head}, found {count}"
        )
    return VerifyResult(True, count, prev)
