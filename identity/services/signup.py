"""Sign-up: a new org and its first human, its owner, in one transaction."""

from django.db import transaction
from django.utils.text import slugify

from audit.refs import SYSTEM
from audit.services import batch

from ..models import Org, OrgRole, User
from .users import org_create, user_create


def free_org_slug(name: str) -> str:
    stem = slugify(name)[:56].strip("-") or "org"
    candidate, n = stem, 1
    while Org.objects.filter(slug=candidate).exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def org_signup(*, org_name: str, name: str, email: str, password: str) -> User:
    """Create the org (by the system: nobody exists yet to do it) and its owner, who is
    the actor of their own `human.created`. Either both exist afterwards or neither.
    Raises the services' errors: Conflict on `email` when the address is registered.
    Its events are appended at the end (batch): the audit head is the last lock a writer
    takes, and the owner's row may wait on a handle another transaction is inserting."""
    with transaction.atomic(), batch():
        org = org_create(actor=SYSTEM, slug=free_org_slug(org_name), name=org_name)
        return user_create(actor=None, email=email, org=org, display_name=name, role=OrgRole.OWNER, password=password)
