"""Capabilities are bits, so that role ∩ scope is one AND in Python or in SQL."""

READ = 1
COMMENT = 2
WRITE = 4
DELETE = 8
MANAGE = 16  # members, invitations, grants, elevations: never in an agent's scope

NAMES = {"read": READ, "comment": COMMENT, "write": WRITE, "delete": DELETE, "manage": MANAGE}
SCOPE_NAMES = ("read", "comment", "write", "delete")
AGENT_SCOPE_MASK = READ | COMMENT | WRITE | DELETE


class UnknownCapability(ValueError):
    pass


def parse(text: str | list[str] | tuple[str, ...], *, allowed=SCOPE_NAMES) -> int:
    """'read,write' → READ|WRITE; an unknown name is an error, never silently dropped."""
    names = text.split(",") if isinstance(text, str) else list(text)
    bits = 0
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name not in allowed:
            raise UnknownCapability(f"unknown capability {raw.strip()!r} (choose from {', '.join(allowed)})")
        bits |= NAMES[name]
    return bits


def names(bits: int) -> list[str]:
    return [name for name, bit in NAMES.items() if bits & bit]
