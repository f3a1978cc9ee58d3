"""Django admin: the corporate connection, password rotation, members and the sync log.

Secrets are write-only here: forms use PasswordInput(render_value=False) and never receive
an initial value, so no page, form value or error ever contains a stored secret.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from calendars import connect, membership
from calendars.errors import ExchangeError, UrlNotAllowed
from calendars.models import (
    AuthType,
    ConnectionKind,
    CorporateMember,
    CredentialRotation,
    DelegationState,
    ExchangeConnection,
    SyncLogEntry,
    WriteGrant,
)
from calendars.urlcheck import check_url


class ConnectionForm(forms.ModelForm):
    new_secret = forms.CharField(
        label="Password or client secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Only when creating the connection; later, use “Rotate password”. "
        "Never shown again.",
    )

    class Meta:
        model = ExchangeConnection
        fields = (
            "kind",
            "user",
            "email",
            "username",
            "ews_url",
            "auth_type",
            "exchange_version",
            "oauth_tenant",
            "oauth_authority",
            "oauth_client_id",
            "oauth_client_secret_expires_on",
            "members_may_book_into_any_calendar",
        )

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
            return check_url(url) if url else url
        except UrlNotAllowed as exc:
            # check_url speaks of "the EWS URL"; here it is the authority.
            raise forms.ValidationError(
                exc.message.replace("The EWS URL", "The OAuth authority")
            ) from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.instance.pk and not data.get("new_secret"):
            self.add_error("new_secret", "Enter the dedicated mailbox's password or secret.")
        return data


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
        "checked_at",
        "error",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MemberStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("pending", "Waiting for confirmation"),
            ("active", "Active"),
            ("revoked", "Revoked"),
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

    @admin.display(description="delegation", ordering="delegation")
    def delegation_summary(self, member: CorporateMember) -> str:
        """Delegate with which level, permission only, none, or not known (GetDelegate)."""
        if member.delegation == DelegationState.DELEGATE:
            return f"Delegate ({member.delegate_permission})"
        if member.delegation == DelegationState.UNKNOWN:
            level = member.calendar_permission
            return f"Not known; calendar permission {level}" if level else "Not known"
        return member.get_delegation_display()

    @admin.action(description="Confirm the mailbox (an administrator vouches for it)")
    def confirm_mailboxes(self, request: HttpRequest, queryset: QuerySet) -> None:
        for member in queryset.filter(proven_at__isnull=True):
            try:
                membership.prove_by_admin(member)
            except ExchangeError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                connect.check_member(member)

    @admin.action(description="Revoke: stop reading and writing for these members at once")
    def revoke_memberships(self, request: HttpRequest, queryset: QuerySet) -> None:
        for member in queryset.filter(revoked_at__isnull=True):
            membership.revoke(member, by=request.user)
        self.message_user(request, "Revoked. Their pages take no bookings until restored.")

    @admin.action(description="Restore revoked memberships")
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
                    f"{member.mailbox} is now proven by another member; not restored.",
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
        label="New password",
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    expires_on = forms.DateField(
        label="Client secret expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    save_anyway = forms.BooleanField(
        required=False,
        label="Save even though Exchange could not be reached to verify it",
    )


@admin.register(ExchangeConnection)
class ExchangeConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ("email", "kind", "user", "auth_type", "status", "last_success_at")
    list_filter = ("kind", "status", "auth_type")
    search_fields = ("email", "user__username", "user__email")
    readonly_fields = (
        "credential_version",
        "status",
        "last_checked_at",
        "last_success_at",
        "last_error",
        "rotate_link",
    )
    actions = ["test_connection"]

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[type]:
        if obj is not None and obj.kind == ConnectionKind.CORPORATE:
            return [MemberInline, RotationInline]
        return [RotationInline] if obj is not None else []

    @admin.display(description="Credentials")
    def rotate_link(self, obj: ExchangeConnection) -> str:
        if not obj.pk:
            return "-"
        from django.utils.html import format_html

        url = reverse("admin:calendars_exchangeconnection_rotate", args=[obj.pk])
        label = "Rotate client secret" if obj.auth_type == AuthType.OAUTH_APP else "Rotate password"
        return format_html('<a class="button" href="{}">{}</a>', url, label)

    def save_model(self, request: HttpRequest, obj: ExchangeConnection, form: Any, change: bool):
        secret = form.cleaned_data.get("new_secret")
        if secret and not change:
            if obj.auth_type == AuthType.OAUTH_APP:
                obj.oauth_client_secret = secret
            else:
                obj.password = secret
        super().save_model(request, obj, form, change)
        if change:
            # Anything that authenticates may have changed (login, URL, auth type).
            obj.bump_credential_version()
            connect.forget_cached(obj)

    # Add and change both come through here: the typed secret is masked in error reports,
    # and no frame below shows its locals (the form's, save_model's, the encrypted field's).
    @method_decorator(sensitive_post_parameters("new_secret"))
    @method_decorator(sensitive_variables())
    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, *a: Any, **k: Any
    ):
        if object_id:
            obj = self.get_object(request, object_id)
            if obj is not None and obj.client_secret_expires_soon():
                messages.warning(
                    request,
                    f"The OAuth client secret expires on {obj.oauth_client_secret_expires_on}. "
                    "Create a new secret in Entra ID and rotate it here before then.",
                )
        return super().changeform_view(request, object_id, *a, **k)

    @admin.action(description="Test connection against Exchange")
    def test_connection(self, request: HttpRequest, queryset: QuerySet) -> None:
        for conn in queryset:
            error = connect.verify(conn)
            if error is None:
                self.message_user(request, f"{conn.email}: connection works.", messages.SUCCESS)
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
            )
        ]
        return extra + super().get_urls()

    @method_decorator(sensitive_post_parameters("new_secret"))
    @method_decorator(sensitive_variables())
    def rotate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        conn = get_object_or_404(ExchangeConnection, pk=pk)
        if not self.has_change_permission(request, conn):
            return HttpResponse(status=403)
        offer_save_anyway = False
        form = RotateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                rotation = connect.rotate_secret(
                    conn,
                    form.cleaned_data["new_secret"],
                    request.user,
                    save_anyway=form.cleaned_data["save_anyway"],
                    expires_on=form.cleaned_data["expires_on"],
                )
            except connect.RotationNotVerified as exc:
                offer_save_anyway = True
                form.add_error(None, exc.message)
            except ExchangeError as exc:
                form.add_error("new_secret", exc.message)
            else:
                self.message_user(request, rotation.get_result_display(), messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:calendars_exchangeconnection_change", args=[conn.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Rotate credentials of {conn.email}",
            "connection": conn,
            "form": form,
            "offer_save_anyway": offer_save_anyway,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/calendars/rotate.html", context)


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
