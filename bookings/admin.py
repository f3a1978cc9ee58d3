"""Django admin: staff API tokens (to see and revoke, never to create) and webhooks.

knox's own admin lets an admin create a token without an expiry and shows it in a flash
message; tokens here are only made by `manage.py api_token_create`, which always sets one.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from knox.models import AuthToken

from bookings import api_tokens, webhooks
from bookings.models import WebhookDelivery, WebhookEndpoint

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
