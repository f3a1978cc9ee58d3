"""Staff pages: the dashboard and the calendar connection.

Thin views: Exchange work happens in calendars.connect. None of these URLs carries an id: a
staff member only ever reaches their own connection (request.user's), so there is no other
user's connection to address.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from bookings import write_status
from bookings.models import Booking, BookingPage, BookingStatus, EventWrite, WriteState
from bookings.staff_views import team_memberships
from calendars import connect, membership, oauth, to_graph
from calendars.errors import ExchangeError, ServerUnreachable
from calendars.forms import AttachForm, ConsentForm, PersonalForm
from calendars.models import (
    AuthType,
    ConnectionKind,
    ConnectionStatus,
    CorporateMember,
    ExchangeConnection,
)
from scheduler_site import contentpolicy

MICROSOFT_FLOW = "calendars.microsoft_flow"
MICROSOFT_MOVE = "calendars.microsoft_move"
MICROSOFT_CORPORATE = "calendars.microsoft_corporate"


# --- what needs attention --------------------------------------------------------------


@dataclass
class Attention:
    """One problem on the dashboard, with what to do about it."""

    title: str
    details: list[str] = field(default_factory=list)
    link: str = ""
    link_text: str = ""
    level: str = "error"  # "error" or "warn"


def visible_pages(user: AbstractBaseUser) -> QuerySet[BookingPage]:
    pages = BookingPage.objects.select_related("owner")
    return pages if user.is_superuser else pages.filter(owner=user)


def needs_attention(user: AbstractBaseUser, pages: list[BookingPage]) -> list[Attention]:
    """Everything that stops this user's calendars or pages from working, worst first."""
    items: list[Attention] = []
    personal = ExchangeConnection.objects.filter(user=user).first()
    member = CorporateMember.objects.filter(user=user).select_related("connection").first()
    connection_url = reverse("connection")

    # A site admin without pages of their own has no use for a calendar.
    needs_calendar = not user.is_superuser or any(p.owner_id == user.pk for p in pages)
    if personal is None and member is None and needs_calendar:
        items.append(
            Attention(
                _("No calendar is connected"),
                [
                    _(
                        "Your booking pages can't offer slots or take bookings until Exchange "
                        "is connected."
                    )
                ],
                connection_url,
                _("Connect a calendar"),
            )
        )
    if personal is not None and personal.status == ConnectionStatus.FAILING:
        items.append(
            Attention(
                _("Your Exchange connection is failing"),
                [personal.last_error, _("Fix what the message says, then check again.")],
                connection_url,
                _("Open the calendar connection"),
            )
        )
    if member is not None and not member.is_active:
        revoked = member.revoked_at is not None
        items.append(
            Attention(
                _("A site administrator revoked your use of the booking mailbox")
                if revoked
                else _("Confirm that %(mailbox)s is your mailbox") % {"mailbox": member.mailbox},
                [
                    _(
                        "Your booking pages read and write no calendar until an administrator "
                        "restores it."
                    )
                    if revoked
                    else _(
                        "We emailed a confirmation link to it. Until you open it (signed in "
                        "here), your booking pages read and write no calendar."
                    )
                ],
                connection_url,
                _("Open the calendar connection"),
            )
        )
    elif member is not None:
        corporate = member.connection
        if corporate.status == ConnectionStatus.FAILING:
            advice = (
                _("Fix it in Django admin: rotate the password or client secret, then check again.")
                if user.is_superuser
                else _(
                    "Tell your site administrator: they fix it in Django admin (for example "
                    "by rotating the password)."
                )
            )
            items.append(
                Attention(
                    _("The booking mailbox %(email)s can't reach Exchange")
                    % {"email": corporate.email},
                    [corporate.last_error, advice],
                    _admin_change_url(corporate) if user.is_superuser else connection_url,
                    _("Open it in Django admin")
                    if user.is_superuser
                    else _("See connection status"),
                )
            )
        elif member.access_ok is False:
            items.append(
                Attention(
                    _("%(email)s can't reach your calendar") % {"email": corporate.email},
                    [member.error, connect.delegation_instructions(member)],
                    connection_url,
                    _("See delegation status"),
                )
            )

    if user.is_superuser:
        corporate = connect.corporate_connection()
        if corporate is not None and corporate.client_secret_expires_soon():
            items.append(
                Attention(
                    _("The corporate connection's OAuth %(credential)s expires soon")
                    % {"credential": corporate.app_credential},
                    [
                        _(
                            "It expires on %(date)s. Create a new %(credential)s in Entra ID "
                            "and rotate it in Django admin."
                        )
                        % {
                            "date": f"{corporate.app_credential_expires_on:%d %B %Y}",
                            "credential": corporate.app_credential,
                        }
                    ],
                    _admin_change_url(corporate),
                    _("Open it in Django admin"),
                    level="warn",
                )
            )

    failing = EventWrite.objects.filter(state=WriteState.FAILING).select_related("booking__page")
    if not user.is_superuser:
        failing = failing.filter(booking__owner=user)
    for write in failing.order_by("booking__start")[:20]:
        booking = write.booking
        start = timezone.localtime(booking.start, booking.page.zone)
        items.append(
            Attention(
                _("A booking couldn't be written to %(calendar)s")
                % {"calendar": write.target_label},
                [
                    _("%(name)s on “%(page)s”, %(start)s.")
                    % {
                        "name": booking.name,
                        "page": booking.page.title,
                        "start": f"{start:%a %d %b %Y, %H:%M}",
                    },
                    write.last_error or _("Exchange refused the write."),
                    _("It is retried automatically; open the booking to retry now."),
                ],
                reverse("booking-detail", args=[booking.pk]),
                _("Open the booking"),
            )
        )

    for page in pages:
        if not page.active:
            continue
        problems = page.setup_problems()
        if problems:
            items.append(
                Attention(
                    _("“%(page)s” can't take bookings") % {"page": page.title},
                    problems,
                    reverse("page-edit", args=[page.pk]),
                    _("Open the page editor"),
                    level="warn",
                )
            )
    return items


def _admin_change_url(connection: ExchangeConnection) -> str:
    return reverse("admin:calendars_exchangeconnection_change", args=[connection.pk])


# --- dashboard -------------------------------------------------------------------------


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    pages = list(visible_pages(request.user))
    upcoming = Booking.objects.filter(
        status=BookingStatus.CONFIRMED, start__gte=timezone.now()
    ).select_related("page")
    if not request.user.is_superuser:
        upcoming = upcoming.filter(owner=request.user)
    upcoming = list(upcoming.prefetch_related("writes").order_by("start")[:10])
    for booking in upcoming:
        booking.write = write_status.summary(booking.writes.all())  # type: ignore[attr-defined]
    context = {
        "pages": pages,
        "upcoming": upcoming,
        "attention": needs_attention(request.user, pages),
        "connection": connect.connection_for(request.user),
        "delegation": _delegation_line(request.user),
        "memberships": team_memberships(request.user),
    }
    return render(request, "dashboard.html", context)


def _delegation_line(user: AbstractBaseUser) -> str:
    """How the booking mailbox reaches a member's calendar (delegate or shared calendar)."""
    member = _membership(user)
    return connect.delegation_explanation(member) if member else ""


# --- the connection page ---------------------------------------------------------------


def _personal(user: AbstractBaseUser) -> ExchangeConnection | None:
    return ExchangeConnection.objects.filter(user=user, kind=ConnectionKind.PERSONAL).first()


def _membership(user: AbstractBaseUser) -> CorporateMember | None:
    return CorporateMember.objects.filter(user=user).select_related("connection").first()


def _connection_context(request: HttpRequest, consent_form: ConsentForm | None = None) -> dict:
    member = _membership(request.user)
    if consent_form is None and member is not None and member.is_active:
        consent_form = ConsentForm(member=member)
    personal = _personal(request.user)
    return {
        "personal": personal,
        "can_move_to_graph": bool(
            personal
            and personal.auth_type == AuthType.OAUTH_USER
            and to_graph.can_move(personal)
            and settings.MICROSOFT_CLIENT_ID
        ),
        "member": member,
        "corporate": connect.corporate_connection(),
        "instructions": connect.delegation_instructions(member) if member else "",
        "delegation": connect.delegation_explanation(member) if member else "",
        "microsoft_enabled": bool(settings.MICROSOFT_CLIENT_ID),
        "consent_form": consent_form,
    }


@login_required
def connection(request: HttpRequest) -> HttpResponse:
    context = _connection_context(request)
    response = render(request, "calendars/connection.html", context)
    return contentpolicy.allow_microsoft_sign_in(response)


def _already_connected(request: HttpRequest) -> HttpResponse | None:
    if _personal(request.user) or _membership(request.user):
        messages.info(
            request, _("You are already connected. Disconnect first to connect another way.")
        )
        return redirect("connection")
    return None


# Views that take a password or token show none of it in an error report: the POST field is
# masked, and no frame below the view shows its local variables (the form's, the backend's,
# exchangelib's), whatever they are called.
@sensitive_variables()
@sensitive_post_parameters("password")
@login_required
@require_http_methods(["GET", "POST"])
def connect_personal(request: HttpRequest) -> HttpResponse:
    if (response := _already_connected(request)) is not None:
        return response
    data = request.POST if request.method == "POST" else request.GET
    show_details = data.get("details") == "1"
    form = PersonalForm(
        request.POST or None, show_details=show_details, initial={"email": request.user.email}
    )
    if request.method == "POST" and form.is_valid():
        try:
            conn = connect.connect_personal(request.user, form.details())
        except connect.NeedsDetails as exc:
            # Autodiscover found nothing, or the short form's sign-in was refused: ask for
            # the server details (the password must be typed again; it's never sent back).
            form = PersonalForm(request.POST, show_details=True)
            form.is_valid()
            form.add_error(None, exc.message)
            show_details = True
        except ExchangeError as exc:
            form.add_exchange_error(exc)
        else:
            messages.success(
                request, _("Connected to Exchange as %(email)s.") % {"email": conn.email}
            )
            return redirect("connection")
    # A POST that gets here was refused (bad input, or Exchange said no): a 4xx, not a 200.
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "show_details": show_details}
    return render(request, "calendars/personal.html", context, status=status)


@sensitive_variables()  # the flow holds the PKCE verifier
@login_required
@require_http_methods(["GET", "POST"])
def connect_microsoft(request: HttpRequest) -> HttpResponse:
    """Start "Connect with Microsoft": the authorization code flow (with PKCE) via msal."""
    if not settings.MICROSOFT_CLIENT_ID:
        return render(request, "calendars/microsoft_unavailable.html", status=404)
    if request.method != "POST":
        return redirect("connection")
    # "Move to Microsoft Graph": the same sign-in, for a connection that reaches Exchange
    # Online over EWS; its consent covered EWS only, so Graph's permissions need a new one.
    moving = _movable(request.user) if request.POST.get("move") else None
    if moving is None and (response := _already_connected(request)) is not None:
        return response
    redirect_uri = settings.SITE_URL + reverse("connection-microsoft-callback")
    try:
        hint = moving.email if moving else request.user.email
        flow = _start_microsoft_sign_in(redirect_uri, hint)
    except ExchangeError as exc:
        messages.error(request, exc.message)
        return redirect("connection")
    request.session[MICROSOFT_FLOW] = flow
    request.session[MICROSOFT_MOVE] = moving is not None
    return redirect(flow["auth_uri"])


def start_corporate_sign_in(request: HttpRequest, mailbox: str) -> HttpResponse:
    """The admin's "Sign in with Microsoft" for the booking mailbox (Django admin starts it;
    the callback is the staff one, the only redirect URI the app registration needs)."""
    redirect_uri = settings.SITE_URL + reverse("connection-microsoft-callback")
    flow = _start_microsoft_sign_in(redirect_uri, mailbox)
    request.session[MICROSOFT_FLOW] = flow
    request.session[MICROSOFT_CORPORATE] = mailbox
    return redirect(flow["auth_uri"])


@sensitive_variables()
def _finish_corporate_sign_in(request: HttpRequest, flow: dict[str, Any], mailbox: str):
    back = reverse("admin:calendars_exchangeconnection_changelist")
    if not request.user.has_perm("calendars.change_exchangeconnection"):
        raise PermissionDenied
    try:
        email, refresh_token = _finish_microsoft_sign_in(flow, request.GET.dict())
        if email.strip().lower() != mailbox:
            raise ExchangeError(
                _(
                    "You signed in as %(email)s, not as the booking mailbox %(mailbox)s. Sign "
                    "in as %(mailbox)s (a private window helps when you are signed in to "
                    "Microsoft 365 as yourself)."
                )
                % {"email": email, "mailbox": mailbox}
            )
        conn = connect.connect_corporate_microsoft(email, refresh_token, by=request.user)
    except ExchangeError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(
        request,
        _("The booking mailbox %(email)s is signed in with Microsoft (Graph).")
        % {"email": conn.email},
    )
    return redirect(reverse("admin:calendars_exchangeconnection_change", args=[conn.pk]))


def _movable(user: Any) -> ExchangeConnection | None:
    conn = _personal(user)
    return conn if conn is not None and to_graph.can_move(conn) else None


@sensitive_variables()  # the PKCE verifier, the tokens msal redeems the code for
@login_required
@require_http_methods(["GET"])
def microsoft_callback(request: HttpRequest) -> HttpResponse:
    flow = request.session.pop(MICROSOFT_FLOW, None)
    if flow is None:
        messages.error(
            request,
            _("The Microsoft sign-in expired or was started in another browser. Try again."),
        )
        return redirect("connection")
    corporate = request.session.pop(MICROSOFT_CORPORATE, "")
    if corporate:
        return _finish_corporate_sign_in(request, flow, corporate)
    moving = _movable(request.user) if request.session.pop(MICROSOFT_MOVE, False) else None
    if moving is None and (response := _already_connected(request)) is not None:
        return response
    try:
        email, refresh_token = _finish_microsoft_sign_in(flow, request.GET.dict())
        if moving is not None:
            if email.strip().lower() != moving.email:
                raise ExchangeError(
                    _(
                        "You signed in as %(email)s, but this connection is %(connection)s. "
                        "Sign in with Microsoft as %(connection)s to move it to Microsoft Graph."
                    )
                    % {"email": email, "connection": moving.email}
                )
            report = to_graph.move_to_graph(moving, refresh_token=refresh_token)
        else:
            conn = connect.connect_microsoft(request.user, email, refresh_token)
    except ExchangeError as exc:
        messages.error(request, exc.message)
        return redirect("connection")
    if moving is not None:
        messages.success(request, report.summary())
        return redirect("connection")
    messages.success(request, _("Connected to Microsoft 365 as %(email)s.") % {"email": conn.email})
    return redirect("connection")


@sensitive_variables()
def _start_microsoft_sign_in(redirect_uri: str, login_hint: str) -> dict[str, Any]:
    app = oauth.site_app()
    with warnings.catch_warnings():
        # msal recommends response_mode=form_post, but that answer is a cross-site POST, and
        # the browser doesn't send our SameSite=Lax session cookie with it, so the flow
        # (state, PKCE verifier, nonce) kept in the session would be lost. The query mode's
        # code is single-use and useless without the verifier, which never leaves the server.
        warnings.filterwarnings("ignore", "response_mode='form_post'", UserWarning)
        try:
            return app.initiate_auth_code_flow(
                list(oauth.GRAPH_SCOPES_USER),
                redirect_uri=redirect_uri,
                login_hint=login_hint or None,
                response_mode="query",
            )
        except requests.RequestException as exc:
            raise ServerUnreachable(
                _("The Microsoft sign-in server could not be reached."), detail=str(exc)
            ) from exc


@sensitive_variables()
def _finish_microsoft_sign_in(flow: dict[str, Any], answer: dict[str, str]) -> tuple[str, str]:
    """Redeem the code: the account's email (from the ID token) and a refresh token."""
    app = oauth.site_app()
    try:
        result = app.acquire_token_by_auth_code_flow(flow, answer)
    except ValueError as exc:  # msal: the state doesn't match this browser's flow
        raise ExchangeError(
            _("The answer from Microsoft doesn't belong to this sign-in. Try again.")
        ) from exc
    except requests.RequestException as exc:
        raise ServerUnreachable(
            _("The Microsoft sign-in server could not be reached."), detail=str(exc)
        ) from exc
    oauth.raise_for_error(result)
    claims = result.get("id_token_claims") or {}
    email = claims.get("preferred_username") or claims.get("email") or ""
    refresh_token = result.get("refresh_token") or ""
    if "@" not in email or not refresh_token:
        raise ExchangeError(
            _(
                "Microsoft signed you in but did not say which mailbox (or gave no lasting "
                "access). Ask your administrator to check the app registration's permissions."
            )
        )
    return email, refresh_token


@login_required
@require_http_methods(["GET", "POST"])
def attach(request: HttpRequest) -> HttpResponse:
    corporate = connect.corporate_connection()
    if corporate is None:
        raise Http404("There is no corporate connection on this site.")
    if _personal(request.user) is not None:
        messages.error(
            request, _("Disconnect your own Exchange account before using the booking mailbox.")
        )
        return redirect("connection")
    member = _membership(request.user)
    form = AttachForm(
        request.POST or None, initial={"mailbox": member.mailbox if member else request.user.email}
    )
    if request.method == "POST" and form.is_valid():
        try:
            member = connect.attach(request.user, form.cleaned_data["mailbox"])
        except ExchangeError as exc:
            form.add_error(None, exc.message)
        else:
            if member.is_pending:
                messages.info(
                    request,
                    _(
                        "We emailed a confirmation link to %(mailbox)s. Open it while signed "
                        "in here to prove the mailbox is yours; until then your pages use no "
                        "calendar."
                    )
                    % {"mailbox": member.mailbox},
                )
            elif member.access_ok:
                messages.success(
                    request,
                    _("Attached: %(email)s can reach %(mailbox)s's calendar.")
                    % {"email": corporate.email, "mailbox": member.mailbox},
                )
            else:
                messages.warning(
                    request,
                    _(
                        "Attached, but %(email)s can't reach your calendar yet: "
                        "%(error)s See below how to grant access."
                    )
                    % {"email": corporate.email, "error": member.error},
                )
            return redirect("connection")
    return render(
        request,
        "calendars/attach.html",
        {"form": form, "corporate": corporate, "member": member},
    )


@login_required
@require_POST
def consent(request: HttpRequest) -> HttpResponse:
    """A member says who may book into their calendar through the booking mailbox."""
    member = _membership(request.user)
    if member is None or not member.is_active:
        messages.error(request, _("Attach to the booking mailbox and confirm your mailbox first."))
        return redirect("connection")
    form = ConsentForm(request.POST, member=member)
    if not form.is_valid():
        return render(
            request, "calendars/connection.html", _connection_context(request, form), status=400
        )
    form.save()
    messages.success(request, _("Saved who may book into your calendar."))
    return redirect("connection")


@login_required
@require_http_methods(["GET"])
def confirm_mailbox(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to a mailbox a member attached as: proves it is theirs."""
    try:
        member = membership.confirm(request.user, token)
    except ExchangeError as exc:
        messages.error(request, exc.message)
        return redirect("connection")
    connect.check_member(member)
    messages.success(
        request, _("Confirmed: %(mailbox)s is your mailbox.") % {"mailbox": member.mailbox}
    )
    return redirect("connection")


@login_required
@require_http_methods(["GET", "POST"])
def disconnect(request: HttpRequest) -> HttpResponse:
    personal, member = _personal(request.user), _membership(request.user)
    if personal is None and member is None:
        messages.info(request, _("No calendar is connected."))
        return redirect("connection")
    if request.method == "POST":
        connect.disconnect(request.user)
        messages.success(
            request,
            _(
                "Disconnected. Your booking pages and bookings are kept; the pages take "
                "bookings again once you connect."
            ),
        )
        return redirect("connection")
    return render(request, "calendars/disconnect.html", {"personal": personal, "member": member})


@login_required
@require_POST
def check(request: HttpRequest) -> HttpResponse:
    """Ask Exchange now whether this user's connection (and delegation) works."""
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("connection")
    personal, member = _personal(request.user), _membership(request.user)
    if personal is not None:
        error = connect.verify(personal)
        if error is None:
            messages.success(
                request, _("Checked just now: %(email)s works.") % {"email": personal.email}
            )
        else:
            messages.error(request, _("Exchange said: %(error)s") % {"error": error.message})
    elif member is not None and not member.is_active:
        # Nothing is asked of Exchange about a mailbox the member has not proven.
        messages.info(
            request,
            _("Confirm %(mailbox)s first: open the link we emailed to it.")
            % {"mailbox": member.mailbox},
        )
    elif member is not None:
        error = connect.verify(member.connection)
        if error is not None:
            # While the booking mailbox itself can't sign in, nothing can be learnt about
            # delegation: the member's last answer stands until the administrator fixes it.
            messages.error(
                request,
                _("The booking mailbox %(email)s failed: %(error)s")
                % {"email": member.connection.email, "error": error.message},
            )
        elif connect.check_member(member).access_ok:
            messages.success(
                request,
                _("Checked just now: your calendar %(mailbox)s works.")
                % {"mailbox": member.mailbox},
            )
        else:
            messages.warning(request, member.error)
    else:
        messages.info(request, _("No calendar is connected yet."))
    return redirect(back)
