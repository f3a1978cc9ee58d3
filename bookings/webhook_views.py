"""Staff pages for a staff member's own webhook endpoints: add one (for one page or all
their pages), see its signing secret and delivery log, send a delivery again, pause or
remove it. Site-wide endpoints are the administrators', in Django admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from bookings import webhooks
from bookings.models import WEBHOOK_EVENTS, BookingPage, WebhookDelivery, WebhookEndpoint


class EndpointForm(forms.Form):
    url = forms.URLField(label=gettext_lazy("Endpoint URL"), max_length=2000, assume_scheme="https")
    page = forms.ModelChoiceField(
        queryset=BookingPage.objects.none(),
        required=False,
        empty_label=gettext_lazy("All my booking pages"),
        label=gettext_lazy("Bookings of"),
    )
    events = forms.MultipleChoiceField(
        choices=[(e, e) for e in WEBHOOK_EVENTS],
        widget=forms.CheckboxSelectMultiple,
        initial=WEBHOOK_EVENTS,
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        page_field = self.fields["page"]
        assert isinstance(page_field, forms.ModelChoiceField)
        page_field.queryset = BookingPage.objects.filter(owner=user)


def _endpoints(request: HttpRequest) -> QuerySet[WebhookEndpoint]:
    # Only one's own: a site-wide endpoint (no owner) or a colleague's is a 404 here.
    return WebhookEndpoint.objects.filter(owner=request.user).select_related("page")


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        endpoint = WebhookEndpoint(
            owner=request.user,
            page=form.cleaned_data["page"],
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
        )
        try:
            endpoint.full_clean()
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            endpoint.save()
            messages.success(request, _("Endpoint added. Use its signing secret to verify events."))
            return redirect("webhook-detail", pk=endpoint.pk)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "endpoints": _endpoints(request)}
    return render(request, "bookings/staff/webhooks.html", context, status=status)


@login_required
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(_endpoints(request), pk=pk)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "delete":
            endpoint.delete()
            messages.success(request, _("Endpoint removed."))
            return redirect("webhook-list")
        if action in ("pause", "resume"):
            endpoint.active = action == "resume"
            endpoint.save(update_fields=["active"])
            return redirect("webhook-detail", pk=endpoint.pk)
    deliveries = endpoint.deliveries.select_related("booking")[:100]
    return render(
        request,
        "bookings/staff/webhook_detail.html",
        {"endpoint": endpoint, "deliveries": deliveries},
    )


@login_required
@require_POST
def webhook_send_again(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    endpoint = get_object_or_404(_endpoints(request), pk=pk)
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_pk, endpoint=endpoint)
    webhooks.send_again(delivery)
    messages.success(
        request, _("%(event)s queued again, with the same event id.") % {"event": delivery.event}
    )
    return redirect("webhook-detail", pk=endpoint.pk)
