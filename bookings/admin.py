"""Django admin: staff API tokens (to see and revoke, never to create) and webhooks.

knox's own admin lets an admin create a token without an expiry and shows it in a flash
message; tokens here are only made by `manage.py api_token_create`, which always sets one.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from knox.models import AuthToken

from bookings import api_tokens, webhooks
from bookings.models import (
    MAX_PHOTO_BYTES,
    SiteBranding,
    WebhookDelivery,
    WebhookEndpoint,
    validate_image,
)

if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("key", "user", "created", "expiry")
    list_filter = ("expiry",)
    search_fields = ("user__username", "user__email")
    fields = ("key", "user", "created", "expiry")
    readonly_fields = fields
    ordering = ("-created",)

    @admin.display(description="Key")
    def key(self, obj: AuthToken) -> str:
        return api_tokens.key_of(obj) + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ("created", "event", "state", "attempts", "last_status", "last_error")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    ordering = ("-created",)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Site-wide endpoints (no owner) are made here; staff make their own on their pages."""

    list_display = ("url", "owner", "page", "events", "active", "created")
    list_filter = ("active",)
    search_fields = ("url", "owner__username")
    fields = ("url", "owner", "page", "events", "active", "signing_secret")
    readonly_fields = ("signing_secret",)
    inlines = [DeliveryInline]

    @admin.display(description="Signing secret")
    def signing_secret(self, obj: WebhookEndpoint) -> str:
        # The receiver needs it to verify signatures; shown to administrators here only.
        return obj.secret if obj.pk else "Made when the endpoint is saved."


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("created", "event", "endpoint", "state", "attempts", "last_status")
    list_filter = ("state", "event")
    search_fields = ("endpoint__url", "event_id")
    fields = (
        "event_id",
        "event",
        "endpoint",
        "booking",
        "state",
        "attempts",
        "last_attempt_at",
        "last_status",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "payload",
    )
    readonly_fields = fields
    actions = ["send_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Send again (same event id)")
    def send_again(self, request: HttpRequest, queryset: Any) -> None:
        for delivery in queryset:
            webhooks.send_again(delivery)
        self.message_user(request, f"{queryset.count()} delivery(ies) queued again.")


class SiteBrandingForm(forms.ModelForm):
    logo_upload = forms.FileField(
        label="Logo", required=False, help_text="PNG, JPEG or WebP, at most 200 KB."
    )
    remove_logo = forms.BooleanField(required=False)

    class Meta:
        model = SiteBranding
        fields = ["organisation_name", "accent_color"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("logo_upload")
        if upload is not None:
            content = upload.read(MAX_PHOTO_BYTES + 1)
            try:
                validate_image(content)
            except ValidationError as exc:
                self.add_error("logo_upload", exc)
            else:
                self.instance.logo = content
        elif data.get("remove_logo"):
            self.instance.logo = b""
        return data


@admin.register(SiteBranding)
class SiteBrandingAdmin(admin.ModelAdmin):
    """One row: the organisation's name, logo and accent colour on public pages and emails."""

    form = SiteBrandingForm
    fields = ("organisation_name", "accent_color", "logo_upload", "remove_logo", "logo_preview")
    readonly_fields = ("logo_preview",)

    @admin.display(description="Current logo")
    def logo_preview(self, obj: SiteBranding) -> str:
        return "A logo is set." if obj.logo_type else "No logo."

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not SiteBranding.objects.exists()

    def save_model(self, request: HttpRequest, obj: SiteBranding, form: Any, change: bool) -> None:
        obj.pk = 1  # the one row SiteBranding.current() reads
        super().save_model(request, obj, form, change)
