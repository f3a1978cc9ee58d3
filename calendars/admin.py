"""Django admin: the corporate connection, password rotation, members and the sync log.

Secrets are write-only here: the add form takes one once (PasswordInput(render_value=False),
never an initial value), the change form has no secret field at all, and a secret changes
only through its own action ("Change mailbox password" / "Rotate client secret" / "Rotate
certificate"), which checks it against Exchange before saving. No page, form value or error
ever contains a stored secret or private key.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from calendars import connect, membership, oauth, to_graph
from calendars.errors import ExchangeError, UrlNotAllowed
from calendars.models import (
    AuthType,
    ConnectionKind,
    CorporateMember,
    CredentialRotation,
    DelegationState,
    ExchangeConnection,
    MailboxRoute,
    Protocol,
    SyncLogEntry,
    WriteGrant,
    permission_label,
)
from calendars.urlcheck import check_url
from scheduler_site import contentpolicy

# What the cached exchangelib protocol is built from: a change to any of these must reach
# every process (credential_version), a change to anything else (the members' open model, the
# secret's expiry date) must not drop their sessions. Secrets change only by rotation.
AUTHENTICATING_FIELDS = frozenset(
    {
        "email",
        "username",
        "ews_url",
        "auth_type",
        "protocol",
        "exchange_version",
        "oauth_tenant",
        "oauth_authority",
        "oauth_client_id",
    }
)
# Names a secret could be posted under (an old page, a script); the change form has none.
SECRET_NAMES = (
    "password",
    "new_secret",
    "new_graph_secret",
    "oauth_client_secret",
    "oauth_client_certificate",
    "new_certificate",
    "oauth_refresh_token",
)
# Basic and NTLM sign in with the same password, so one can become the other on the change
# form; OAuth needs a different credential, so its auth type changes only by a new connection.
PASSWORD_AUTH = (AuthType.BASIC, AuthType.NTLM)
OAUTH_APP_FIELDS = (
    "oauth_tenant",
    "oauth_authority",
    "oauth_client_id",
    "oauth_client_secret_expires_on",
)
# A certificate connection shows its certificate (never the key) instead of a secret's expiry.
OAUTH_CERTIFICATE_FIELDS = (
    "oauth_tenant",
    "oauth_authority",
    "oauth_client_id",
    "certificate_thumbprint",
    "certificate_expires_on",
)
STATUS_FIELDS = (
    "credential_version",
    "status",
    "last_checked_at",
    "last_success_at",
    "last_error",
)


def rotation_label(conn: ExchangeConnection) -> str | None:
    """The rotation action's name, or None where there is nothing an admin can rotate (a
    staff member's "Connect with Microsoft" renews itself; they reconnect if it stops)."""
    if conn.kind == ConnectionKind.CORPORATE and conn.auth_type == AuthType.OAUTH_USER:
        return _("Sign in with Microsoft again")
    if conn.auth_type == AuthType.OAUTH_APP and conn.oauth_client_certificate:
        return _("Rotate certificate")
    if conn.auth_type == AuthType.OAUTH_APP:
        return _("Rotate client secret")
    if conn.auth_type in PASSWORD_AUTH:
        return _("Change mailbox password")
    return None


HYBRID_GRAPH_ROTATION = gettext_lazy("Rotate Graph client secret")


def rotation_url(conn: ExchangeConnection) -> str:
    """Where the rotation action goes: the secret form, or a new sign-in with Microsoft."""
    if conn.auth_type == AuthType.OAUTH_USER:
        return reverse("admin:calendars_exchangeconnection_microsoft_sign_in")
    return reverse("admin:calendars_exchangeconnection_rotate", args=[conn.pk])


def credential_expiry_warning(conn: ExchangeConnection) -> str | None:
    """The 14-day warning before the app-only credential expires (ExchangeConnection's one
    rule for secrets and certificates)."""
    if conn.auth_type != AuthType.OAUTH_APP or not conn.client_secret_expires_soon():
        return None
    if conn.oauth_client_certificate:
        return _(
            "The OAuth certificate (thumbprint %(thumbprint)s) expires on %(date)s. Create a new "
            "certificate, upload its public part to the app registration in Entra ID and rotate "
            "it here before then."
        ) % {
            "thumbprint": conn.oauth_certificate_thumbprint,
            "date": conn.app_credential_expires_on,
        }
    return _(
        "The OAuth client secret expires on %(date)s. Create a new secret in Entra ID and "
        "rotate it here before then."
    ) % {"date": conn.app_credential_expires_on}


class WriteOnlyTextarea(forms.Textarea):
    """A textarea for a private key: what was typed is never rendered back (not even after
    an error), like PasswordInput(render_value=False)."""

    def format_value(self, value: Any) -> None:
        return None


def posted_certificate(form: forms.Form, text_field: str, file_field: str) -> str:
    """The PEM pasted into the textarea or uploaded as a file (at most 64 KB: a key and a
    certificate chain fit easily)."""
    upload = form.cleaned_data.get(file_field)
    if upload:
        if upload.size > 65536:
            raise forms.ValidationError(_("The file is too large for a PEM certificate."))
        return upload.read().decode("utf-8", "replace")
    return form.cleaned_data.get(text_field) or ""


def rotation_refused(conn: ExchangeConnection, exc: ExchangeError) -> str:
    """Why a new secret was refused. Only the secret is new here, and the generic sign-in
    message (check the address, create an app password) fits neither an on-premises service
    account nor an address that did not change."""
    if exc.code != "auth_failed" or conn.auth_type not in PASSWORD_AUTH:
        return exc.message
    return _(
        "Exchange refused this password for %(account)s, so it was not saved. Check that it is "
        "the one just set for this mailbox in Exchange, and try again."
    ) % {"account": conn.username or conn.email}


class ConnectionForm(forms.ModelForm):
    """The fields both forms share; ModelAdmin.get_fieldsets picks the ones that apply."""

    class Meta:
        model = ExchangeConnection
        fields = (
            "kind",
            "user",
            "email",
            "username",
            "ews_url",
            "auth_type",
            "protocol",
            "exchange_version",
            *OAUTH_APP_FIELDS,
            "members_may_book_into_any_calendar",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "protocol" in self.fields:
            # Left out (a script, a form from before Graph): EWS, as before.
            self.fields["protocol"].required = False

    def clean_protocol(self) -> str:
        return self.cleaned_data.get("protocol") or Protocol.EWS

    # The same SSRF guard as the staff forms: "Test connection" sends the stored secret to
    # these addresses, so an admin can't point them at the internal network either.
    def clean_ews_url(self) -> str:
        url = self.cleaned_data.get("ews_url") or ""
        try:
            return check_url(url) if url else url
        except UrlNotAllowed as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean_oauth_authority(self) -> str:
        url = self.cleaned_data.get("oauth_authority") or ""
        try:
            return check_url(url, what="authority") if url else url
        except UrlNotAllowed as exc:
            raise forms.ValidationError(exc.message) from exc


class MicrosoftSignInForm(forms.Form):
    mailbox = forms.EmailField(
        label=gettext_lazy("Booking mailbox"),
        help_text=gettext_lazy(
            "The dedicated mailbox's address in Microsoft 365; you sign in as it next."
        ),
    )

    def clean_mailbox(self) -> str:
        return self.cleaned_data["mailbox"].strip().lower()


class ConnectionAddForm(ConnectionForm):
    """Adding needs the secret once; from then on it changes only through rotation."""

    new_secret = forms.CharField(
        label=gettext_lazy("Password or client secret"),
        strip=False,
        # Required unless an app-only connection signs in with a certificate (clean()).
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy(
            "The password for Basic or NTLM, the client secret for OAuth. Never shown again; "
            "later, change it with “Change mailbox password” or “Rotate client secret” on the "
            "connection's page."
        ),
    )
    new_certificate = forms.CharField(
        label=gettext_lazy("Certificate (instead of a client secret)"),
        strip=False,
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"}),
        help_text=gettext_lazy(
            "OAuth 2.0 client credentials only: the private key and the certificate in PEM "
            "format (-----BEGIN PRIVATE KEY----- … -----BEGIN CERTIFICATE----- …), whose public "
            "part is uploaded to the app registration. Never shown again; later, change it with "
            "“Rotate certificate”."
        ),
    )
    new_certificate_file = forms.FileField(
        label=gettext_lazy("or upload the PEM file"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".pem,.crt,.key,.txt"}),
    )

    # A hybrid connection's second secret: the app registration's, for its Graph side (the
    # first is the dedicated mailbox's password for its EWS side).
    new_graph_secret = forms.CharField(
        label=gettext_lazy("Client secret (Microsoft Graph side of a hybrid connection)"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy(
            "Hybrid only: the app registration's client secret, with its tenant and client id, "
            "for the mailboxes in Exchange Online. Never shown again."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "Sign in with Microsoft" gets its token from the owner's sign-in, never from here.
        self.fields["auth_type"].choices = [
            c for c in self.fields["auth_type"].choices if c[0] != AuthType.OAUTH_USER
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # Said per field, instead of the constraint's name under the whole form.
        kind, user = data.get("kind"), data.get("user")
        if kind == ConnectionKind.PERSONAL and user is None:
            self.add_error(
                "user", _("A personal connection belongs to a staff member: choose one.")
            )
        if kind == ConnectionKind.CORPORATE and user is not None:
            self.add_error("user", _("The corporate connection belongs to no one: leave it blank."))
        self._clean_credential(data)
        if data.get("protocol") == Protocol.GRAPH and data.get("auth_type") != AuthType.OAUTH_APP:
            # Microsoft Graph takes OAuth tokens only; Exchange Online refuses passwords.
            self.add_error(
                "auth_type",
                _(
                    "Microsoft Graph signs in with OAuth: choose OAuth 2.0 client credentials and "
                    "enter the app registration's client secret."
                ),
            )
        if data.get("protocol") == Protocol.HYBRID:
            self._clean_hybrid(data)
        return data

    def _clean_hybrid(self, data: dict[str, Any]) -> None:
        """Both sides at once: EWS with the dedicated mailbox's password for on-premises
        mailboxes, Graph with the app's client credentials for those in Exchange Online."""
        if data.get("kind") != ConnectionKind.CORPORATE:
            self.add_error("protocol", _("Only the corporate connection can be hybrid."))
        if data.get("auth_type") not in PASSWORD_AUTH:
            self.add_error(
                "auth_type",
                _(
                    "A hybrid connection signs in to Exchange Server with the dedicated mailbox's "
                    "password: choose Basic or NTLM (the Graph side uses the client secret below)."
                ),
            )
        if not data.get("ews_url"):
            self.add_error("ews_url", _("Enter the on-premises EWS URL."))
        if not data.get("oauth_client_id"):
            self.add_error("oauth_client_id", _("Enter the app registration's client id."))
        if not (data.get("oauth_tenant") or data.get("oauth_authority")):
            self.add_error("oauth_tenant", _("Enter the Microsoft 365 tenant (or an authority)."))
        if not data.get("new_graph_secret"):
            self.add_error("new_graph_secret", _("Enter the app registration's client secret."))

    @sensitive_variables()
    def _clean_credential(self, data: dict[str, Any]) -> None:
        """A password, a client secret, or (app-only OAuth) a certificate checked as Entra ID
        will use it; data["certificate"] is the parsed certificate."""
        try:
            pem = posted_certificate(self, "new_certificate", "new_certificate_file")
        except forms.ValidationError as exc:
            self.add_error("new_certificate", exc)
            return
        secret = data.get("new_secret") or ""
        if data.get("auth_type") != AuthType.OAUTH_APP:
            if pem.strip():
                self.add_error(
                    "new_certificate",
                    _(
                        "Only OAuth 2.0 client credentials sign in with a certificate; Basic and "
                        "NTLM take the mailbox's password."
                    ),
                )
            elif not secret:
                self.add_error("new_secret", _("Enter the mailbox's password or client secret."))
            return
        if pem.strip() and secret:
            self.add_error(
                "new_certificate", _("Enter a client secret or a certificate, not both.")
            )
        elif pem.strip():
            try:
                data["certificate"] = oauth.parse_client_certificate(pem)
            except oauth.CertificateInvalid as exc:
                self.add_error("new_certificate", exc.message)
        elif not secret:
            self.add_error(
                "new_secret",
                _("Enter the app registration's client secret, or its certificate below."),
            )


class ConnectionChangeForm(ConnectionForm):
    """No secret field at all: a password typed here could only be thrown away."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "auth_type" in self.fields:  # read-only (absent) on OAuth connections
            self.fields["auth_type"].choices = [
                c for c in self.fields["auth_type"].choices if c[0] in PASSWORD_AUTH
            ]


class MemberInline(admin.TabularInline):
    """Read-only here: proof, revocation and consent are managed on the members' own page."""

    model = CorporateMember
    extra = 0
    can_delete = False
    fields = (
        "user",
        "mailbox",
        "state_label",
        "proof",
        "access_ok",
        "delegation",
        "route",
        "checked_at",
        "error",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("reached over"))
    def route(self, member: CorporateMember) -> str:
        """Hybrid connections: where Autodiscover said the mailbox lives (calendars.routing)."""
        if member.connection.protocol != Protocol.HYBRID:
            return "-"
        found = MailboxRoute.objects.filter(
            connection_id=member.connection_id, mailbox=member.mailbox.strip().lower()
        ).first()
        return found.get_protocol_display() if found else _("Not asked yet")


class MemberStateFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("pending", _("Waiting for confirmation")),
            ("active", _("Active")),
            ("revoked", _("Revoked")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "pending":
            return queryset.filter(proven_at__isnull=True, revoked_at__isnull=True)
        if self.value() == "active":
            return queryset.filter(proven_at__isnull=False, revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(CorporateMember)
class CorporateMemberAdmin(admin.ModelAdmin):
    """Every member, the mailbox they proved (or are proving), their consent; revoke here."""

    list_display = (
        "user",
        "mailbox",
        "state_label",
        "proof",
        "confirm_sent_at",
        "write_consent",
        "access_ok",
        "delegation_summary",
    )
    list_filter = (MemberStateFilter, "proof", "write_consent", "delegation")
    search_fields = ("mailbox", "user__username", "user__email")
    fields = (
        "user",
        "connection",
        "mailbox",
        "state_label",
        "proof",
        "proven_at",
        "confirm_sent_at",
        "revoked_at",
        "revoked_by",
        "write_consent",
        "allowed_colleagues",
        "access_ok",
        "calendar_permission",
        "delegation",
        "delegate_permission",
        "checked_at",
        "error",
    )
    # Proof and revocation change only through the actions below; consent stays editable.
    readonly_fields = tuple(f for f in fields if f not in ("write_consent", "allowed_colleagues"))
    filter_horizontal = ("allowed_colleagues",)
    actions = ("confirm_mailboxes", "revoke_memberships", "restore_memberships")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members attach themselves; admins confirm or revoke

    @admin.display(description=gettext_lazy("delegation"), ordering="delegation")
    def delegation_summary(self, member: CorporateMember) -> str:
        """Delegate with which level, permission only, none, or not known (GetDelegate)."""
        if member.delegation == DelegationState.DELEGATE:
            # Translators: %(level)s is a calendar permission level, such as Editor.
            return _("Delegate (%(level)s)") % {
                "level": permission_label(member.delegate_permission)
            }
        if member.delegation == DelegationState.UNKNOWN:
            level = member.calendar_permission
            if not level:
                return _("Not known")
            # Translators: %(level)s is a calendar permission level, such as Editor.
            return _("Not known; calendar permission %(level)s") % {
                "level": permission_label(level)
            }
        return member.get_delegation_display()

    @admin.action(description=gettext_lazy("Confirm the mailbox (an administrator vouches for it)"))
    def confirm_mailboxes(self, request: HttpRequest, queryset: QuerySet) -> None:
        for member in queryset.filter(proven_at__isnull=True):
            try:
                membership.prove_by_admin(member)
            except ExchangeError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                connect.check_member(member)

    @admin.action(
        description=gettext_lazy("Revoke: stop reading and writing for these members at once")
    )
    def revoke_memberships(self, request: HttpRequest, queryset: QuerySet) -> None:
        for member in queryset.filter(revoked_at__isnull=True):
            membership.revoke(member, by=request.user)
        self.message_user(request, _("Revoked. Their pages take no bookings until restored."))

    @admin.action(description=gettext_lazy("Restore revoked memberships"))
    def restore_memberships(self, request: HttpRequest, queryset: QuerySet) -> None:
        for member in queryset.filter(revoked_at__isnull=False):
            try:
                with transaction.atomic():
                    CorporateMember.objects.filter(pk=member.pk).update(
                        revoked_at=None, revoked_by=None
                    )
            except IntegrityError:
                self.message_user(
                    request,
                    _("%(mailbox)s is now proven by another member; not restored.")
                    % {"mailbox": member.mailbox},
                    messages.ERROR,
                )


@admin.register(WriteGrant)
class WriteGrantAdmin(admin.ModelAdmin):
    """An administrator lets one member book into someone else's calendar; delete to revoke
    (writes stop at once: every write asks calendars.membership first)."""

    list_display = ("user", "mailbox", "granted_by", "created")
    search_fields = ("mailbox", "user__username")
    fields = ("user", "mailbox")

    def save_model(self, request: HttpRequest, obj: WriteGrant, form: Any, change: bool) -> None:
        obj.granted_by = request.user
        super().save_model(request, obj, form, change)


class RotationInline(admin.TabularInline):
    model = CredentialRotation
    extra = 0
    can_delete = False
    fields = ("created", "changed_by", "what", "result", "message")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RotateForm(forms.Form):
    new_secret = forms.CharField(
        label=gettext_lazy("New password"),
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    expires_on = forms.DateField(
        label=gettext_lazy("Client secret expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    save_anyway = forms.BooleanField(
        required=False,
        label=gettext_lazy("Save even though Exchange could not be reached to verify it"),
    )

    new_certificate_file = forms.FileField(
        label=gettext_lazy("or upload the PEM file"), required=False
    )

    def __init__(
        self, *args: Any, oauth: bool = False, certificate: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.certificate = certificate
        if oauth:
            self.fields["new_secret"].label = _("New client secret")
        if certificate:
            # The PEM (key and certificate) pasted or uploaded; its expiry is read from it.
            self.fields["new_secret"] = forms.CharField(
                label=_("New certificate"),
                strip=False,
                required=False,
                widget=WriteOnlyTextarea(attrs={"rows": 8, "spellcheck": "false"}),
                help_text=_(
                    "The private key and the certificate in PEM format. Upload the certificate's "
                    "public part to the app registration first: it is tried there before it is "
                    "saved."
                ),
            )
            del self.fields["expires_on"]
        else:
            del self.fields["new_certificate_file"]

    @sensitive_variables()
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.certificate:
            try:
                pem = posted_certificate(self, "new_secret", "new_certificate_file")
            except forms.ValidationError as exc:
                self.add_error("new_secret", exc)
                return data
            if not pem.strip():
                self.add_error("new_secret", _("Paste the new certificate or upload its file."))
                return data
            try:
                data["new_secret"] = oauth.parse_client_certificate(pem).stored
            except oauth.CertificateInvalid as exc:
                self.add_error("new_secret", exc.message)
        return data


@admin.register(ExchangeConnection)
class ExchangeConnectionAdmin(admin.ModelAdmin):
    form = ConnectionChangeForm
    add_form = ConnectionAddForm
    list_display = (
        "email",
        "kind",
        "user",
        "auth_type",
        "status",
        "last_success_at",
        "rotate_link",
    )
    list_filter = ("kind", "status", "auth_type")
    search_fields = ("email", "user__username", "user__email")
    actions = ["test_connection"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        kwargs["form"] = self.add_form if obj is None else self.form
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        """Only what applies: OAuth fields on OAuth app connections, the owner on personal
        ones, the members' open model on the corporate one. Adding shows every field, since
        kind and auth type are chosen on that very form (no JavaScript)."""
        if obj is None:
            return [
                (
                    None,
                    {
                        "fields": (
                            "kind",
                            "user",
                            "email",
                            "username",
                            "ews_url",
                            "auth_type",
                            "protocol",
                            "exchange_version",
                            "new_secret",
                        )
                    },
                ),
                (
                    _("OAuth 2.0 client credentials only (and the Graph side of a hybrid one)"),
                    {"fields": (*OAUTH_APP_FIELDS, "new_certificate", "new_certificate_file")},
                ),
                (
                    _("Corporate connection only"),
                    {"fields": ("members_may_book_into_any_calendar",)},
                ),
                *self._hybrid_add_fieldsets(request),
            ]
        main = ["kind"]
        if obj.kind == ConnectionKind.PERSONAL:
            main.append("user")
        if obj.protocol == Protocol.GRAPH:
            main += ["email", "auth_type", "protocol", "secret"]
        else:
            main += ["email", "username", "ews_url", "auth_type", "protocol", "exchange_version"]
            main.append("secret")
        fieldsets: list = [(None, {"fields": main})]
        if obj.auth_type == AuthType.OAUTH_APP:
            oauth_fields = (
                OAUTH_CERTIFICATE_FIELDS if obj.oauth_client_certificate else OAUTH_APP_FIELDS
            )
            fieldsets.append((_("OAuth 2.0 client credentials"), {"fields": oauth_fields}))
        elif obj.protocol == Protocol.HYBRID:
            fieldsets.append(
                (
                    _("Microsoft Graph side (app-only client credentials)"),
                    {"fields": OAUTH_APP_FIELDS},
                )
            )
        if obj.kind == ConnectionKind.CORPORATE:
            fieldsets.append((_("Members"), {"fields": ("members_may_book_into_any_calendar",)}))
        fieldsets.append((_("Status"), {"fields": STATUS_FIELDS}))
        return fieldsets

    def _hybrid_add_fieldsets(self, request: HttpRequest) -> list:
        """The Graph side's secret, once Hybrid is chosen (`?protocol=hybrid`, or posted):
        every other kind of connection takes one secret, and the form says so."""
        if (request.POST or request.GET).get("protocol") != Protocol.HYBRID:
            return []
        return [(_("Hybrid: the Microsoft Graph side"), {"fields": ("new_graph_secret",)})]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        # A connection keeps its kind and owner: handing a personal connection to someone
        # else would hand them its owner's mailbox. OAuth keeps its auth type (see
        # PASSWORD_AUTH).
        # The protocol changes only by the migration to Graph, which keeps pages and bookings.
        fixed = ("kind", "user", "secret", "protocol")
        if obj.oauth_client_certificate:
            fixed += ("certificate_thumbprint", "certificate_expires_on")
        if obj.auth_type not in PASSWORD_AUTH:
            fixed += ("auth_type",)
        return fixed + STATUS_FIELDS

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[type]:
        if obj is not None and obj.kind == ConnectionKind.CORPORATE:
            return [MemberInline, RotationInline]
        return [RotationInline] if obj is not None else []

    @admin.display(description=gettext_lazy("Password or secret"))
    def secret(self, obj: ExchangeConnection) -> str:
        """Where the secret went: stored, never shown, and how it changes."""
        label = rotation_label(obj)
        if label is None:
            return _(
                "The owner's sign-in with Microsoft, stored encrypted and never shown. It "
                "renews itself; if it stops working, the owner connects with Microsoft again."
            )
        if obj.auth_type == AuthType.OAUTH_USER:
            # Translators: %(action)s is the name of the button, such as "Sign in with
            # Microsoft again".
            return _(
                "The booking mailbox's sign-in with Microsoft, stored encrypted and never "
                "shown. It renews itself; if it stops working, use “%(action)s” at the top of "
                "this page."
            ) % {"action": label}
        # Translators: %(action)s is the name of the button, such as "Rotate client secret".
        return _(
            "Stored encrypted and never shown. To change it, use “%(action)s” at the top of "
            "this page: the new one is checked against Exchange before it is saved."
        ) % {"action": label}

    @admin.display(description=gettext_lazy("Certificate thumbprint (SHA-1)"))
    def certificate_thumbprint(self, obj: ExchangeConnection) -> str:
        """As Entra ID's Certificates & secrets lists it; the key is never shown."""
        return obj.oauth_certificate_thumbprint or "-"

    @admin.display(description=gettext_lazy("Certificate expires on"))
    def certificate_expires_on(self, obj: ExchangeConnection) -> str:
        expires = obj.oauth_certificate_expires_on
        return f"{expires:%d %B %Y}" if expires else "-"

    @admin.display(description=gettext_lazy("Credentials"))
    def rotate_link(self, obj: ExchangeConnection) -> str:
        label = rotation_label(obj)
        if label is None:
            return "-"
        return format_html('<a href="{}">{}</a>', rotation_url(obj), label)

    def save_model(self, request: HttpRequest, obj: ExchangeConnection, form: Any, change: bool):
        if not change:
            secret = form.cleaned_data["new_secret"]
            certificate = form.cleaned_data.get("certificate")
            if certificate is not None:
                obj.oauth_client_certificate = certificate.stored
                obj.oauth_certificate_thumbprint = certificate.thumbprint
                obj.oauth_certificate_expires_on = certificate.expires_on
            elif obj.auth_type == AuthType.OAUTH_APP:
                obj.oauth_client_secret = secret
            else:
                obj.password = secret
            if obj.protocol == Protocol.HYBRID:
                obj.oauth_client_secret = form.cleaned_data["new_graph_secret"]
        super().save_model(request, obj, form, change)
        if change and AUTHENTICATING_FIELDS.intersection(form.changed_data):
            obj.bump_credential_version()
            connect.forget_cached(obj)

    # Add and change both come through here: the typed secret is masked in error reports,
    # and no frame below shows its locals (the form's, save_model's, the encrypted field's).
    @method_decorator(sensitive_post_parameters(*SECRET_NAMES))
    @method_decorator(sensitive_variables())
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ):
        obj = self.get_object(request, object_id) if object_id else None
        if obj is not None:
            extra_context = {
                **(extra_context or {}),
                "rotation_label": rotation_label(obj),
                "rotation_url": rotation_url(obj),
                "graph_rotation_label": HYBRID_GRAPH_ROTATION
                if obj.protocol == Protocol.HYBRID
                else "",
                "can_move_to_graph": obj.auth_type == AuthType.OAUTH_APP and to_graph.can_move(obj),
            }
            if request.method == "POST" and any(request.POST.get(n) for n in SECRET_NAMES):
                # Said before anything else: a form from before this change (or a script)
                # must not read "changed successfully" as "the password changed".
                messages.warning(
                    request,
                    # Translators: %(action)s is the name of the button, such as "Change
                    # mailbox password".
                    _(
                        "The password was not changed: passwords and secrets change only with "
                        "“%(action)s”, which checks them against Exchange first."
                    )
                    % {"action": rotation_label(obj) or _("Change mailbox password")},
                )
            expiry_warning = credential_expiry_warning(obj)
            if expiry_warning:
                messages.warning(request, expiry_warning)
        response = super().changeform_view(request, object_id, form_url, extra_context)
        form = getattr(response, "context_data", None) and response.context_data.get("adminform")
        if request.method == "POST" and form and form.form.has_error("new_certificate"):
            # A certificate that can't be used is the request's fault: say so to scripts too.
            response.status_code = 400
        return response

    @admin.action(description=gettext_lazy("Test connection against Exchange"))
    def test_connection(self, request: HttpRequest, queryset: QuerySet) -> None:
        for conn in queryset:
            error = connect.verify(conn)
            if error is None:
                self.message_user(
                    request,
                    _("%(connection)s: connection works.") % {"connection": conn.email},
                    messages.SUCCESS,
                )
            else:
                self.message_user(request, f"{conn.email}: {error.message}", messages.ERROR)
            if conn.kind == ConnectionKind.CORPORATE:
                for member in conn.members.all():
                    connect.check_member(member)

    def get_urls(self) -> list:
        extra = [
            path(
                "<int:pk>/rotate/",
                self.admin_site.admin_view(self.rotate_view),
                name="calendars_exchangeconnection_rotate",
            ),
            path(
                "microsoft-sign-in/",
                self.admin_site.admin_view(self.microsoft_sign_in_view),
                name="calendars_exchangeconnection_microsoft_sign_in",
            ),
            path(
                "<int:pk>/move-to-graph/",
                self.admin_site.admin_view(self.move_to_graph_view),
                name="calendars_exchangeconnection_move_to_graph",
            ),
        ]
        return extra + super().get_urls()

    @method_decorator(sensitive_post_parameters(*SECRET_NAMES))
    @method_decorator(sensitive_variables())
    def rotate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        conn = get_object_or_404(ExchangeConnection, pk=pk)
        if not self.has_change_permission(request, conn):
            return HttpResponse(status=403)
        label = rotation_label(conn)
        if label is None or conn.auth_type == AuthType.OAUTH_USER:
            raise Http404(_("This connection has no password or secret to rotate."))
        # A hybrid connection has two secrets: the mailbox's password, and (side=graph) the
        # app registration's client secret its Graph side signs in with.
        graph_side = conn.protocol == Protocol.HYBRID and request.GET.get("side") == "graph"
        if graph_side:
            label = HYBRID_GRAPH_ROTATION
        offer_save_anyway = False
        certificate = conn.auth_type == AuthType.OAUTH_APP and bool(conn.oauth_client_certificate)
        posted = request.method == "POST"  # a file alone is a POST with an empty request.POST
        form = RotateForm(
            request.POST if posted else None,
            request.FILES if posted else None,
            oauth=conn.auth_type == AuthType.OAUTH_APP or graph_side,
            certificate=certificate,
        )
        if request.method == "POST" and form.is_valid():
            try:
                rotation = connect.rotate_secret(
                    conn,
                    form.cleaned_data["new_secret"],
                    request.user,
                    save_anyway=form.cleaned_data["save_anyway"],
                    expires_on=form.cleaned_data.get("expires_on"),
                    graph_side=graph_side,
                )
            except connect.RotationNotVerified as exc:
                offer_save_anyway = True
                form.add_error(None, exc.message)
            except ExchangeError as exc:
                form.add_error("new_secret", rotation_refused(conn, exc))
            else:
                self.message_user(request, rotation.get_result_display(), messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:calendars_exchangeconnection_change", args=[conn.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label}: {conn.email}",
            "connection": conn,
            "form": form,
            "offer_save_anyway": offer_save_anyway,
            "certificate": certificate,
            "oauth": conn.auth_type == AuthType.OAUTH_APP or graph_side,
            "graph_side": graph_side,
            "opts": self.model._meta,
        }
        # A secret Exchange refused, or a certificate that can't be used (no key, another key,
        # expired), is a 400; "Exchange can't be reached: save anyway?" is a question, a 200.
        status = 400 if posted and form.errors and not offer_save_anyway else 200
        return TemplateResponse(request, "admin/calendars/rotate.html", context, status=status)

    def microsoft_sign_in_view(self, request: HttpRequest) -> HttpResponse:
        """Exchange Online, delegated: the booking mailbox signs in with Microsoft once (and
        again whenever its sign-in must be renewed). Members delegate or share their
        calendars to it as on-premises; only its refresh token is stored, encrypted."""
        from calendars.views import start_corporate_sign_in

        if not self.has_change_permission(request) or not self.has_add_permission(request):
            return HttpResponse(status=403)
        existing = connect.corporate_connection()
        form = MicrosoftSignInForm(
            request.POST or None, initial={"mailbox": existing.email if existing else ""}
        )
        if request.method == "POST" and form.is_valid():
            try:
                return start_corporate_sign_in(request, form.cleaned_data["mailbox"])
            except ExchangeError as exc:
                form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Sign the booking mailbox in with Microsoft"),
            "form": form,
            "existing": existing,
            "microsoft_enabled": bool(settings.MICROSOFT_CLIENT_ID),
            "opts": self.model._meta,
        }
        status = 400 if request.method == "POST" else 200
        response = TemplateResponse(
            request, "admin/calendars/microsoft_sign_in.html", context, status=status
        )
        return contentpolicy.allow_microsoft_sign_in(response)

    def move_to_graph_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """An app-only connection to Exchange Online moves from EWS to Graph with the same
        app registration, once it has Graph's application permission (Calendars.ReadWrite,
        scoped by RBAC for Applications); pages, roles and bookings stay."""
        conn = get_object_or_404(ExchangeConnection, pk=pk)
        if not self.has_change_permission(request, conn):
            return HttpResponse(status=403)
        if conn.auth_type != AuthType.OAUTH_APP or not to_graph.can_move(conn):
            raise Http404(
                _("Only an app-only Microsoft 365 connection over EWS can move to Graph.")
            )
        error = ""
        if request.method == "POST":
            try:
                report = to_graph.move_to_graph(conn)
            except ExchangeError as exc:
                error = exc.message
            else:
                self.message_user(request, report.summary(), messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:calendars_exchangeconnection_change", args=[conn.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Move to Microsoft Graph: %(connection)s") % {"connection": conn.email},
            "connection": conn,
            "error": error,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/calendars/move_to_graph.html", context)


@admin.register(SyncLogEntry)
class SyncLogEntryAdmin(admin.ModelAdmin):
    list_display = (
        "created",
        "direction",
        "operation",
        "connection",
        "target_mailbox",
        "ok",
        "outcome",
        "duration_ms",
    )
    list_filter = ("direction", "ok", "outcome", "operation", "connection")
    search_fields = ("target_mailbox",)
    date_hierarchy = "created"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
