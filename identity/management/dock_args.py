"""What the operator typed into `manage.py dock …`, read: an org, a user, a workspace or a
principal looked up the way the pages name them, a scope, a time, an audit filter.
Whatever names nothing is refused (CommandError: one line on stderr, exit 1)."""

import re
from datetime import UTC, date, datetime, timedelta

from django.core.management.base import CommandError as Refusal
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.selectors import filtered_events
from dock.workspaces.models import Workspace
from identity import capabilities
from identity.models import Kind, Org, Principal, User
from identity.services.principals import named


def org(slug: str) -> Org:
    org = Org.objects.filter(slug=slug.strip().lower()).first()
    if org is None:
        raise Refusal(f"no org with the slug {slug!r}")
    return org


def user(email: str) -> User:
    user = User.objects.filter(email=(email or "").strip().lower()).first()
    if user is None:
        raise Refusal(f"no user with the email {email!r}")
    return user


def workspace(slug: str) -> Workspace:
    workspace = Workspace.objects.select_related("org").filter(slug=slug.strip().lower()).first()
    if workspace is None:
        raise Refusal(f"no workspace with the slug {slug!r}")
    return workspace


def principal(handle: str, kind: str) -> Principal:
    """A public id, a handle (with or without its @, in any case, as the pages show it), or
    for a service account its name (any case). A text that could mean two accounts is
    refused, naming their ids: `service revoke alpha` must not revoke one org's @alpha when
    another org's account is called "alpha", nor, once @alpha is revoked, the other one.
    A revoked account's name no longer names it; its handle always does (never reused)."""
    text = handle.strip()
    qs = Principal.objects.select_related("org", "owner").filter(kind=kind)
    by_id = qs.filter(public_id=text).first()
    if by_id is not None:
        return by_id
    found = qs.filter(handle=text.removeprefix("@").lower()).first()
    if kind == Kind.SERVICE and not text.startswith("@"):
        others = [p for p in named(qs, text).order_by("id")[:10] if found is None or p.pk != found.pk]
        candidates = ([found] if found else []) + others
        if len(candidates) > 1:
            ids = ", ".join(f"{p.public_id} (@{p.handle} of {p.org.slug})" for p in candidates)
            raise Refusal(f"{text!r} could be more than one service account: give its id, one of {ids}")
        found = candidates[0] if candidates else None
    if found is None:
        noun = "agent" if kind == Kind.AGENT else "service account"
        raise Refusal(f"no {noun} {handle!r}")
    return found


def scope(text: str) -> int:
    try:
        return capabilities.parse(text)
    except capabilities.UnknownCapability as exc:
        raise Refusal(str(exc)) from None


def when(text: str | None, name: str, *, end: bool = False):
    """An ISO time, or a date: its start, or with `end` the start of the day after it (an
    end is exclusive, and a date as an end takes in its whole day, as the audit log's
    "To" does)."""
    if not text:
        return None
    day = None
    try:
        day = parse_date(text)  # first: parse_datetime reads a date as its midnight
        value = datetime(day.year, day.month, day.day) if day is not None else parse_datetime(text)
    except ValueError:
        value = None
    if value is None:
        raise Refusal(f"{name}: {text!r} is not an ISO date or time")
    if day is not None and end:
        if day == date.max:
            raise Refusal(f"{name}: {text!r} is out of range")
        value += timedelta(days=1)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # an offset that pushes it past the calendar's ends
        raise Refusal(f"{name}: {text!r} is out of range") from None


PUBLIC_ID = re.compile(r"^(usr|agt|svc)_[0-9A-Za-z]{4,36}$")


def actor_id(text: str) -> str:
    """What `--actor` names, read as the audit log's Actor box reads it: "system", a handle
    (with or without its @, in any case), or a public id (also of a principal that no
    longer exists: its events keep it)."""
    text = text.strip()
    if text.lower() == "system":
        return "system"
    found = Principal.objects.filter(handle=text.removeprefix("@").lower()).values_list("public_id", flat=True).first()
    if found:
        return found
    if PUBLIC_ID.match(text):
        return text
    raise Refusal(f"no principal with the handle or id {text!r}")


def owner_id(text: str) -> str:
    """What `--owner` names: a human by email, handle or public id (also one deleted since
    who is the accountable owner of events: the log keeps their id), as the audit log's
    Owner list offers them."""
    text = text.strip()
    if "@" in text.removeprefix("@"):
        return user(text).principal.public_id
    humans = Principal.objects.filter(kind=Kind.HUMAN)
    found = humans.filter(handle=text.removeprefix("@").lower()).values_list("public_id", flat=True).first()
    if found:
        return found
    if text.startswith("usr_") and PUBLIC_ID.match(text) and (
        humans.filter(public_id=text).exists() or filtered_events(owner_id=text).exists()
    ):
        return text
    raise Refusal(f"no human with the email, handle or id {text!r}")


def workspace_slug(text: str) -> str:
    """What `--workspace` names: a workspace's slug, or one deleted since that the log
    still names. Any other would silently match nothing."""
    slug = text.strip().lower()
    if Workspace.objects.filter(slug=slug).exists() or filtered_events(workspace=slug).exists():
        return slug
    raise Refusal(f"no workspace with the slug {text!r}, and none by it in the audit log")
