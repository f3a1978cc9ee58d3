"""Forms for the staff's calendar connection pages.

Passwords are write-only: PasswordInput(render_value=False) never sends a value back to the
browser, not even after a failed attempt.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from calendars.connect import PersonalDetails
from calendars.errors import ExchangeError
from calendars.models import AuthType, CorporateMember, ExchangeVersion, WriteConsent

# Which field an Exchange error is about, so its message appears next to that field.
# Errors about the server only point at the EWS URL when the form shows it.
_ERROR_FIELDS = {
    "auth_failed": "password",
    "unreachable": "ews_url",
    "tls": "ews_url",
    "not_exchange": "ews_url",
    "url_not_allowed": "ews_url",
}
_SERVER_FIELDS = {"ews_url", "username", "exchange_version", "auth_type"}


class PersonalForm(forms.Form):
    """Email and password, as in Outlook; the server details when Autodiscover can't help."""

    email = forms.EmailField(
        label=gettext_lazy("Email address"),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "current-password"}),
        help_text=gettext_lazy("Your Exchange password, as in Outlook on the web."),
    )
    ews_url = forms.URLField(
        label=gettext_lazy("EWS URL"),
        required=False,
        assume_scheme="https",
        max_length=500,
        help_text=gettext_lazy(
            "e.g. https://mail.example.com/EWS/Exchange.asmx. Your IT department knows "
            "it; Outlook shows it too."
        ),
    )
    username = forms.CharField(
        label=gettext_lazy("User name"),
        required=False,
        max_length=255,
        help_text=gettext_lazy(
            "Leave blank to sign in with the email address, or enter DOMAIN\\UserName."
        ),
    )
    exchange_version = forms.ChoiceField(
        label=gettext_lazy("Exchange version"),
        choices=ExchangeVersion.choices,
        initial=ExchangeVersion.AUTO,
        required=False,
    )
    auth_type = forms.ChoiceField(
        label=gettext_lazy("Sign-in method"),
        choices=[
            (AuthType.BASIC.value, gettext_lazy("Basic")),
            (AuthType.NTLM.value, gettext_lazy("NTLM (Windows)")),
        ],
        initial=AuthType.BASIC,
        required=False,
        help_text=gettext_lazy(
            "Basic works for most servers; choose NTLM if your IT department says so."
        ),
    )

    def __init__(self, *args: object, show_details: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.show_details = show_details

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        # Django takes a domain literal (x@[127.0.0.1]), but Autodiscover finds a server by
        # the domain's name; no Exchange mailbox is addressed by an IP address.
        if email.rpartition("@")[2].startswith("["):
            raise forms.ValidationError(
                _("Enter your mailbox's address with its domain name, not an IP address.")
            )
        return email

    def clean(self) -> dict[str, object]:
        data = super().clean()
        if not self.show_details:
            # The short form: whatever was posted for the server details is ignored.
            data.update(
                ews_url="",
                username="",
                exchange_version=ExchangeVersion.AUTO,
                auth_type=AuthType.BASIC,
            )
        return data

    def details(self) -> PersonalDetails:
        data = self.cleaned_data
        return PersonalDetails(
            email=data["email"],
            password=data["password"],
            ews_url=data.get("ews_url") or "",
            username=(data.get("username") or "").strip(),
            exchange_version=data.get("exchange_version") or ExchangeVersion.AUTO,
            auth_type=data.get("auth_type") or AuthType.BASIC,
        )

    def add_exchange_error(self, error: ExchangeError) -> None:
        field = _ERROR_FIELDS.get(error.code)
        if field in _SERVER_FIELDS and not self.show_details:
            field = None
        self.add_error(field, error.message)

    def server_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("ews_url", "username", "exchange_version", "auth_type")]


class AttachForm(forms.Form):
    mailbox = forms.EmailField(
        label=gettext_lazy("Your mailbox"),
        help_text=gettext_lazy(
            "The email address of your own Exchange mailbox, whose calendar bookings go into."
        ),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class ConsentForm(forms.Form):
    """Who may book into this member's calendar through the booking mailbox."""

    write_consent = forms.ChoiceField(
        label=gettext_lazy("Who may book into my calendar"),
        choices=WriteConsent.choices,
        widget=forms.RadioSelect,
        help_text=gettext_lazy(
            "Anyone attached to the booking mailbox can already see when you are busy; "
            "this decides who may put bookings into your calendar from their pages."
        ),
    )
    allowed_colleagues = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Colleagues I allow"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, member: CorporateMember, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "write_consent": member.write_consent,
                "allowed_colleagues": list(member.allowed_colleagues.all()),
            },
        )
        super().__init__(*args, **kwargs)
        self.member = member
        # Only colleagues who are active members of the same booking mailbox can book through
        # it, so only they are offered.
        self.fields["allowed_colleagues"].queryset = (
            User.objects.filter(
                corporate_membership__connection=member.connection,
                corporate_membership__proven_at__isnull=False,
                corporate_membership__revoked_at__isnull=True,
            )
            .exclude(pk=member.user_id)
            .order_by("first_name", "last_name", "username")
        )
        self.fields["allowed_colleagues"].label_from_instance = lambda user: (
            f"{user.get_full_name() or user.get_username()} ({user.email})"
        )

    def save(self) -> CorporateMember:
        member = self.member
        member.write_consent = self.cleaned_data["write_consent"]
        member.save(update_fields=["write_consent"])
        colleagues = self.cleaned_data["allowed_colleagues"]
        member.allowed_colleagues.set(colleagues if member.write_consent == "named" else [])
        return member
