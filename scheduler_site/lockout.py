"""What a locked-out sign-in sees (django-axes' AXES_LOCKOUT_CALLABLE): the same sign-in page,
staff or Django admin, with an empty form and a message saying how long to wait, as 429.

429 rather than 403: the refusal is about the rate of attempts and ends by itself; clients
and monitoring read 429 with Retry-After as "wait", 403 as "you may never".
"""

from __future__ import annotations

import math
from typing import Any

from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def lockout_message(minutes: int) -> str:
    unit = "minute" if minutes == 1 else "minutes"
    return (
        "Too many failed sign-ins for this account from your network. "
        f"Please try again in {minutes} {unit}, or reset your password."
    )


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    # Every attempt during a lockout starts it again, so the full cool-off is what's left.
    message = lockout_message(max(1, math.ceil(seconds / 60)))
    context: dict[str, Any] = {}
    template: Any = "registration/login.html"
    if isinstance(original_response, TemplateResponse):
        # The login view's own page (ours or the admin's), so it looks and links as usual.
        context = dict(original_response.context_data or {})
        template = original_response.template_name
    form = context.get("form")
    form_class = type(form) if isinstance(form, AuthenticationForm) else AuthenticationForm
    # A fresh form: the refused one says "enter a correct password", which isn't the point.
    context["form"] = form_class(request, initial={"username": (credentials or {}).get("username")})
    context["lockout_message"] = message
    response = TemplateResponse(request, template, context, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response.render()
