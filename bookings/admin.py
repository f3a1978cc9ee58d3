"""Django admin: staff API tokens, to see and revoke, never to create.

knox's own admin lets an admin create a token without an expiry and shows it in a flash
message; tokens here are only made by `manage.py api_token_create`, which always sets one.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from knox.models import AuthToken

from bookings import api_tokens

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
