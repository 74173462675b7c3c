"""The audit log's filter form, built with django-filter.

A face module (like audit.views): it resolves what people type — handles, names, public
ids — through identity, then hands `audit.selectors` a plain `EventFilter`. The filter
set's `.qs` is exactly the set the page lists and the export writes.
"""

import re
from datetime import UTC, date, datetime, time, timedelta

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import flatatt
from django.utils.html import escape
from django.utils.safestring import mark_safe

from dock.workspaces.models import Membership, Workspace
from identity.models import Kind, Principal

from . import events as registry
from .models import AuditEvent
from .selectors import EventFilter, visible_events

ACTOR_MATCH_LIMIT = 12
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)
PUBLIC_ID = re.compile(r"^(usr|agt|svc)_[0-9A-Za-z]{4,36}$")
SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")

KIND_CHOICES = [
    ("human", "Human"),
    ("agent", "Agent"),
    ("service", "Service account"),
    ("system", "System"),
    ("unowned", "No accountable human"),
]
RANGE_CHOICES = [
    ("today", "Today"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom dates"),
]


def action_choices() -> list:
    """Grouped like the registry (rendered as <optgroup>s); each group can be picked whole."""
    groups = []
    for group, types in registry.grouped().items():
        options = [(f"{group}.*", f"All {group} events")]
        options += [(t.name, t.name) for t in types]
        groups.append((group.capitalize(), options))
    return groups


def in_log(org_slug: str, **lookups):
    """The principals whose doings an org's auditors read, narrowed by `lookups`: the
    org's own, the other orgs' principals who are members of its workspaces, and their
    agents (who work there through their owners' memberships). For matching what an
    auditor types: one query, a union of (public_id, display_name)."""
    fields = ("public_id", "display_name")
    own = Principal.objects.filter(org__slug=org_slug, **lookups).values_list(*fields)
    members = Principal.objects.filter(memberships__workspace__org__slug=org_slug, **lookups).values_list(*fields)
    agents = Principal.objects.filter(owner__memberships__workspace__org__slug=org_slug, **lookups).values_list(*fields)
    return own.union(members, agents)


def in_org_log(org_slug: str, **fields) -> bool:
    """Whether the org's log holds any event matching `fields` (of EventFilter)."""
    return visible_events(EventFilter(**fields), org=org_slug).exists()


def resolve_actor(text: str, org_slug: str) -> tuple[str, ...]:
    """Public ids for what someone typed into "actor": a public id (also of a principal
    that no longer exists), "system", a handle, or part of a name — of someone in the
    org's log (`in_log`, or anyone who acted in it: `in_org_log`). Any other handle gets
    the answer a made-up one gets: this does not confirm an account the reader cannot see."""
    text = (text or "").strip()
    if not text:
        return ()
    if text.lower() == "system":
        return ("system",)
    if PUBLIC_ID.match(text):
        return (text,)
    handle = text.removeprefix("@").lower()
    found = next(iter(in_log(org_slug, handle=handle)[:1]), None)
    if found is None:  # someone who has since left the org's workspaces, but acted there
        found = Principal.objects.filter(handle=handle).values_list("public_id", "display_name").first()
        if found and not in_org_log(org_slug, actor_ids=(found[0],)):
            found = None
    if found:
        return (found[0],)
    matches = list(in_log(org_slug, display_name__icontains=text).order_by("display_name", "public_id")
                   [: ACTOR_MATCH_LIMIT + 1])
    if not matches:
        raise ValidationError(f"No handle, id or name matches “{text}”.", code="no_match")
    if len(matches) > ACTOR_MATCH_LIMIT:
        raise ValidationError(
            f"“{text}” matches more than {ACTOR_MATCH_LIMIT} principals: type more of the name, or use the handle.",
            code="too_many",
        )
    return tuple(public_id for public_id, _ in matches)


class FastSelect(forms.Select):
    """A <select> written in one pass. Django's template-rendered options cost ~0.1 ms
    each, and an org's list of owners can run to thousands. Same markup otherwise."""

    def render(self, name, value, attrs=None, renderer=None):
        # The plain widget's context (name, value list, attrs): a Select's own would build
        # an option dict per choice first, the very cost this class avoids.
        context = forms.Widget.get_context(self, name, value, attrs)["widget"]
        chosen = {str(v) for v in context["value"] if v is not None}

        def option(value, label) -> str:
            value = "" if value is None else str(value)
            selected = " selected" if value in chosen else ""
            return f'<option value="{escape(value)}"{selected}>{escape(label)}</option>'

        attrs_html = flatatt({k: v for k, v in context["attrs"].items() if v is not False})
        parts = [f'<select name="{escape(name)}"{attrs_html}>']
        for value, label in self.choices:
            if isinstance(label, list | tuple):
                parts.append(f'<optgroup label="{escape(value)}">')
                parts.extend(option(v, text) for v, text in label)
                parts.append("</optgroup>")
            else:
                parts.append(option(value, label))
        parts.append("</select>")
        return mark_safe("".join(parts))  # every value and label above is escaped


class AuditFilterForm(forms.Form):
    """Cross-field rules; `scope_org` and `now` are set by the filter set."""

    scope_org = ""
    now = None

    def clean_actor(self):
        return resolve_actor(self.cleaned_data.get("actor") or "", self.scope_org)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        for name in ("since", "until"):
            day = data.get(name)
            if day and not EARLIEST <= day <= LATEST:
                # Far enough from the calendar's ends that a day's bounds and the chart's
                # window never overflow; nothing is recorded outside these years anyway.
                self.add_error(name, ValidationError(
                    f"Choose a date from {EARLIEST.isoformat()} to {LATEST.isoformat()}.", code="date_out_of_range"))
        if since and until and until < since:
            self.add_error("until", ValidationError("The end date is before the start date.", code="until_before_since"))
        if since and self.now and since > self.now.astimezone(UTC).date() and "since" not in self.errors:
            self.add_error("since", ValidationError(
                "The start date is after today (UTC): no event can match yet.", code="since_in_future"))
        return data


# Fields that apply as soon as they change (the form listens for their change events; see
# templates/audit/index.html). Not the dates: a date typed digit by digit changes at every
# digit that makes it valid (year 2, 20, 202…), and re-rendering the form then would wrest
# the field from the typist. Dates apply with Enter or the Apply button.
AUTO = {"class": "autosubmit"}


class DayField(forms.DateField):
    """A date that names what was typed when it is not one: a date input cannot show
    `2026-02-31` and empties, so "Enter a valid date." under an empty box said nothing."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError as exc:
            if exc.code != "invalid":
                raise
            typed = str(value).strip()
            typed = typed if len(typed) <= 40 else typed[:40] + "…"
            raise ValidationError(f"“{typed}” is not a date: write it as YYYY-MM-DD.", code="invalid") from None


class DayFilter(django_filters.DateFilter):
    field_class = DayField


def _unknown(what: str) -> dict:
    """A select's refusal of a value it does not offer (a hand-edited or stale link)."""
    return {"invalid_choice": f"No such {what}: choose one from the list."}


def _owner_label(name: str, handle: str | None, other_org: str | None) -> str:
    extra = ", ".join(x for x in (f"@{handle}" if handle else "", other_org or "") if x)
    return f"{name} ({extra})" if extra else name


class AuditFilterSet(django_filters.FilterSet):
    actor = django_filters.CharFilter(
        label="Actor", method="_noop", max_length=120,
        widget=forms.TextInput(attrs={"placeholder": "Handle, name or id", "autocomplete": "off", "spellcheck": "false",
                                      **AUTO}),
    )
    kind = django_filters.ChoiceFilter(label="Actor kind", choices=KIND_CHOICES, empty_label="Any kind", method="_noop",
                                       widget=FastSelect(AUTO), error_messages=_unknown("actor kind"))
    owner = django_filters.ChoiceFilter(label="Owner", empty_label="Anyone", method="_noop", widget=FastSelect(AUTO),
                                        error_messages=_unknown("owner in this log"))
    workspace = django_filters.ChoiceFilter(label="Workspace", empty_label="Any workspace", method="_noop",
                                            widget=FastSelect(AUTO), error_messages=_unknown("workspace in this log"))
    action = django_filters.ChoiceFilter(label="Action", empty_label="Any action", method="_noop", widget=FastSelect(AUTO),
                                         error_messages=_unknown("action"))
    range = django_filters.ChoiceFilter(label="Time", choices=RANGE_CHOICES, empty_label="Any time", method="_noop",
                                        widget=FastSelect(AUTO), error_messages=_unknown("time range"))
    since = DayFilter(label="From", method="_noop", widget=forms.DateInput(attrs={"type": "date"}))
    until = DayFilter(label="To", method="_noop", widget=forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = AuditEvent
        fields: list = []
        form = AuditFilterForm

    def __init__(self, data=None, *, org: str, now: datetime | None = None, **kwargs):
        if data is not None and (data.get("since") or data.get("until")):
            preset = data.get("range")
            data = data.copy()
            if not preset:
                data["range"] = "custom"  # dates alone mean a custom range: show it so
            elif preset != "custom":
                # A preset replaces the dates (picking one after custom dates sends both).
                data.pop("since", None)
                data.pop("until", None)
        super().__init__(data, **kwargs)
        self.org = org
        self.now = now or datetime.now(UTC)
        # The org's humans, then the other orgs' humans who are members of its workspaces
        # (their agents work there too, and answer to them): one query, each side indexed.
        fields = ("public_id", "display_name", "handle", "org__slug", "org__name")
        own = Principal.objects.filter(org__slug=org, kind=Kind.HUMAN).values_list(*fields)
        guests = (Principal.objects.filter(kind=Kind.HUMAN, memberships__workspace__org__slug=org)
                  .exclude(org__slug=org).values_list(*fields))
        humans = sorted(own.union(guests), key=lambda h: (h[3] != org, h[1], h[0]))
        same = _duplicates([name for _, name, *_ in humans])  # namesakes show their handle
        self.filters["owner"].extra["choices"] = [
            (pid, _owner_label(name, handle if name in same else None, org_name if slug != org else None))
            for pid, name, handle, slug, org_name in humans
        ]
        wanted = (data or {}).get("owner") or ""
        if wanted not in {pid for pid, *_ in humans} and self._owner_in_log_elsewhere(wanted):
            self.filters["owner"].extra["choices"].append((wanted, self._former_owner_label(wanted)))
        # The org's workspaces, then other orgs' workspaces its principals are members of
        # (what they did there is in this log too), labelled with their org: one query.
        fields = ("slug", "name", "org__slug", "org__name")
        own_ws = Workspace.objects.filter(org__slug=org).values_list(*fields)
        # Members are humans and service accounts: naming the kinds lets the (org, kind)
        # index find them among an org's many agents.
        members = Principal.objects.filter(org__slug=org, kind__in=(Kind.HUMAN, Kind.SERVICE)).values("pk")
        shared = (Workspace.objects.exclude(org__slug=org)
                  .filter(pk__in=Membership.objects.filter(principal__in=members).values("workspace_id"))
                  .values_list(*fields))
        workspaces = sorted(own_ws.union(shared), key=lambda w: (w[2] != org, w[1], w[0]))
        self.filters["workspace"].extra["choices"] = [
            (slug, name if ws_org == org else f"{name} ({org_name})") for slug, name, ws_org, org_name in workspaces
        ]
        self.workspace_names = {slug: name for slug, name, _, _ in workspaces}  # the ones listed
        wanted = (data or {}).get("workspace") or ""
        if wanted not in self.workspace_names and self._in_log_elsewhere(wanted):
            self.filters["workspace"].extra["choices"].append((wanted, self._former_label(wanted)))
        self.filters["action"].extra["choices"] = action_choices()

    def _in_log_elsewhere(self, slug: str) -> bool:
        """Whether `slug` names a workspace that is not (or no longer) listed but has events
        in this org's log: deleted since, or another org's that the org's people have left.
        Asking of a workspace never in the log gets the answer an unknown name gets."""
        return bool(SLUG.match(slug)) and in_org_log(self.org, workspace=slug)

    def _owner_in_log_elsewhere(self, public_id: str) -> bool:
        """Whether `public_id` names a human who is not (or no longer) listed but is the
        accountable owner of events in this org's log: deleted since, or another org's
        member who has left its workspaces. Asking of anyone else gets the answer an
        unknown id gets."""
        return (bool(PUBLIC_ID.match(public_id)) and public_id.startswith("usr_")
                and in_org_log(self.org, owner_id=public_id))

    def _former_owner_label(self, public_id: str) -> str:
        live = Principal.objects.filter(public_id=public_id).values_list("display_name", "org__slug", "org__name").first()
        if live:
            return _owner_label(live[0], None, live[2] if live[1] != self.org else None)
        name = (visible_events(EventFilter(owner_id=public_id), org=self.org).order_by("-occurred_at", "-id")
                .values_list("owner_name", flat=True).first())
        return f"{name or public_id} (deleted)"

    @staticmethod
    def _former_label(slug: str) -> str:
        live = Workspace.objects.filter(slug=slug).values_list("name", "org__name").first()
        return f"{live[0]} ({live[1]})" if live else f"{slug} (deleted)"

    @property
    def form(self):
        if not hasattr(self, "_form"):
            form = super().form
            form.scope_org = self.org
            form.now = self.now
            # A preset replaces the dates (__init__). The page's script greys them out
            # unless Time is "Custom dates" (and before a change of it is sent, so that a
            # preset picked after custom dates is not sent with them); without it they stay
            # open, so that choosing Custom dates and typing them needs one Apply.
            ids = " ".join(form[name].auto_id for name in ("since", "until"))
            form.fields["range"].widget.attrs = {**form.fields["range"].widget.attrs, "data-enables-when": "custom",
                                                 "aria-controls": ids}
        return self._form

    def _noop(self, queryset, name, value):
        return queryset

    def event_filter(self) -> EventFilter:
        """The selector's filter for valid data (call is_valid() first)."""
        data = self.form.cleaned_data
        kind = data.get("kind") or ""
        since = until = None
        preset = data.get("range") or ""
        today = self.now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if preset == "today":
            since = today
        elif preset == "7d":
            since = self.now - timedelta(days=7)
        elif preset == "30d":
            since = self.now - timedelta(days=30)
        else:
            if data.get("since"):
                since = datetime.combine(data["since"], time.min, tzinfo=UTC)
            if data.get("until"):
                until = datetime.combine(data["until"], time.min, tzinfo=UTC) + timedelta(days=1)
        return EventFilter(
            actor_ids=tuple(data.get("actor") or ()),
            actor_kind="" if kind == "unowned" else kind,
            unowned=kind == "unowned",
            owner_id=data.get("owner") or "",
            workspace=data.get("workspace") or "",
            action=data.get("action") or "",
            since=since,
            until=until,
        )

    def filter_queryset(self, queryset):
        if not self.form.is_valid():
            return queryset.none()  # never a broader set because a value was refused
        return visible_events(self.event_filter(), org=self.org)

    @property
    def active(self) -> bool:
        return any(self.data.get(name) for name in self.filters)


def _duplicates(names: list[str]) -> set[str]:
    seen, dup = set(), set()
    for name in names:
        (dup if name in seen else seen).add(name)
    return dup
