"""Forms of the org admins' service-account pages. They check shape; the services decide."""

from django import forms
from django.core.exceptions import ValidationError

from . import capabilities
from .forms import SCOPE_CHOICES, DockForm

GRANT_ROLE_CHOICES = [("viewer", "Viewer (read)"), ("editor", "Editor (read, comment, write, delete)")]


class ServiceCreateForm(DockForm):
    name = forms.CharField(
        label="Name", max_length=120,
        help_text="What the automation is, as people will read it in bylines and the audit log: “Nightly digest”.",
    )
    handle = forms.CharField(
        label="Handle", max_length=40, required=False,
        help_text="Optional. Lowercase letters, digits and hyphens; made from the name when empty.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def clean_handle(self):
        return self.cleaned_data["handle"].strip().lower() or None


class GrantForm(DockForm):
    workspace = forms.ChoiceField(label="Workspace", error_messages={"invalid_choice": "Choose a workspace you administer."})
    role = forms.ChoiceField(label="Role", choices=GRANT_ROLE_CHOICES, initial="viewer",
                             error_messages={"invalid_choice": "Service accounts are granted viewer or editor."})

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspaces = {w.slug: w for w in workspaces}
        self.fields["workspace"].choices = [("", "Choose a workspace…")] + [(w.slug, w.name) for w in workspaces]

    def clean_workspace(self):
        return self.workspaces[self.cleaned_data["workspace"]]


class AdoptForm(DockForm):
    owner = forms.ModelChoiceField(
        queryset=None, label="New owner", empty_label="Choose a person…", to_field_name="public_id",
        error_messages={"invalid_choice": "Choose an active person of this org."},
    )
    scope = forms.MultipleChoiceField(
        label="Scope", choices=SCOPE_CHOICES, required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "choices"}),
        help_text="What the agent may do, at most what its owner may do in each workspace.",
    )

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = candidates
        self.fields["owner"].label_from_instance = lambda p: f"{p.display_name} (@{p.handle})"

    def clean_scope(self):
        bits = capabilities.parse(self.cleaned_data["scope"])
        if not bits:
            raise ValidationError("Choose at least one capability.")
        return bits


class OrgRotationForm(DockForm):
    when = forms.ChoiceField(
        label="When the current keys stop working",
        choices=[("grace", "After the grace window"), ("now", "Now")],
        initial="grace", widget=forms.RadioSelect,
        error_messages={"required": "Choose when the current keys stop working.",
                        "invalid_choice": "Choose when the current keys stop working."},
    )
    # The newest rotation the page showed (0: none): a rotation since then refuses this one.
    seen = forms.IntegerField(min_value=0, widget=forms.HiddenInput, error_messages={
        "required": "This form is out of date: open the page again.", "invalid": "This form is out of date: open the page again.",
        "min_value": "This form is out of date: open the page again.",
    })
