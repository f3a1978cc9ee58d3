"""The product's own Exchange errors, each with a message a staff member can act on.

Views and tasks never see exchangelib's exception zoo: `translate()` maps it onto these.
Messages never contain a secret; they may name the server or the mailbox.
"""

from __future__ import annotations

import re
import ssl

import requests
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from exchangelib import errors as ews_errors


class ExchangeError(Exception):
    """Base class. `message` is what the user sees; `code` is stable for logs and tests.

    Messages are marked for translation (staff pages ship in English only); a class's
    `default_message` is lazy and becomes text, in the active language, when raised."""

    code = "exchange_error"
    default_message = _("Exchange returned an error.")
    # Whether trying again later may help (network, throttling, outage), as opposed to a
    # problem someone must fix (password, permission).
    transient = False

    def __init__(self, message: str | None = None, *, detail: str = "") -> None:
        self.message = str(message or self.default_message)
        self.detail = detail
        super().__init__(self.message)


class AuthenticationFailed(ExchangeError):
    code = "auth_failed"
    default_message = _(
        # Not "create an app password": Exchange Server has none, and Exchange Online
        # refuses passwords over EWS altogether (it signs in with Microsoft instead).
        "Exchange refused the email address or password. Check them, and that the account "
        "isn't locked after too many wrong passwords."
    )


class AccountLocked(ExchangeError):
    code = "account_locked"
    default_message = _(
        "The Exchange account is locked or disabled. Ask your IT department to unlock it, "
        "then try again."
    )


class ServerUnreachable(ExchangeError):
    code = "unreachable"
    default_message = _("The Exchange server could not be reached. Check the EWS URL.")
    transient = True


class TlsError(ExchangeError):
    code = "tls"
    default_message = _(
        "The secure connection to the Exchange server failed: its certificate is not valid "
        "for this address or not trusted, or it does not support TLS 1.2 or newer."
    )


class TlsTooOld(TlsError):
    default_message = _(
        "The Exchange server only offers TLS older than 1.2, which is no longer safe, so we "
        "refuse to connect. Ask your IT department to enable TLS 1.2 or newer on it."
    )


# What OpenSSL says, and what we tell the user (a handshake fails for one reason at a time).
_TLS_MESSAGES = (
    (("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE"), ""),
    (
        ("certificate has expired",),
        _("The Exchange server's certificate has expired. Ask your IT department to renew it."),
    ),
    (
        ("mismatch", "not valid for", "doesn't match"),
        _(
            "The Exchange server's certificate is not valid for this address. Check the EWS "
            "URL (use the server name the certificate was issued for)."
        ),
    ),
    (
        ("CERTIFICATE_VERIFY_FAILED",),
        _(
            "The Exchange server's certificate is not trusted: it is self-signed or issued by a "
            "certificate authority this site does not know. If your organisation runs its own, "
            "the site administrator can add it (EXCHANGE_CA_BUNDLE)."
        ),
    ),
)


def _tls_error(text: str) -> TlsError:
    for needles, message in _TLS_MESSAGES:
        if any(needle in text for needle in needles):
            return TlsError(message, detail=text) if message else TlsTooOld(detail=text)
    return TlsError(detail=text)


class AutodiscoverFailed(ExchangeError):
    code = "autodiscover_failed"
    default_message = _(
        "Autodiscover could not find your Exchange server from your email address. Enter the "
        "EWS URL and user name below."
    )


class NotExchange(ExchangeError):
    code = "not_exchange"
    default_message = _(
        "The server answered, but it is not an Exchange Web Services endpoint. EWS URLs usually "
        "end in /EWS/Exchange.asmx."
    )


class AccessDenied(ExchangeError):
    code = "access_denied"
    default_message = _("Exchange refused access to this calendar.")


class MailboxNotFound(ExchangeError):
    code = "mailbox_not_found"
    default_message = _("Exchange has no mailbox with this email address.")


class Throttled(ExchangeError):
    code = "throttled"
    default_message = _("Exchange is busy and asked us to slow down. We will try again shortly.")
    transient = True

    def __init__(self, message: str | None = None, *, back_off: float | None = None) -> None:
        self.back_off = back_off
        super().__init__(message)


class ExchangeUnavailable(ExchangeError):
    code = "unavailable"
    default_message = _("Exchange is not answering right now. We will try again shortly.")
    transient = True


class MailboxOnPremises(ExchangeError):
    """Microsoft Graph answered MailboxNotEnabledForRESTAPI: the mailbox lives on an Exchange
    Server in the organisation (hybrid), or has no Exchange Online licence. Graph can't reach
    it; a connection over EWS to that server can."""

    code = "mailbox_on_premises"
    default_message = _(
        "This mailbox is on the organisation's own Exchange Server (on-premises), which "
        "Microsoft Graph can't reach. Connect to it over EWS instead."
    )


class EwsBlocked(ExchangeError):
    """Exchange Online answered EWS with HTTP 403 and X-EWS-Policy-Reason: the tenant has EWS
    off for this user or app (the default since October 2026 unless allow-listed; for good
    from 1 April 2027). Nothing on the EWS side fixes that for long: the connection moves to
    Microsoft Graph."""

    code = "ews_blocked"

    def __init__(self, reason: str = "", *, detail: str = "") -> None:
        if reason:
            message = gettext(
                "Exchange Online refused EWS for this connection (“%(reason)s”). Microsoft is "
                "switching EWS off in Exchange Online: blocked unless the tenant allow-lists the "
                "app since October 2026, and gone for good on 1 April 2027. Move the connection "
                "to Microsoft Graph (“Move to Microsoft Graph” on the connection's page); its "
                "pages, calendars and bookings stay."
            ) % {"reason": reason}
        else:
            message = gettext(
                "Exchange Online refused EWS for this connection. Microsoft is switching EWS off "
                "in Exchange Online: blocked unless the tenant allow-lists the app since October "
                "2026, and gone for good on 1 April 2027. Move the connection to Microsoft Graph "
                "(“Move to Microsoft Graph” on the connection's page); its pages, calendars and "
                "bookings stay."
            )
        super().__init__(message, detail=detail)


_POLICY_REASON = re.compile(r"""['"]X-EWS-Policy-Reason['"]:\s*['"]([^'"]*)['"]""", re.IGNORECASE)


class ItemNotFound(ExchangeError):
    code = "item_not_found"
    default_message = _("The event is no longer in the calendar.")


class EditConflict(ExchangeError):
    """Someone changed the event between the app reading it and writing it (a stale
    ChangeKey); the write reads it again and is retried."""

    code = "conflict"
    default_message = _("The event was changed in Exchange while the app was updating it.")
    transient = True


class UrlNotAllowed(ExchangeError):
    code = "url_not_allowed"
    default_message = _("This EWS URL is not allowed.")


IMPERSONATION_DENIED = _(
    "Exchange does not let the app act on this mailbox: the app registration has not been "
    "granted impersonation (the ApplicationImpersonation role, or an application access scope "
    "that includes this mailbox)."
)
_VERSION_GUESS = re.compile(
    r"No valid version headers found in response \((Error\w+)\((['\"])(.*)\2\)\)$", re.DOTALL
)


def _is_tls_problem(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError | requests.exceptions.SSLError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(current) or "SSLError" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def url_refusal(exc: BaseException) -> UrlNotAllowed | None:
    """The SSRF guard's refusal behind a failed connection, if that is why it failed.

    The transport refuses a host when it opens a connection (calendars/transport.py); by the
    time that reaches us, urllib3, requests and exchangelib have each wrapped it (as a cause,
    a `reason` or an argument), and without looking inside it would read as "unreachable"."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, UrlNotAllowed):
            return current
        pending += [current.__cause__, getattr(current, "reason", None), *current.args]
        if not current.__suppress_context__:
            pending.append(current.__context__)
    return None


# Errors Exchange answers while it is busy or a mailbox is briefly out of reach: trying
# again later helps (Microsoft's "Handling throttling and transient errors in EWS").
_EXCHANGE_TRANSIENT = (
    ews_errors.ErrorInternalServerError,
    ews_errors.ErrorInternalServerTransientError,
    ews_errors.ErrorMailboxStoreUnavailable,
    ews_errors.ErrorMailboxMoveInProgress,
    ews_errors.ErrorTooManyObjectsOpened,
    ews_errors.ErrorConnectionFailed,
    ews_errors.ErrorExceededConnectionCount,
    ews_errors.ErrorBatchProcessingStopped,
)


def translate(exc: BaseException) -> ExchangeError:
    """Map an exchangelib (or requests) exception onto the product's error types."""
    if isinstance(exc, ExchangeError):
        return exc
    refusal = url_refusal(exc)
    if refusal is not None:
        return UrlNotAllowed(refusal.message, detail=str(exc))
    text = str(exc)
    wrapped = _VERSION_GUESS.search(text) if isinstance(exc, ews_errors.TransportError) else None
    if wrapped:
        # exchangelib's version discovery wraps the server's answer to its first request in a
        # TransportError: that answer (impersonation refused, say) is what went wrong, and
        # "could not be reached" would send the admin looking at the network.
        cause = getattr(ews_errors, wrapped.group(1), None)
        if isinstance(cause, type) and issubclass(cause, ews_errors.ResponseMessageError):
            return translate(cause(wrapped.group(3)))
    if isinstance(exc, ews_errors.UnauthorizedError):
        if "locked" in text.lower():
            return AccountLocked()
        return AuthenticationFailed()
    if isinstance(exc, ews_errors.ErrorAccountDisabled):
        return AccountLocked()
    if isinstance(exc, ews_errors.ErrorServerBusy):
        if "closed connection" in text.lower():
            return ExchangeUnavailable()
        return Throttled(back_off=exc.back_off)
    if isinstance(exc, ews_errors.AutoDiscoverFailed):
        return AutodiscoverFailed()
    if isinstance(exc, ews_errors.ErrorImpersonateUserDenied | ews_errors.ErrorImpersonationDenied):
        return AccessDenied(IMPERSONATION_DENIED, detail=text)
    if isinstance(exc, ews_errors.ErrorAccessDenied | ews_errors.ErrorNoFreeBusyAccess):
        return AccessDenied(detail=text)
    if isinstance(exc, ews_errors.ErrorNonExistentMailbox | ews_errors.ErrorMailRecipientNotFound):
        return MailboxNotFound()
    if isinstance(exc, ews_errors.ErrorItemNotFound):
        return ItemNotFound(detail=text)
    if isinstance(exc, ews_errors.ErrorTimeoutExpired):
        return ServerUnreachable()
    if _is_tls_problem(exc):
        return _tls_error(text)
    if isinstance(exc, ews_errors.TransportError | ews_errors.MalformedResponseError) and (
        blocked := _POLICY_REASON.search(text)
    ):
        # exchangelib reports a 403 as an "unknown failure" carrying the response headers.
        return EwsBlocked(blocked.group(1), detail=text)
    if isinstance(exc, ews_errors.MalformedResponseError | ews_errors.SOAPError):
        return NotExchange(detail=text)
    if isinstance(exc, ews_errors.ErrorIrresolvableConflict | ews_errors.ErrorInvalidChangeKey):
        return EditConflict(detail=text)
    if isinstance(exc, _EXCHANGE_TRANSIENT):
        return ExchangeUnavailable(detail=text)
    # Exchange answered, with an error of its own: never "could not be reached" (exchangelib's
    # ResponseMessageError is a TransportError, so this comes before the branch below).
    if isinstance(exc, ews_errors.ResponseMessageError):
        return ExchangeError(
            # Translators: %(error)s is Exchange's error code, such as ErrorQuotaExceeded.
            gettext("Exchange answered with an error: %(error)s.") % {"error": type(exc).__name__},
            detail=text,
        )
    if isinstance(exc, ews_errors.TransportError | requests.exceptions.ConnectionError):
        if "Unknown failure" in text or "HTML" in text or "Content-Type" in text:
            return NotExchange(detail=text)
        return ServerUnreachable(detail=text)
    return ExchangeError(detail=text)
