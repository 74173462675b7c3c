"""The hash chain over audit events: canonical form, hashing and verification."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

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


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: dict) -> bytes:
    payload = {name: row[name] for name in HASHED}
    if isinstance(payload["occurred_at"], datetime):
        payload["occurred_at"] = format_time(payload["occurred_at"])
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(row: dict) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


_PREV_SLOT = '"prev_hash":"' + "?" * 64 + '"'


def canonical_around_prev(row: dict) -> tuple[str, str]:
    """The canonical form of `row` as the text before and after its prev_hash value, so
    that the database can hash `before || prev || after` with the chain head it has just
    locked (audit.services). The top-level prev_hash is the last one in the text: keys
    are sorted, only `details` (which sorts before it) can nest, and a string value cannot
    hold an unescaped quote."""
    text = canonical({**row, "prev_hash": "?" * 64}).decode()
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
