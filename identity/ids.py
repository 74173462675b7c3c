import secrets
import string

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_public_id(prefix: str) -> str:
    """Opaque, never a primary key: `usr_…`, `agt_…`, `svc_…`, `doc_…`."""
    return f"{prefix}_{random_base62(16)}"
