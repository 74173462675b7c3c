import re
import unicodedata

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.text import slugify

from audit import events
from audit.services import record

from ..avatars import AvatarError, clean_upload
from ..errors import Conflict, InvalidInput
from ..ids import new_public_id
from ..models import ID_PREFIX, Kind, Org, Principal, Status, handle_validator

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SPACING_CONTROLS = re.compile(r"[\t\n\v\f\r\x1c-\x1f\x85]+")


def without_controls(text: str) -> str:
    """`text` without control or bidi characters. Those that separate words (tabs, line
    breaks) become a space: dropped, "Alice\tAdams" read as "AliceAdams"."""
    return _CONTROL.sub("", _SPACING_CONTROLS.sub(" ", text))


# Letters and marks that draw nothing (Hangul fillers, a blank braille cell, joiners and
# variation selectors), besides spaces and the control and format characters.
_BLANK = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0").union(
    map(chr, range(0x180B, 0x1810)), map(chr, range(0xFE00, 0xFE10)), map(chr, range(0xE0100, 0xE01F0))
)


def shows_text(text: str) -> bool:
    """Whether `text` shows anything: not only spaces, controls, format marks (zero-width
    characters, bidi marks, soft hyphens) and characters that draw nothing (_BLANK)."""
    return any(not char.isspace() and char not in _BLANK and unicodedata.category(char) not in ("Cc", "Cf") for char in text)


def clean_display_name(name: str) -> str:
    """Names are shown everywhere and exported to CSV: no control or bidi characters, and
    something to see (a name of zero-width spaces named nobody anyone could tell apart)."""
    name = without_controls(name or "").strip()
    name = re.sub(r"\s+", " ", name)
    if not shows_text(name):
        raise InvalidInput("A name is required.", fields={"name": "A name is required."})
    if len(name) > 120:
        raise InvalidInput("Names are at most 120 characters.", fields={"name": "At most 120 characters."})
    return name


# The stem of a handle for a name with no ASCII letters or digits ("🤖🤖", "!!!", and names in
# other scripts, which slugify drops): what it is.
_KIND_STEM = {"human": "person", "agent": "agent", "service": "service"}


def free_handle(base: str, kind: str = "") -> str:
    stem = slugify(base)[:34].strip("-") or _KIND_STEM.get(kind, "principal")
    if len(stem) < 2:
        stem = f"{stem}-x"
    candidate, n = stem, 1
    while Principal.objects.filter(handle=candidate).exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def check_handle(handle: str) -> str:
    handle = handle.strip().lower()
    try:
        handle_validator(handle)
    except ValidationError as exc:
        raise InvalidInput(exc.messages[0], fields={"handle": exc.messages[0]}) from None
    if Principal.objects.filter(handle=handle).exists():
        raise Conflict(f"The handle {handle!r} is taken.", fields={"handle": "That handle is taken."})
    return handle


def named(principals: QuerySet, name: str) -> QuerySet:
    """Those of `principals` a name names: called so in any case, and not revoked (a
    revoked one's name is free again). Handles, never reused, name the revoked too."""
    return principals.filter(display_name__iexact=name).exclude(status=Status.REVOKED)


def principal_build(*, kind: str, org: Org, display_name: str, handle: str | None = None, **fields) -> Principal:
    """Create the principal row; callers own the transaction and the audit event.

    A handle made from the name is the first one free when asked; another transaction may
    be taking the same one (two "Scout"s created at once). Its insert then waits for that
    one and fails on the unique index: the next free handle is taken instead. A handle
    asked for by name is refused as taken."""
    display_name = clean_display_name(display_name)
    chosen = check_handle(handle) if handle else free_handle(display_name, kind)
    for _attempt in range(5):
        try:
            with transaction.atomic():  # a savepoint: the caller's transaction goes on
                return Principal.objects.create(
                    public_id=new_public_id(ID_PREFIX[kind]), kind=kind, org=org, display_name=display_name,
                    handle=chosen, **fields,
                )
        except IntegrityError:
            if not Principal.objects.filter(handle=chosen).exists():
                raise
            if handle:
                raise Conflict(f"The handle {chosen!r} is taken.", fields={"handle": "That handle is taken."}) from None
            chosen = free_handle(display_name, kind)
    raise Conflict("Could not find a free handle; try again.")


def locked_principal(principal: Principal) -> Principal:
    """`principal` read again, its row locked until commit (FOR NO KEY UPDATE: rows that
    point at it, its documents and keys, can still be created meanwhile). For a change
    that rests on the principal's kind, status or owner: a revocation, adoption or
    transfer that commits first is seen here, and one that comes later waits for it."""
    return (
        Principal.objects.select_for_update(no_key=True, of=("self",))
        .select_related("org", "owner").get(pk=principal.pk)
    )


def locked_active_human(principal: Principal) -> Principal | None:
    """`principal` read again and row-locked until commit, or None if it is no longer an
    active human. For the transaction that gives a human an agent: a deactivation that
    commits first is seen here, and one that comes later waits for this transaction, then
    suspends the new agent with the human's others."""
    locked = Principal.objects.select_for_update(of=("self",)).select_related("org").get(pk=principal.pk)
    return locked if locked.kind == Kind.HUMAN and locked.status == Status.ACTIVE else None


def store_avatar(principal: Principal, upload) -> None:
    try:
        png = clean_upload(upload)
    except AvatarError as exc:
        raise InvalidInput(str(exc), fields={"avatar": str(exc)}) from None
    from django.core.files.base import ContentFile

    from ..ids import random_base62

    principal.avatar.save(f"{principal.public_id}-{random_base62(8)}.png", ContentFile(png), save=False)


def principal_update_profile(*, actor, principal: Principal, display_name: str | None = None, avatar=None) -> Principal:
    with transaction.atomic():
        changed = {}
        if display_name is not None:
            new_name = clean_display_name(display_name)
            if new_name != principal.display_name:
                changed["display_name"] = {"from": principal.display_name, "to": new_name}
                principal.display_name = new_name
        if avatar is not None:
            store_avatar(principal, avatar)
            changed["avatar"] = "uploaded"
        if not changed:
            return principal
        principal.save(update_fields=["display_name", "avatar"])
        record(events.PRINCIPAL_PROFILE_UPDATED, actor=actor, target=principal, details=changed)
    return principal
