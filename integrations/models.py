"""Workspaces and their connection to Pinterest."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import models
from django.utils import timezone

from integrations import crypto

WORKSPACE_SLUG_MAX_LENGTH = 50


def validate_workspace_slug(value: object) -> None:
    """A workspace slug is what Django's slug URLs take: ASCII letters, digits, - and _, 1 to 50 characters.

    It is part of every workspace page's URL (/pinterest/<slug>/): a slug
    those URLs cannot hold would break every page that links to it.
    """
    if not isinstance(value, str) or not 0 < len(value) <= WORKSPACE_SLUG_MAX_LENGTH:
        raise ValidationError(
            f"A workspace slug is 1 to {WORKSPACE_SLUG_MAX_LENGTH} characters.", code="invalid_slug"
        )
    validate_slug(value)


class Workspace(models.Model):
    slug = models.SlugField(unique=True, max_length=WORKSPACE_SLUG_MAX_LENGTH)
    name = models.CharField(max_length=200)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces")
    created_at = models.DateTimeField(default=timezone.now)
    # Set by a workspace admin (integrations.services.workspace_require_mfa); integrations.mfa
    # sends a member without an authenticator app to set one up before anything else.
    require_mfa = models.BooleanField(
        "require two-factor authentication", default=False,
        help_text="Every member must sign in with a code from an authenticator app after their password.",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        # What each may do: integrations.roles.ROLE_ACTIONS.
        ADMIN = "admin", "Workspace admin"
        MARKETER = "marketer", "Marketer"
        VIEWER = "viewer", "Viewer"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(
        max_length=20, choices=Role.choices, default=Role.MARKETER,
        help_text="Workspace admins hold the connection, keys, alerts and members; marketers build and run "
                  "canvases; viewers read.",
    )
    # Alerts reach the workspace's admins and marketers by default; each member may turn them off for themself.
    alerts_off = models.BooleanField(default=False, help_text="This member receives no alert emails.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace}"


class PinterestConnection(models.Model):
    """A workspace's OAuth grant. Tokens are stored encrypted (integrations.crypto)."""

    class Status(models.TextChoices):
        VALID = "valid", "Connected"
        INVALID = "invalid", "Needs reconnecting"
        DISCONNECTED = "disconnected", "Disconnected"

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="pinterest_connection")
    pinterest_user_id = models.CharField(max_length=32, blank=True)
    pinterest_username = models.CharField(max_length=200, blank=True)
    access_token_encrypted = models.TextField(blank=True)
    refresh_token_encrypted = models.TextField(blank=True)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.VALID)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    # Who is refreshing the tokens now, and until when at most (integrations.services.connection_refresh):
    # one refresh per connection at a time, with no transaction open while Pinterest answers.
    refresh_lease_owner = models.CharField(max_length=32, blank=True, editable=False)
    refresh_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    terms_accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    terms_accepted_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Pinterest {self.pinterest_username or self.pinterest_user_id} for {self.workspace}"

    @property
    def access_token(self) -> str:
        return crypto.decrypt(self.access_token_encrypted)

    @property
    def refresh_token(self) -> str:
        return crypto.decrypt(self.refresh_token_encrypted)

    def set_tokens(self, *, access_token: str, refresh_token: str) -> None:
        self.access_token_encrypted = crypto.encrypt(access_token)
        self.refresh_token_encrypted = crypto.encrypt(refresh_token)

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.VALID


class AdAccount(models.Model):
    connection = models.ForeignKey(PinterestConnection, on_delete=models.CASCADE, related_name="ad_accounts")
    pinterest_id = models.CharField(max_length=32)
    name = models.CharField(max_length=300, blank=True)
    country = models.CharField(max_length=8, blank=True)
    currency = models.CharField(max_length=8, blank=True)
    enabled = models.BooleanField(default=False, help_text="The workspace may use this ad account in its canvases.")
    # False once the connected Pinterest user can no longer see the ad account (the workspace
    # reconnected as someone else): kept for the history of its steps, never enabled again
    # until a connection that sees it returns.
    available = models.BooleanField(
        default=True, help_text="The connected Pinterest user can see this ad account."
    )

    class Meta:
        ordering = ["name", "pinterest_id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "pinterest_id"], name="unique_ad_account_per_connection")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.pinterest_id})" if self.name else self.pinterest_id

    @property
    def workspace(self) -> Workspace:
        return self.connection.workspace


class RateLimitWindow(models.Model):
    """The send times taken for one Pinterest user token, shared by every process.

    `recent` holds the most recent send times (epoch seconds);
    `paused_until` is pushed forward by a 429 so every worker waits together.
    """

    key = models.CharField(max_length=100, unique=True)
    recent = models.JSONField(default=list)
    paused_until = models.FloatField(default=0.0)


class ApiKey(models.Model):
    """A workspace's key for the REST API. Only a SHA-256 of the secret is stored."""

    class Scope(models.TextChoices):
        # Which operations each may call: integrations.roles.KEY_SCOPE_OPERATIONS.
        ENTRIES = "entries", "Entries only (POST users into canvases)"
        READ = "read", "Read only (GET operations)"
        FULL = "full", "Full (everything a workspace key can do)"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="Shown to tell keys apart; not secret.")
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.FULL,
                             help_text="What the key may do; chosen when it is created.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name or 'API key'} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
