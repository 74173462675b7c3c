"""Template helpers for audit rows (a face module: it reads identity to draw faces).

`{% audit_rows events as rows %}` turns a list of events into rows whose actor and
owner can go straight into the principal card: the live principal when it still exists
(one query for the whole list), else a snapshot built from the event's own name and id,
drawn the same way.
"""

import json
import re
from dataclasses import dataclass

from django import template
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from audit.events import describe
from dock.workspaces.models import Workspace
from identity import access
from identity.models import Principal
from identity.selectors import openable_profiles

register = template.Library()


@dataclass
class SnapshotOwner:
    display_name: str
    handle: str = ""


@dataclass
class SnapshotPrincipal:
    """What the principal card needs, from an audit event's snapshot."""

    public_id: str
    display_name: str
    kind: str
    owner: SnapshotOwner | None = None
    handle: str = ""
    status: str = ""
    gone: bool = True

    @property
    def note(self) -> str:
        return "system" if self.kind == "system" else "no longer exists"

    @property
    def avatar_url(self) -> str:
        return reverse("audit-orb", args=[self.public_id or "unknown"])

    def get_status_display(self) -> str:
        return ""


@dataclass
class AuditRow:
    event: object
    actor: object
    owner: object | None
    owner_is_actor: bool
    # Whether the reader may open the actor's and the owner's profiles (audit_rows): a
    # card links only there, not to a page that would answer "No such person here".
    actor_link: bool = False
    owner_link: bool = False

    @property
    def actor_moved(self) -> bool:
        """The actor is an agent owned today by someone other than the owner the event
        names: its card says "now owned by", so the two do not read as a contradiction."""
        owner = getattr(self.actor, "owner", None) if not getattr(self.actor, "gone", False) else None
        return bool(owner and self.event.owner_id and owner.public_id != self.event.owner_id)

    @property
    def details_json(self) -> str:
        return json.dumps(self.event.details, indent=2, ensure_ascii=False, sort_keys=True)

    @property
    def has_details(self) -> bool:
        return bool(self.event.details)


def _snapshot(public_id: str, name: str, kind: str, owner_name: str = "") -> SnapshotPrincipal:
    owner = SnapshotOwner(owner_name) if kind == "agent" and owner_name else None
    return SnapshotPrincipal(public_id=public_id, display_name=name or public_id, kind=kind, owner=owner)


def build_rows(events) -> list[AuditRow]:
    events = list(events)
    ids = {e.actor_id for e in events} | {e.owner_id for e in events if e.owner_id}
    ids.discard("system")
    live = {p.public_id: p for p in Principal.objects.filter(public_id__in=ids).select_related("owner", "org")} if ids else {}
    rows = []
    for e in events:
        actor = live.get(e.actor_id) or _snapshot(e.actor_id, e.actor_name, e.actor_kind, e.owner_name)
        owner_is_actor = bool(e.owner_id) and e.owner_id == e.actor_id
        owner = None
        if e.owner_id and not owner_is_actor:
            owner = live.get(e.owner_id) or _snapshot(e.owner_id, e.owner_name, "human")
        rows.append(AuditRow(event=e, actor=actor, owner=owner, owner_is_actor=owner_is_actor))
    return rows


def _reader(context):
    user = getattr(context.get("request"), "user", None)
    return getattr(user, "principal", None) if getattr(user, "is_authenticated", False) else None


@register.simple_tag(takes_context=True)
def audit_rows(context, events):
    """The rows, each knowing which of its cards may link to a profile the reader can
    open (no reader known: none do)."""
    rows = build_rows(events or [])
    reader = _reader(context)
    live = {p.pk: p for row in rows for p in (row.actor, row.owner) if p is not None and not getattr(p, "gone", False)}
    openable = openable_profiles(reader, live.values()) if reader is not None and live else set()
    for row in rows:
        row.actor_link = getattr(row.actor, "pk", None) in openable
        row.owner_link = row.owner is not None and getattr(row.owner, "pk", None) in openable
    return rows


@dataclass(frozen=True)
class Place:
    name: str
    href: str = ""  # the workspace's page, when the reader can open it


@register.simple_tag(takes_context=True)
def workspace_places(context, events, known=()) -> dict[str, Place]:
    """The workspaces named in `events`, slug to Place: by name, and linked where the
    reader can open it; elsewhere as text, not as a link to a page they would be refused.
    (The feeds that show it are their reader's own, or read by someone who may see these
    events: a workspace's name says no more than its events' targets already do.) One
    deleted since is not here: the row shows the slug its event kept.

    `known`: workspaces the page has already found the reader can open (the dashboard's
    list); only the others are looked up, in one query."""
    user = getattr(context.get("request"), "user", None)
    principal = getattr(user, "principal", None) if getattr(user, "is_authenticated", False) else None
    slugs = {e.workspace for e in events or [] if e.workspace}
    if principal is None or not slugs:
        return {}
    places = {w.slug: Place(w.name, reverse("workspace", args=[w.slug])) for w in known if w.slug in slugs}
    if rest := slugs - places.keys():
        openable = Exists(access.visible_workspaces(principal).filter(pk=OuterRef("pk")))
        for slug, name, can_open in Workspace.objects.filter(slug__in=rest).values_list("slug", "name", openable):
            places[slug] = Place(name, reverse("workspace", args=[slug]) if can_open else "")
    return places


register.filter("action_label", describe)  # "A comment was posted", not comment.created


@register.filter
def place(places: dict, slug: str):
    """`{{ places|place:e.workspace }}`: the workspace as `workspace_places` found it, by
    name, linked where the reader can open it; by the slug its event kept where it is gone."""
    found = places.get(slug) if places and slug else None
    if found is None:
        return slug or ""
    return format_html('<a href="{}">{}</a>', found.href, found.name) if found.href else found.name


@register.simple_tag(takes_context=True)
def audit_card(context, principal, size=24, link=False, moved=False):
    """The principal card component for an audit row — live (with its status chip, and
    linked when `link`: the row's actor_link or owner_link) or a snapshot (not linked,
    with a note) — rendered once per principal per page: a page of one agent's events
    draws its face once, not fifty times. `moved`: the row's actor_moved."""
    gone = getattr(principal, "gone", False)
    link = bool(link) and not gone
    key = (getattr(principal, "public_id", ""), gone, size, link, bool(moved))
    cards = context.render_context.setdefault("audit_cards", {})
    if key not in cards:
        template = context.template.engine.get_template("components/principal_card.html")
        values = {"principal": principal, "size": size}
        values.update({"link": False, "sub": principal.note} if gone else {"show_status": True, "link": link})
        if moved:
            values["owned"] = "now owned by"
        with context.push(**values):
            cards[key] = template.render(context)
    return cards[key]


@register.filter
def compact_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@register.filter
def short_hash(value: str, size: int = 10) -> str:
    return f"{value[:size]}…" if value and len(value) > size else (value or "")


@register.filter
def breakable(code: str):
    """An event code that may wrap after its dots and underscores, and nowhere else
    (`agent.<wbr>elevation_<wbr>removed`): kept on one line, the longest codes pushed
    the log's table wider than the page."""
    return mark_safe(re.sub(r"([._])", r"\1<wbr>", str(escape(code))))  # escaped first
