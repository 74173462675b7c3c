"""Forms for the workspace pages. They check shape only; the services decide the rest and
their errors come back onto the fields (`add_service_error`)."""

from datetime import UTC, datetime, timedelta

from django import forms
from django.utils.text import slugify

from identity.errors import ServiceError
from identity.forms import PASSWORD_RULES

from .models import Role, Visibility
from .services import BODY_MAX, COMMENT_MAX, DESCRIPTION_MAX, RESERVED_SLUGS, TITLE_MAX, shows_text


def add_service_error(form: forms.Form, exc: ServiceError) -> None:
    """Put a service's refusal next to the field it is about, or on top of the form."""
    placed = False
    for name, message in (exc.fields or {}).items():
        if name in form.fields:
            form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, exc.detail)


class Form(forms.Form):
    """Labels without a trailing colon, as the rest of the dashboard writes them."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class WorkspaceSettingsForm(Form):
    """What a workspace admin can change later: everything but the slug (the address)."""

    name = forms.CharField(max_length=TITLE_MAX)
    visibility = forms.ChoiceField(
        choices=Visibility.choices, initial=Visibility.MEMBERS, widget=forms.RadioSelect,
        help_text="Org visibility lets everyone in your org read (and their agents, if their scope allows).",
    )
    restricted = forms.BooleanField(
        required=False, label="Restricted",
        help_text="Members' agents get no access here until a workspace admin elevates each one (with org visibility, the org's agents can still read).",
    )
    description = forms.CharField(
        max_length=DESCRIPTION_MAX, required=False, help_text="Optional: one line on what this workspace is for.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class WorkspaceForm(WorkspaceSettingsForm):
    slug = forms.SlugField(
        max_length=64, required=False,
        help_text="The workspace's address: /w/your-slug/. Lowercase letters, digits, hyphens and underscores; leave it blank to derive one from the name.",
        error_messages={"invalid": "Use lowercase letters, digits, hyphens and underscores."},
    )
    field_order = ["name", "slug", "visibility", "restricted", "description"]

    def clean_slug(self):
        slug = (self.cleaned_data.get("slug") or "").strip().lower()
        if not slug:
            name = (self.data.get("name") or "").strip()
            if not name:
                return ""  # the name's own error says what is missing; a slug follows from it
            slug = slugify(name)[:64].strip("-")
            if not slug:
                raise forms.ValidationError("Choose a slug: the name has no letters or digits to derive one from.")
        if slug in RESERVED_SLUGS:
            raise forms.ValidationError(f"“{slug}” is reserved; choose another slug.")
        return slug


class DocumentForm(Form):
    title = forms.CharField(max_length=TITLE_MAX)
    body = forms.CharField(required=False, max_length=BODY_MAX, strip=False, widget=forms.Textarea(attrs={"rows": 16}))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def version(updated_at: datetime) -> int:
    """A document's updated_at as whole microseconds: the edit form's `seen`."""
    return (updated_at - _EPOCH) // _MICROSECOND


class DocumentEditForm(DocumentForm):
    """The document as the editor opened it, with `seen`, the version it was at: a save
    someone made since is a conflict to show, not text to overwrite (services.EditConflict)."""

    seen = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0,
                              max_value=version(datetime(9999, 12, 31, tzinfo=UTC)))

    def __init__(self, data=None, *, document):
        super().__init__(data, initial={"title": document.title, "body": document.body, "seen": version(document.updated_at)})

    def clean_seen(self) -> datetime | None:
        seen = self.cleaned_data["seen"]
        return None if seen is None else _EPOCH + seen * _MICROSECOND

    def saw(self, document) -> None:
        """Take in `document`'s newer version: saving again replaces it, knowingly."""
        self.data = self.data.copy()
        self.data["seen"] = version(document.updated_at)


class NewDocumentForm(DocumentForm):
    """The short form beside the document list; the body can grow later."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["body"].widget.attrs["rows"] = 5


class CommentForm(Form):
    body = forms.CharField(
        label="Comment", max_length=COMMENT_MAX, strip=False, widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Write something first."},  # as for a comment that shows nothing
    )

    def clean_body(self):
        body = self.cleaned_data["body"]
        if not shows_text(body):
            raise forms.ValidationError("Write something first.")
        return body


class InviteForm(Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EDITOR)


class RoleForm(Form):
    role = forms.ChoiceField(choices=Role.choices)


class InviteSignupForm(Form):
    """A new person joining through an invitation: the email is the invited one, fixed."""

    name = forms.CharField(label="Your name", max_length=120, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    password = forms.CharField(
        label="Password", strip=False, max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=PASSWORD_RULES,
    )
