"""Principals — humans, agents and service accounts share one profile shape — and their credentials."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from audit.refs import ActorRef, TargetRef

from . import capabilities

handle_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$",
    "Handles use lowercase letters, digits and single hyphens (2–40 characters).",
)


class Org(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name

    def audit_target(self) -> TargetRef:
        return TargetRef("org", self.slug, self.name, self.slug)


class Kind(models.TextChoices):
    HUMAN = "human", "Human"
    AGENT = "agent", "Agent"
    SERVICE = "service", "Service account"


class Status(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    SUSPENDED = "suspended", "Suspended"
    REVOKED = "revoked", "Revoked"
    DEACTIVATED = "deactivated", "Deactivated"


ID_PREFIX = {Kind.HUMAN: "usr", Kind.AGENT: "agt", Kind.SERVICE: "svc"}


class Principal(models.Model):
    """Everyone who can act: the row every attribution points at."""

    public_id = models.CharField(max_length=40, unique=True, editable=False)
    handle = models.CharField(max_length=40, unique=True, validators=[handle_validator])
    display_name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="principals")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Agents only, while suspended: the status the owner's deactivation took it from
    # (active or paused). Restoring returns it there: an owner's pause outlives the suspension.
    suspended_from = models.CharField(max_length=16, blank=True, default="")
    # Agents only: a bit set of capabilities (see identity.capabilities).
    scope = models.PositiveSmallIntegerField(default=0)
    # Agents only, and required for them: deleting the owner deletes their agents.
    owner = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="agents"
    )
    avatar = models.FileField(upload_to="avatars/", blank=True)
    bio = models.CharField(max_length=280, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind="agent", owner__isnull=False) | (~models.Q(kind="agent") & models.Q(owner__isnull=True))),
                name="principal_agent_has_owner",
            ),
            models.CheckConstraint(condition=models.Q(kind__in=["human", "agent", "service"]), name="principal_kind_valid"),
        ]
        indexes = [models.Index(fields=["org", "kind", "display_name"], name="principal_org_kind_name")]

    def __str__(self):
        return self.display_name

    def get_absolute_url(self) -> str:
        return reverse("profile", args=[self.handle])

    @property
    def is_human(self) -> bool:
        return self.kind == Kind.HUMAN

    @property
    def is_agent(self) -> bool:
        return self.kind == Kind.AGENT

    @property
    def is_service(self) -> bool:
        return self.kind == Kind.SERVICE

    @property
    def is_active(self) -> bool:
        return self.status == Status.ACTIVE

    @property
    def scope_names(self) -> list[str]:
        return capabilities.names(self.scope)

    @property
    def avatar_url(self) -> str:
        url = reverse("avatar", args=[self.public_id])
        if self.avatar:
            # Uploaded avatars change under the same id: bust caches by file name.
            return f"{url}?v={self.avatar.name.rsplit('/', 1)[-1][:16]}"
        return url

    def audit_actor(self) -> ActorRef:
        if self.kind == Kind.HUMAN:
            owner_id, owner_name = self.public_id, self.display_name
        elif self.kind == Kind.AGENT:
            owner_id, owner_name = self.owner.public_id, self.owner.display_name
        else:
            owner_id = owner_name = ""
        return ActorRef(self.public_id, self.kind, self.display_name, owner_id, owner_name, self.org.slug)

    def audit_target(self) -> TargetRef:
        return TargetRef(self.kind, self.public_id, self.display_name, self.org.slug)


class UserManager(BaseUserManager):
    use_in_migrations = False

    def get_queryset(self):
        # A user is never useful without its principal: session auth loads both at once.
        return super().get_queryset().select_related("principal", "principal__org")

    def get_by_natural_key(self, username):
        return self.get(email=self.normalize_email(username).lower())

    def create_superuser(self, email, password=None, **extra):
        raise NotImplementedError("Use `manage.py dock user create EMAIL --org SLUG --role owner`.")


class OrgRole(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    AUDITOR = "auditor", "Auditor"


class User(AbstractBaseUser, PermissionsMixin):
    """A human's login. Who they are lives on their principal."""

    principal = models.OneToOneField(Principal, on_delete=models.CASCADE, related_name="user")
    email = models.EmailField(unique=True)
    org_role = models.CharField(max_length=16, choices=OrgRole.choices, default=OrgRole.MEMBER)
    is_staff = models.BooleanField(default=False)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self):
        return self.email

    @property
    def is_active(self) -> bool:
        # The principal's status is the one truth; deactivation ends sessions at once
        # because every request's user load checks it.
        return self.principal.status == Status.ACTIVE

    @property
    def is_org_admin(self) -> bool:
        return self.org_role in (OrgRole.OWNER, OrgRole.ADMIN)

    @property
    def can_audit(self) -> bool:
        return self.org_role in (OrgRole.OWNER, OrgRole.ADMIN, OrgRole.AUDITOR)

    def get_full_name(self):
        return self.principal.display_name

    def get_short_name(self):
        return self.principal.display_name.split(" ")[0]


class ApiKey(models.Model):
    """An API key: only its public prefix and a keyed hash are kept."""

    principal = models.ForeignKey(Principal, on_delete=models.CASCADE, related_name="keys")
    prefix = models.CharField(max_length=8, unique=True)
    digest = models.CharField(max_length=64, blank=True)  # blank once destroyed
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=40, blank=True)  # public id of who issued it
    expires_at = models.DateTimeField(null=True, blank=True)  # set when rotated: end of grace
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces")

    class Meta:
        indexes = [models.Index(fields=["principal", "revoked_at"], name="apikey_principal_live")]

    def __str__(self):
        return f"dock_{self.prefix}_…"

    @property
    def display(self) -> str:
        return f"dock_{self.prefix}_…"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and bool(self.digest) and (self.expires_at is None or self.expires_at > now)

    @property
    def is_current(self) -> bool:
        return self.revoked_at is None and self.expires_at is None

    def state_at(self, now) -> str:
        """current | grace (rotated, still working) | expired | revoked, as pages show it."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is None:
            return "current"
        return "grace" if self.expires_at > now else "expired"

    def audit_target(self) -> TargetRef:
        return TargetRef("api_key", self.prefix, self.display)
