"""Connections to Exchange, the calendars they can see, writes to them and the sync log.

Secrets (passwords, OAuth client secrets, refresh tokens) exist only in `fernet_fields`
encrypted columns and in memory; nothing here renders, logs or returns them.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from fernet_fields import EncryptedTextField


class HttpsURLField(models.URLField):
    """A URL typed without a scheme means https (Exchange and OAuth endpoints never are
    plain http in production; the simulator's http URLs are typed in full)."""

    def formfield(self, **kwargs: Any) -> Any:
        kwargs.setdefault("assume_scheme", "https")
        return super().formfield(**kwargs)


class ConnectionKind(models.TextChoices):
    PERSONAL = "personal", _("Personal account")
    CORPORATE = "corporate", _("Corporate dedicated mailbox")


class AuthType(models.TextChoices):
    BASIC = "basic", _("Basic (on-premises)")
    NTLM = "ntlm", _("NTLM (on-premises)")
    OAUTH_APP = "oauth_app", _("OAuth 2.0 client credentials (Exchange Online, app-only)")
    OAUTH_USER = "oauth_user", _("OAuth 2.0 sign-in with Microsoft (delegated)")


class Protocol(models.TextChoices):
    """How a connection reaches its mailboxes. Exchange Server speaks EWS only; Exchange
    Online is reached through Microsoft Graph (its EWS is switched off from April 2027)."""

    EWS = "ews", _("EWS (Exchange Server)")
    GRAPH = "graph", _("Microsoft Graph (Exchange Online)")
    # Hybrid organisations: on-premises mailboxes over EWS (the dedicated mailbox's password),
    # Exchange Online mailboxes over Graph (the app registration's client credentials), each
    # mailbox routed where Autodiscover says it lives (MailboxRoute).
    HYBRID = "hybrid", _("Hybrid (EWS on-premises, Microsoft Graph in Exchange Online)")


class ExchangeVersion(models.TextChoices):
    AUTO = "auto", _("Detect automatically")
    EX2013 = "2013", _("Exchange 2013")
    EX2016 = "2016", _("Exchange 2016")
    EX2019 = "2019", _("Exchange 2019")
    ONLINE = "online", _("Exchange Online")


class ConnectionStatus(models.TextChoices):
    UNKNOWN = "unknown", _("Not checked yet")
    OK = "ok", _("Working")
    FAILING = "failing", _("Failing")


class ExchangeConnection(models.Model):
    """A way into Exchange: a staff member's own account, or the site's dedicated mailbox.

    `credential_version` goes up whenever anything that authenticates changes. Cached
    exchangelib protocols are keyed by (pk, credential_version), so every web process and
    worker picks up a rotated password on its next call without a restart.
    """

    kind = models.CharField(max_length=16, choices=ConnectionKind.choices)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="exchange_connection",
        help_text=_("The staff member who owns a personal connection."),
    )
    email = models.EmailField(help_text=_("The mailbox this connection signs in as."))
    username = models.CharField(
        max_length=255,
        blank=True,
        help_text=_(
            "Login name when it differs from the email: blank, the email, or DOMAIN\\user."
        ),
    )
    ews_url = HttpsURLField(
        _("EWS URL"),
        max_length=500,
        blank=True,
        help_text=_("e.g. https://mail.example.com/EWS/Exchange.asmx. Blank: use Autodiscover."),
    )
    auth_type = models.CharField(max_length=16, choices=AuthType.choices, default=AuthType.BASIC)
    protocol = models.CharField(
        max_length=8,
        choices=Protocol.choices,
        default=Protocol.EWS,
        help_text=_("EWS for Exchange Server; Microsoft Graph for Exchange Online (OAuth only)."),
    )
    exchange_version = models.CharField(
        max_length=8, choices=ExchangeVersion.choices, default=ExchangeVersion.AUTO
    )
    password = EncryptedTextField(blank=True, default="")
    oauth_tenant = models.CharField(
        _("OAuth tenant"),
        max_length=255,
        blank=True,
        help_text=_("Directory (tenant) id or domain."),
    )
    oauth_authority = HttpsURLField(
        _("OAuth authority"),
        max_length=500,
        blank=True,
        help_text=_("Overrides the tenant: the authority URL (token endpoint's base)."),
    )
    oauth_client_id = models.CharField(
        _("OAuth application (client) id"), max_length=255, blank=True
    )
    oauth_client_secret = EncryptedTextField(blank=True, default="")
    oauth_client_secret_expires_on = models.DateField(
        _("OAuth client secret expires on"), null=True, blank=True
    )
    # App-only with a certificate instead of a secret (Entra's recommendation): the PEM
    # private key and certificate, encrypted; the thumbprint and expiry are read from it.
    oauth_client_certificate = EncryptedTextField(blank=True, default="")
    oauth_certificate_thumbprint = models.CharField(max_length=64, blank=True, editable=False)
    oauth_certificate_expires_on = models.DateField(null=True, blank=True, editable=False)
    oauth_refresh_token = EncryptedTextField(blank=True, default="")
    members_may_book_into_any_calendar = models.BooleanField(
        _("members may book into any calendar it reaches"),
        default=False,
        help_text=_(
            "Corporate connection only. Off (recommended): a member books into a colleague's "
            "calendar only with that colleague's consent or an administrator's grant. On: every "
            "member may book into every calendar the dedicated mailbox can write to (OnceHub's "
            "fully open model). Reading busy time is always open to members."
        ),
    )

    credential_version = models.PositiveIntegerField(default=1, editable=False)
    status = models.CharField(
        max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.UNKNOWN
    )
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(kind="corporate"),
                name="one_corporate_connection",
                violation_error_message=_("There is already a corporate connection."),
            ),
            models.CheckConstraint(
                condition=Q(kind="corporate", user__isnull=True)
                | Q(kind="personal", user__isnull=False),
                name="personal_connections_have_an_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.email}"

    @property
    def is_corporate(self) -> bool:
        return self.kind == ConnectionKind.CORPORATE

    @property
    def uses_app_only_oauth(self) -> bool:
        return self.auth_type == AuthType.OAUTH_APP

    def unsaved_copy(self, *, keep_pk: bool = False, **changes: Any) -> ExchangeConnection:
        """A copy of this connection that is never saved, with `changes` (field attnames):
        what is asked of Exchange before a change is saved (a rotation, a move to Graph) or
        a view of one side of it (a hybrid connection's Graph side). `keep_pk`: the copy
        shares this row's primary key, and so the caches keyed by it."""
        fields = {
            f.attname: getattr(self, f.attname)
            for f in self._meta.concrete_fields
            if keep_pk or f.attname != "id"
        }
        return ExchangeConnection(**(fields | changes))

    def bump_credential_version(self) -> None:
        """Make every process drop its cached protocol for this connection."""
        ExchangeConnection.objects.filter(pk=self.pk).update(
            credential_version=F("credential_version") + 1
        )
        self.refresh_from_db(fields=["credential_version"])

    def record_success(self) -> None:
        now = timezone.now()
        self.status = ConnectionStatus.OK
        self.last_checked_at = self.last_success_at = now
        self.last_error = ""
        ExchangeConnection.objects.filter(pk=self.pk).update(
            status=self.status, last_checked_at=now, last_success_at=now, last_error=""
        )

    def record_failure(self, message: str) -> None:
        now = timezone.now()
        self.status = ConnectionStatus.FAILING
        self.last_checked_at = now
        self.last_error = message
        ExchangeConnection.objects.filter(pk=self.pk).update(
            status=self.status, last_checked_at=now, last_error=message
        )

    @property
    def app_credential(self) -> str:
        """What the app registration signs in with: "certificate" or "client secret"."""
        return "certificate" if self.oauth_client_certificate else "client secret"

    @property
    def app_credential_expires_on(self) -> date | None:
        """A certificate's not-after date, or the client secret's expiry as typed in."""
        if self.oauth_client_certificate:
            return self.oauth_certificate_expires_on
        return self.oauth_client_secret_expires_on

    def client_secret_expires_soon(self, within: timedelta = timedelta(days=14)) -> bool:
        """The app-only credential (secret or certificate) expires within two weeks."""
        expires = self.app_credential_expires_on
        return expires is not None and expires <= (timezone.now() + within).date()


class MembershipProof(models.TextChoices):
    """How a member showed that the mailbox they attached as is theirs."""

    PENDING = "", _("Not proven yet")
    ACCOUNT = "account", _("The address an administrator set on their account")
    EMAIL = "email", _("A confirmation link mailed to the mailbox")
    ADMIN = "admin", _("Confirmed by an administrator")


class WriteConsent(models.TextChoices):
    NOBODY = "nobody", _("Nobody but me")
    NAMED = "named", _("The colleagues I choose")
    EVERYONE = "everyone", _("Every member of the booking mailbox")


class DelegationState(models.TextChoices):
    """What Exchange's delegate list (GetDelegate) says about the booking mailbox."""

    UNKNOWN = "", _("Not known (Exchange shows the delegate list only with full access)")
    DELEGATE = "delegate", _("Delegate")
    PERMISSION_ONLY = "permission", _("Calendar permission only (not a delegate)")
    NONE = "none", _("Neither delegate nor permission")


class CorporateMember(models.Model):
    """A staff member attached to the corporate connection instead of their own account.

    The dedicated mailbox can see many people's calendars, so `mailbox` is trusted only once
    it is proven (`proof`, `proven_at`): until then, and after an administrator revokes the
    membership, the member's pages read and write nothing (calendars.membership). The
    dedicated mailbox reaches `mailbox` through delegation (or impersonation with app-only
    OAuth); `access_ok` is the last answer Exchange gave when we checked.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="corporate_membership"
    )
    connection = models.ForeignKey(
        ExchangeConnection,
        on_delete=models.CASCADE,
        related_name="members",
        limit_choices_to={"kind": ConnectionKind.CORPORATE},
    )
    mailbox = models.EmailField(help_text=_("The member's own Exchange mailbox."))
    proof = models.CharField(
        max_length=16, choices=MembershipProof.choices, blank=True, default=MembershipProof.PENDING
    )
    proven_at = models.DateTimeField(null=True, blank=True)
    # The single-use part of the confirmation link mailed to `mailbox`; cleared when used.
    confirm_nonce = models.CharField(max_length=64, blank=True, editable=False)
    confirm_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    write_consent = models.CharField(
        _("who may book into my calendar"),
        max_length=16,
        choices=WriteConsent.choices,
        default=WriteConsent.NOBODY,
    )
    allowed_colleagues = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="booking_consents_received",
        help_text=_("With “the colleagues I choose”: who may book into this member's calendar."),
    )
    access_ok = models.BooleanField(null=True, blank=True)
    can_write = models.BooleanField(default=False)
    # From the last check: the level the member's calendar folder grants the booking mailbox,
    # and what the delegate list says (and the delegate's own calendar level).
    calendar_permission = models.CharField(max_length=40, blank=True)
    delegation = models.CharField(
        max_length=16, choices=DelegationState.choices, blank=True, default=DelegationState.UNKNOWN
    )
    delegate_permission = models.CharField(max_length=16, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "mailbox"],
                condition=Q(proven_at__isnull=False, revoked_at__isnull=True),
                name="one_proven_member_per_mailbox",
                violation_error_message=_("Another member has already proven this mailbox."),
            )
        ]

    def __str__(self) -> str:
        # Translators: a member's own mailbox, reached through the booking mailbox.
        return gettext("%(mailbox)s via %(connection)s") % {
            "mailbox": self.mailbox,
            "connection": self.connection.email,
        }

    @property
    def is_active(self) -> bool:
        """Proven and not revoked: the only state in which anything is read or written."""
        return self.proven_at is not None and self.revoked_at is None

    @property
    def is_pending(self) -> bool:
        return self.proven_at is None and self.revoked_at is None

    @property
    def state_label(self) -> str:
        if self.revoked_at is not None:
            return gettext("Revoked")
        return (
            gettext("Active") if self.proven_at is not None else gettext("Waiting for confirmation")
        )

    def display_name(self) -> str:
        return self.user.get_full_name() or self.mailbox


class WriteGrant(models.Model):
    """An administrator's permission for one member to book into another person's calendar
    through the corporate connection, whatever that person's own consent says."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="write_grants",
        help_text=_("The staff member who may book into the calendar."),
    )
    mailbox = models.EmailField(help_text=_("Whose calendars they may book into."))
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "mailbox"], name="one_grant_per_mailbox")
        ]
        ordering = ["mailbox", "user_id"]

    def __str__(self) -> str:
        return gettext("%(user)s may book into %(mailbox)s") % {
            "user": self.user,
            "mailbox": self.mailbox,
        }

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.mailbox = self.mailbox.strip().lower()
        super().save(*args, **kwargs)


# Exchange's calendar permission levels (PermissionLevel / CalendarPermissionLevel, as
# Outlook names them in Sharing permissions) in the words staff see. Every page, message and
# explanation shows a level through `permission_label`, never the raw enum value.
PERMISSION_LABELS = {
    "FreeBusyTimeOnly": _("Free/busy time only"),
    "FreeBusyTimeAndSubjectAndLocation": _("Free/busy, subject and location"),
    "Reviewer": _("Reviewer (read only)"),
    "Contributor": _("Contributor"),
    "NoneditingAuthor": _("Nonediting author"),
    "Author": _("Author"),
    "PublishingAuthor": _("Publishing author"),
    "Editor": _("Editor"),
    "PublishingEditor": _("Publishing editor"),
    "Owner": _("Owner"),
    "Delegate": _("Delegate"),
    "Custom": _("Custom"),
    "None": _("None"),
}


def permission_label(level: str) -> str:
    """A permission level as staff read it ("No access" when there is none)."""
    return str(PERMISSION_LABELS.get(level, level)) if level else gettext("No access")


class CalendarRole(models.TextChoices):
    NONE = "", _("Not used")
    MAIN = "main", _("Main booking calendar")
    BUSY = "busy", _("Busy time retrieval")
    ADDITIONAL = "additional", _("Additional booking calendar")


class CalendarRef(models.Model):
    """A calendar folder of some owner, as one connection sees it (from discovery)."""

    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="calendars"
    )
    owner_email = models.EmailField()
    # The EWS folder id, or "" for the owner's primary calendar when the connection may only
    # read free/busy and so can't open the folder to learn its id.
    folder_id = models.CharField(max_length=512, blank=True)
    name = models.CharField(max_length=255)
    is_primary = models.BooleanField(default=False)
    permission_level = models.CharField(max_length=64, blank=True)
    can_create = models.BooleanField(default=False)
    can_read_items = models.BooleanField(default=False)
    discovered_at = models.DateTimeField(default=timezone.now)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "owner_email", "folder_id"], name="one_ref_per_folder"
            )
        ]
        ordering = ["owner_email", "-is_primary", "name"]

    def __str__(self) -> str:
        return f"{self.owner_email} / {self.name}"

    @property
    def permission_label(self) -> str:
        return permission_label(self.permission_level)

    @property
    def allowed_roles(self) -> list[str]:
        return allowed_roles(can_create=self.can_create)

    @property
    def error_text(self) -> str:
        """`error` in the active language: stored in English (calendars/discovery.py);
        Exchange's own words, not in the catalog, pass through unchanged."""
        return gettext(self.error) if self.error else ""

    def reached_over_graph(self) -> bool:
        """Whether this calendar is in Exchange Online, reached through Graph (what Teams
        meetings need): a Graph connection's always are; a hybrid connection's are when the
        owner's mailbox was last found in the cloud (MailboxRoute, no call to Exchange)."""
        if self.connection.protocol == Protocol.GRAPH:
            return True
        return self.connection.protocol == Protocol.HYBRID and (
            self.connection.mailbox_routes.filter(
                mailbox=self.owner_email, protocol=Protocol.GRAPH
            ).exists()
        )


def allowed_roles(*, can_create: bool) -> list[str]:
    """OnceHub's rule: booking into a calendar needs create rights; busy time needs any access."""
    roles = [CalendarRole.BUSY.value]
    if can_create:
        roles = [CalendarRole.MAIN.value, CalendarRole.BUSY.value, CalendarRole.ADDITIONAL.value]
    return roles


class MailboxRoute(models.Model):
    """Where a hybrid connection reaches one mailbox: on-premises over EWS, or in Exchange
    Online over Graph, as Autodiscover said when it was last asked (`checked_at`)."""

    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="mailbox_routes"
    )
    mailbox = models.EmailField()
    protocol = models.CharField(
        max_length=8,
        choices=[(Protocol.EWS, Protocol.EWS.label), (Protocol.GRAPH, Protocol.GRAPH.label)],
    )
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "mailbox"], name="one_route_per_mailbox")
        ]

    def __str__(self) -> str:
        return f"{self.mailbox}: {self.get_protocol_display()}"


class FolderSyncState(models.Model):
    """Where two-way sync left off in one calendar folder: the SyncState Exchange's
    SyncFolderItems gave with its last answer, so the next sync asks only for what changed.

    An opaque token (base64, often kilobytes); losing it costs one full re-read, never data.
    `folder_id` is "" for the owner's primary calendar, as in CalendarRef.
    """

    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="sync_states"
    )
    owner_email = models.EmailField()
    folder_id = models.CharField(max_length=512, blank=True)
    state = models.TextField(blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "owner_email", "folder_id"],
                name="one_sync_state_per_folder",
            )
        ]

    def __str__(self) -> str:
        return f"{self.owner_email} / {self.folder_id or 'calendar'}"


class SyncDirection(models.TextChoices):
    READ = "read", _("Read")
    WRITE = "write", _("Write")
    VERIFY = "verify", _("Verify")


class SyncLogEntry(models.Model):
    """One call to Exchange. Never a secret, an event subject or a body."""

    created = models.DateTimeField(default=timezone.now, db_index=True)
    direction = models.CharField(max_length=8, choices=SyncDirection.choices)
    operation = models.CharField(max_length=64)
    connection = models.ForeignKey(
        ExchangeConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_mailbox = models.CharField(max_length=254, blank=True)
    ok = models.BooleanField()
    outcome = models.CharField(max_length=128)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = _("sync log entries")

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.operation} {self.outcome}"


class RotationResult(models.TextChoices):
    VERIFIED = "verified", _("Verified against Exchange and saved")
    SAVED_UNVERIFIED = "saved_unverified", _("Saved without verification (Exchange unreachable)")
    REJECTED = "rejected", _("Rejected by Exchange, not saved")


class CredentialRotation(models.Model):
    """Who changed the corporate credentials, when, and what Exchange said. Never the secret."""

    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="rotations"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    what = models.CharField(max_length=32, default="password")
    result = models.CharField(max_length=24, choices=RotationResult.choices)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        # Translators: "booking@example.com password verified at 2027-03-29 09:00": the
        # connection, what changed and the result's code, then when.
        return gettext("%(connection)s %(what)s %(result)s at %(time)s") % {
            "connection": self.connection.email,
            "what": self.what,
            "result": self.result,
            "time": f"{self.created:%Y-%m-%d %H:%M}",
        }
