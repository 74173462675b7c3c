"""Forms of the dashboard's identity pages. They check shape; the services decide."""

from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from . import capabilities
from .avatars import AvatarError, clean_upload
from .errors import ServiceError
from .models import User

# What AUTH_PASSWORD_VALIDATORS check, said once for every password field. (The name is
# not on the account, so the similarity check compares with the email address only.)
PASSWORD_RULES = "At least 10 characters; not a common password, not only digits, not like your email address."

SCOPE_CHOICES = [
    ("read", "Read"),
    ("comment", "Comment"),
    ("write", "Write"),
    ("delete", "Delete (asks for approval)"),
]


def add_service_error(form: forms.Form, error: ServiceError) -> None:
    """Show a service's refusal next to the field it names, or on top of the form."""
    placed = False
    for name, message in (error.fields or {}).items():
        target = {"name": "name", "display_name": "name"}.get(name, name)
        if target in form.fields:
            form.add_error(target, message)
            placed = True
    if not placed:
        form.add_error(None, error.detail)


def focus_first_error(form: forms.Form, fallback: str | None = None) -> None:
    """Autofocus the first field with an error (else `fallback`): a form swapped in place
    replaces the button that sent it, and keyboard focus goes to what needs mending."""
    first = next((name for name in form.fields if form.has_error(name)), fallback)
    if first:
        for field in form.fields.values():  # a field focused on a fresh form (the first) gives way
            field.widget.attrs.pop("autofocus", None)
        form.fields[first].widget.attrs["autofocus"] = True


class DockForm(forms.Form):
    """Labels stand on their own line: no trailing colon."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class SignupForm(DockForm):
    org_name = forms.CharField(label="Organisation name", max_length=120, widget=forms.TextInput(attrs={"autocomplete": "organization"}))
    name = forms.CharField(label="Your name", max_length=120, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=PASSWORD_RULES,
    )

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()

    def clean(self):
        cleaned = super().clean()
        password, email = cleaned.get("password"), cleaned.get("email")
        if password:
            try:
                validate_password(password, User(email=email or ""))
            except ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class LoginForm(DockForm):
    email = forms.CharField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()

    def refuse(self, message: str) -> None:
        """A refusal of the pair, not of one field: said above both (login-error) and tied
        to both, with focus on the password, the one to type again."""
        self.add_error(None, message)
        for field in self.fields.values():
            field.widget.attrs.update({"aria-invalid": "true", "aria-describedby": "login-error"})
        focus_first_error(self, fallback="password")


class AgentForm(DockForm):
    name = forms.CharField(label="Name", max_length=120, help_text="Shown wherever the agent acts, like a person's name.")
    avatar = forms.FileField(
        label="Avatar",
        required=False,
        help_text="Optional. PNG, JPEG, WebP or GIF, at most 2 MB. Without one, the agent gets an orb.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp,image/gif"}),
    )
    scope = forms.MultipleChoiceField(
        label="Scope",
        choices=SCOPE_CHOICES,
        initial=["read"],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "choices"}),
        help_text="What the agent may do, at most what you may do in each workspace. Start small: read only.",
        error_messages={"required": "Choose at least one capability."},
    )

    def clean_avatar(self):
        upload = self.cleaned_data.get("avatar")
        if not upload:
            return None
        try:
            clean_upload(upload)
        except AvatarError as exc:
            raise ValidationError(str(exc)) from None
        upload.seek(0)
        return upload

    def clean_scope(self):
        return capabilities.parse(self.cleaned_data["scope"])


class AgentScopeForm(DockForm):
    scope = forms.MultipleChoiceField(choices=SCOPE_CHOICES, error_messages={"required": "Choose at least one capability."})

    def clean_scope(self):
        return capabilities.parse(self.cleaned_data["scope"])


class TransferForm(DockForm):
    owner = forms.ModelChoiceField(queryset=None, label="New owner", empty_label="Choose a person…", to_field_name="public_id")

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = candidates
        self.fields["owner"].label_from_instance = lambda p: f"{p.display_name} (@{p.handle})"


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Django's checks (old password, two matching new ones, validators); the service saves.

    `lockout`: set by the view when the account is locked (identity.throttle): the current
    password is then not checked at all, and this is its error."""

    lockout = ""

    def clean_old_password(self):
        if self.lockout:
            raise ValidationError(self.lockout, code="throttled")
        return super().clean_old_password()

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        # It sits on the profile page: it must not steal the focus.
        self.fields["old_password"].widget.attrs.pop("autofocus", None)
        self.fields["old_password"].label = "Current password"
        self.fields["new_password1"].help_text = PASSWORD_RULES
        self.fields["new_password2"].label = "New password again"
        self.fields["new_password2"].help_text = ""

    def save(self, commit=True):  # pragma: no cover - the view calls the service instead
        raise NotImplementedError("Use identity.services.users.user_set_password.")
