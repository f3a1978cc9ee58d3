"""Connecting to Exchange: personal accounts, the corporate mailbox, rotation, verification.

The one rule everywhere: Exchange is asked first, the database is written after, so a failed
attempt never leaves a half-saved connection or a secret behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_variables
from exchangelib import Configuration, Credentials, FailFast
from exchangelib.autodiscover.protocol import AutodiscoverProtocol

from calendars import membership, oauth
from calendars.backends import ews, graph, hybrid
from calendars.backends.base import Backend
from calendars.errors import (
    IMPERSONATION_DENIED,
    AuthenticationFailed,
    AutodiscoverFailed,
    ExchangeError,
    UrlNotAllowed,
    translate,
)
from calendars.models import (
    AuthType,
    ConnectionKind,
    ConnectionStatus,
    CorporateMember,
    CredentialRotation,
    DelegationState,
    ExchangeConnection,
    ExchangeVersion,
    MembershipProof,
    Protocol,
    RotationResult,
    SyncDirection,
    permission_label,
)
from calendars.synclog import record
from calendars.urlcheck import check_url
from scheduler_site.compiled import Compiled

# Sent after the corporate (or any) connection's credentials changed and were saved, so that
# writes that failed with the old credentials can be retried at once.
credentials_rotated = Signal()


def backend_for(connection: ExchangeConnection) -> Backend:
    """EWS for Exchange Server, Microsoft Graph for Exchange Online, and per mailbox for a
    hybrid organisation (backends/hybrid.py)."""
    if connection.protocol == Protocol.GRAPH:
        return graph.GraphBackend(connection)
    if connection.protocol == Protocol.HYBRID:
        return hybrid.HybridBackend(connection)
    return ews.EwsBackend(connection)


def forget_cached(connection: ExchangeConnection) -> None:
    if connection.pk:
        ews.forget_connection(connection.pk)
        graph.forget_connection(connection.pk)
        oauth.forget_connection(connection.pk)


# --- Autodiscover ----------------------------------------------------------------------


def autodiscover_endpoints(email: str) -> list[str]:
    domain = email.rpartition("@")[2].lower()
    configured = settings.EXCHANGE_AUTODISCOVER_ENDPOINTS.get(domain)
    if configured:
        return [configured]
    return [
        f"https://{domain}/autodiscover/autodiscover.svc",
        f"https://autodiscover.{domain}/autodiscover/autodiscover.svc",
    ]


# The functions that hold a password, secret or token show no local variables in an error
# report, nor does anything they call (exchangelib, msal, the encrypted fields' save).
@sensitive_variables()
def autodiscover(email: str, password: str, username: str = "") -> str:
    """Find the EWS URL for a mailbox with SOAP Autodiscover; raise AutodiscoverFailed.

    We walk the standard endpoints ourselves rather than through exchangelib's discovery,
    so that every host is checked by the SSRF guard before we connect to it, and so that an
    Autodiscover answer pointing at an internal address is refused too.
    """
    last: ExchangeError | None = None
    for endpoint in autodiscover_endpoints(email):
        try:
            check_url(endpoint)
        except UrlNotAllowed as exc:
            last = exc
            continue
        config = Configuration(
            service_endpoint=endpoint,
            credentials=Credentials(username=username or email, password=password),
            retry_policy=FailFast(),
        )
        try:
            with record(None, SyncDirection.VERIFY, "Autodiscover", email):
                protocol = AutodiscoverProtocol(config=config)
                try:
                    response = protocol.get_user_settings(
                        user=email, settings=["external_ews_url", "internal_ews_url"]
                    )
                finally:
                    protocol.close()
        except Exception as exc:
            last = translate(exc)
            if last.code == "auth_failed":
                raise last from exc
            continue
        url = getattr(response, "ews_url", None) or _setting(response)
        if url:
            return check_url(url)
    raise AutodiscoverFailed(detail=last.message if last else "")


def _setting(response: object) -> str | None:
    user_settings = getattr(response, "user_settings", None) or {}
    return user_settings.get("external_ews_url") or user_settings.get("internal_ews_url")


# --- personal connections --------------------------------------------------------------


@dataclass
class PersonalDetails:
    email: str
    password: str = field(repr=False)  # never in a log line or a traceback's repr
    ews_url: str = ""
    username: str = ""
    exchange_version: str = ExchangeVersion.AUTO
    auth_type: str = AuthType.BASIC


# This form is for Exchange on the organisation's own servers (Microsoft 365 signs in with
# "Connect with Microsoft"), where app passwords don't exist: what goes wrong there is the
# password, the form of the user name, or an account locked after too many attempts.
SIGN_IN_REFUSED_ON_PREMISES = (
    "Exchange refused the email address or password. Check the password (the one you use "
    "for Outlook on the web); if your organisation signs in with a user name such as "
    "DOMAIN\\user, enter it under the server details; and make sure the account isn't "
    "locked: after too many wrong passwords Exchange locks it for a while, and your IT "
    "department can unlock it."
)


class NeedsDetails(ExchangeError):
    """Autodiscover or sign-in failed with the short form: ask for EWS URL and user name."""

    code = "needs_details"

    def __init__(self, cause: ExchangeError) -> None:
        self.cause = cause
        super().__init__(cause.message)


# Exchange Online's EWS hosts (worldwide, US Government, China): they refuse passwords since
# 2022 and EWS itself from April 2027, so the email + password form sends such accounts to
# "Connect with Microsoft" instead of trying.
EXCHANGE_ONLINE_HOSTS = frozenset(
    {"outlook.office365.com", "outlook.office.com", "outlook.office365.us", "partner.outlook.cn"}
)
USE_CONNECT_WITH_MICROSOFT = (
    "This is a Microsoft 365 (Exchange Online) mailbox. Microsoft 365 accounts connect with "
    "Microsoft, not with a password: use “Connect with Microsoft”."
)


def is_exchange_online(ews_url: str) -> bool:
    host = (urlsplit(ews_url).hostname or "").lower()
    return host in EXCHANGE_ONLINE_HOSTS


@sensitive_variables()
def connect_personal(user: AbstractBaseUser, details: PersonalDetails) -> ExchangeConnection:
    if ExchangeConnection.objects.filter(user=user).exists() or hasattr(
        user, "corporate_membership"
    ):
        raise ExchangeError(
            gettext("You are already connected. Disconnect first to connect again.")
        )
    short_form = not details.ews_url
    try:
        ews_url = details.ews_url or autodiscover(details.email, details.password, details.username)
        if is_exchange_online(ews_url):
            raise ExchangeError(USE_CONNECT_WITH_MICROSOFT)
        candidate = ExchangeConnection(
            kind=ConnectionKind.PERSONAL,
            user=user,
            email=details.email.strip().lower(),
            username=details.username.strip(),
            ews_url=check_url(ews_url),
            auth_type=details.auth_type,
            exchange_version=details.exchange_version,
            password=details.password,
        )
        backend_for(candidate).verify()
    except ExchangeError as exc:
        error = exc
        if exc.code == "auth_failed":
            error = AuthenticationFailed(SIGN_IN_REFUSED_ON_PREMISES, detail=exc.detail)
        if short_form and error.code in ("autodiscover_failed", "auth_failed"):
            raise NeedsDetails(error) from exc
        if error is exc:
            raise
        raise error from exc
    return _save_verified(candidate)


def _save_verified(candidate: ExchangeConnection) -> ExchangeConnection:
    """Save a connection Exchange has just accepted, marked as working."""
    candidate.status = ConnectionStatus.OK
    candidate.last_checked_at = candidate.last_success_at = timezone.now()
    candidate.save()
    return candidate


@sensitive_variables()
def connect_microsoft(user: AbstractBaseUser, email: str, refresh_token: str) -> ExchangeConnection:
    """Save a "Connect with Microsoft" connection once its first token worked against
    Microsoft Graph (Exchange Online's EWS is closing: see the README)."""
    if ExchangeConnection.objects.filter(user=user).exists() or hasattr(
        user, "corporate_membership"
    ):
        # The sign-in round trip through Microsoft leaves time to connect in another tab.
        raise ExchangeError(
            gettext("You are already connected. Disconnect first to connect again.")
        )
    candidate = ExchangeConnection(
        kind=ConnectionKind.PERSONAL,
        user=user,
        email=email.strip().lower(),
        protocol=Protocol.GRAPH,
        auth_type=AuthType.OAUTH_USER,
        exchange_version=ExchangeVersion.ONLINE,
        oauth_refresh_token=refresh_token,
    )
    backend_for(candidate).verify()
    return _save_verified(candidate)


@sensitive_variables()
def connect_corporate_microsoft(
    email: str, refresh_token: str, by: AbstractBaseUser | None = None
) -> ExchangeConnection:
    """The dedicated mailbox signed in with Microsoft (delegated Graph): members delegate or
    share their calendars to it exactly as on-premises. Signing in again replaces the token
    in place (the way a password rotation does): members and pages carry on uninterrupted."""
    email = email.strip().lower()
    existing = corporate_connection()
    candidate = ExchangeConnection(
        kind=ConnectionKind.CORPORATE,
        email=email,
        protocol=Protocol.GRAPH,
        auth_type=AuthType.OAUTH_USER,
        exchange_version=ExchangeVersion.ONLINE,
        oauth_refresh_token=refresh_token,
    )
    if existing is not None:
        if existing.email != email:
            raise ExchangeError(
                gettext(
                    "The booking mailbox is %(mailbox)s: sign in as it, or remove the "
                    "corporate connection first to use another mailbox."
                )
                % {"mailbox": existing.email}
            )
        if not (existing.protocol == Protocol.GRAPH and existing.auth_type == AuthType.OAUTH_USER):
            raise ExchangeError(
                gettext(
                    "The corporate connection signs in another way. Move it to Microsoft Graph, "
                    "or remove it, before signing the booking mailbox in with Microsoft."
                )
            )
        candidate.pk, candidate.credential_version = existing.pk, existing.credential_version + 1
    backend_for(candidate).verify()
    if existing is None:
        return _save_verified(candidate)
    with transaction.atomic():
        existing.oauth_refresh_token = refresh_token
        existing.save(update_fields=["oauth_refresh_token", "updated"])
        existing.bump_credential_version()
        CredentialRotation.objects.create(
            connection=existing,
            changed_by=by,
            what="Microsoft sign-in",
            result=RotationResult.VERIFIED,
        )
    forget_cached(existing)
    existing.record_success()
    transaction.on_commit(
        lambda: credentials_rotated.send(sender=ExchangeConnection, connection=existing)
    )
    return existing


def disconnect(user: AbstractBaseUser) -> None:
    """Delete the stored connection and its secrets. Bookings stay."""
    with transaction.atomic():
        for conn in ExchangeConnection.objects.filter(user=user):
            forget_cached(conn)
            conn.delete()
        CorporateMember.objects.filter(user=user).delete()


def verify(connection: ExchangeConnection) -> ExchangeError | None:
    """Check the connection against Exchange now and remember the answer."""
    try:
        backend_for(connection).verify()
    except ExchangeError as exc:
        connection.record_failure(exc.message)
        return exc
    connection.record_success()
    return None


# --- the corporate connection ----------------------------------------------------------


def corporate_connection() -> ExchangeConnection | None:
    return ExchangeConnection.objects.filter(kind=ConnectionKind.CORPORATE).first()


def connection_for(user: AbstractBaseUser | int) -> ExchangeConnection | None:
    """The connection a staff member's pages use: their own account, or the corporate one
    once their membership is proven and while it is not revoked (calendars.membership).

    One query: it runs on every slots request (which passes the owner's id alone), so its
    SQL is compiled once per process (scheduler_site.compiled). Each call still reads the
    row: a new password, a revoked membership or a new connection is seen at once."""
    found = _connection_for(user if isinstance(user, int) else user.pk)
    return found[0] if found else None


def _connection_for_query(user_id: int) -> QuerySet[ExchangeConnection]:
    active_member = Q(
        members__user=user_id, members__proven_at__isnull=False, members__revoked_at__isnull=True
    )
    return ExchangeConnection.objects.filter(
        Q(user=user_id) | active_member
    ).order_by(
        "-kind"  # "personal" before "corporate": an own account wins
    )[:1]


_connection_for = Compiled(ExchangeConnection, _connection_for_query, -7_340_021)


def connections_for(user_ids: Iterable[int]) -> dict[int, ExchangeConnection]:
    """connection_for for many users at once (a team page's members), in three queries: user
    id -> their connection, for those who have one. Members attached to the corporate
    connection get one shared instance, so their busy time goes out in one request."""
    ids = set(user_ids)
    found = {c.user_id: c for c in ExchangeConnection.objects.filter(user_id__in=ids)}
    rest = ids - found.keys()
    if rest:
        members = CorporateMember.objects.filter(
            user_id__in=rest, proven_at__isnull=False, revoked_at__isnull=True
        ).values_list("user_id", "connection_id")
        # The shared connection read once, not once per member (select_related): each read
        # decrypts its secrets, a quarter of a cached team slots answer's time at 20 members.
        rows = list(members)
        shared = ExchangeConnection.objects.in_bulk({connection for _, connection in rows})
        for user_id, connection in rows:
            if connection in shared:  # not deleted in between
                found[user_id] = shared[connection]
    return found


def attach(user: AbstractBaseUser, mailbox: str = "") -> CorporateMember:
    """Attach a staff member to the corporate connection as `mailbox`.

    The address an administrator set on their account is proven at once (and delegation is
    checked); any other address stays pending until the member follows the link mailed to it.
    """
    conn = corporate_connection()
    if conn is None:
        raise ExchangeError(gettext("There is no corporate connection on this site."))
    if ExchangeConnection.objects.filter(user=user).exists():
        raise ExchangeError(gettext("Disconnect your personal account before attaching."))
    mailbox = (mailbox or user.email).strip().lower()
    member = CorporateMember.objects.filter(user=user).first()
    if member is not None and member.revoked_at is not None:
        raise membership.MembershipError(
            "A site administrator revoked your use of the booking mailbox. Ask them to restore it."
        )
    if member is not None and member.is_active and member.mailbox == mailbox:
        return check_member(member)
    member, _ = CorporateMember.objects.update_or_create(
        user=user,
        defaults={
            "connection": conn,
            "mailbox": mailbox,
            "proof": MembershipProof.PENDING,
            "proven_at": None,
            "access_ok": None,
            "can_write": False,
            "checked_at": None,
            "error": "",
            "calendar_permission": "",
            "delegation": DelegationState.UNKNOWN,
            "delegate_permission": "",
        },
    )
    if membership.prove_by_account(member):
        check_member(member)
    else:
        membership.send_confirmation(member)
    return member


def delegation_instructions(member: CorporateMember) -> str:
    conn = member.connection
    # A hybrid connection reaches a cloud member through its app registration (Graph), an
    # on-premises one through the dedicated mailbox: the route remembered for the mailbox
    # says which (routing.py; none yet means the member was never checked).
    in_cloud = (
        conn.protocol == Protocol.HYBRID
        and conn.mailbox_routes.filter(mailbox=member.mailbox, protocol=Protocol.GRAPH).exists()
    )
    if in_cloud or (conn.uses_app_only_oauth and conn.protocol == Protocol.GRAPH):
        # Graph's app-only access is scoped by Exchange's RBAC for Applications, which only
        # an Exchange administrator can change (see the README's PowerShell).
        return gettext(
            "Your Exchange administrator adds %(mailbox)s to the management scope of the "
            "site's app registration (application id %(client_id)s): RBAC for Applications, "
            "role “Application Calendars.ReadWrite”. Changes take up to an hour to apply."
        ) % {"mailbox": member.mailbox, "client_id": member.connection.oauth_client_id}
    if member.connection.uses_app_only_oauth:
        # App-only OAuth reaches calendars by impersonation, which members cannot grant.
        return gettext(
            "Your Exchange administrator grants the site's app registration (application id "
            "%(client_id)s) access to %(mailbox)s: an application access scope (RBAC for "
            "Applications) or the ApplicationImpersonation role."
        ) % {"mailbox": member.mailbox, "client_id": member.connection.oauth_client_id}
    return gettext(
        "In Outlook or Outlook on the web, %(mailbox)s opens Calendar > Share (or File > "
        "Account Settings > Delegate Access), adds %(box)s and gives it Editor or Delegate "
        "permission. Your Exchange administrator can also grant it centrally."
    ) % {"mailbox": member.mailbox, "box": member.connection.email}


def check_member(member: CorporateMember) -> CorporateMember:
    """Ask Exchange whether the dedicated mailbox can reach this member's calendar, and
    whether it is their delegate or only shared the calendar. Nothing is asked about a
    mailbox the member has not proven to be theirs."""
    if not member.is_active:
        return member
    backend = backend_for(member.connection)
    member.delegation, member.delegate_permission = DelegationState.UNKNOWN, ""
    try:
        access = backend.mailbox_access(member.mailbox)
    except ExchangeError as exc:
        member.access_ok, member.can_write, member.error = False, False, exc.message
        member.calendar_permission = ""
    else:
        member.access_ok = access.can_write
        member.can_write = access.can_write
        member.calendar_permission = access.permission_level
        _record_delegation(member, backend, can_read=access.can_read or access.can_write)
        if access.can_write:
            member.error = ""
        elif access.can_read and member.delegation == DelegationState.DELEGATE:
            member.error = (
                f"{member.connection.email} is {member.mailbox}'s delegate with "
                f"{permission_label(member.delegate_permission)} permission on the calendar: it "
                "can read it but not add events. In Outlook's Delegate Access, change its "
                "Calendar permission to Editor."
            )
        elif access.can_read:
            member.error = (
                f"{member.connection.email} can read but not add events to {member.mailbox}'s "
                "calendar: it needs Editor or Delegate permission."
            )
        elif member.connection.uses_app_only_oauth:
            member.error = f"{member.mailbox}: {IMPERSONATION_DENIED}"
        else:
            member.error = (
                f"{member.mailbox} has not delegated their calendar to {member.connection.email}."
            )
    member.checked_at = timezone.now()
    member.save(
        update_fields=[
            "access_ok",
            "can_write",
            "error",
            "checked_at",
            "calendar_permission",
            "delegation",
            "delegate_permission",
        ]
    )
    return member


def _record_delegation(member: CorporateMember, backend: Backend, *, can_read: bool) -> None:
    """What GetDelegate says, when Exchange tells this connection (see Backend.delegation).
    Best effort: the folder permission already decided whether bookings can be written, so
    a failed or refused GetDelegate leaves the state unknown and is no error of the member's.
    """
    try:
        delegation = backend.delegation(member.mailbox)
    except ExchangeError:
        return
    if delegation is None:
        return
    if delegation.is_delegate:
        member.delegation = DelegationState.DELEGATE
        member.delegate_permission = delegation.calendar_permission or "None"
    elif can_read:
        member.delegation = DelegationState.PERMISSION_ONLY
    else:
        member.delegation = DelegationState.NONE


# The delegate calendar levels that let a delegate add events.
_LEVELS_THAT_CREATE = {"Editor", "Author"}


def delegation_explanation(member: CorporateMember) -> str:
    """How the booking mailbox reaches the member's calendar, in one or two sentences for
    the member: delegate (and with what), a shared calendar only, or neither. What can't
    be done is said by `member.error` beside it."""
    if not member.is_active or member.checked_at is None or member.connection.uses_app_only_oauth:
        return ""
    box, state = member.connection.email, member.delegation
    if state == DelegationState.DELEGATE:
        level = member.delegate_permission
        text = gettext(
            "%(box)s is your delegate in Exchange, with %(level)s permission on your calendar."
        ) % {"box": box, "level": permission_label(level)}
        if member.can_write and level not in _LEVELS_THAT_CREATE:
            # Exchange shows the delegate list only to accounts with full access, which
            # also lets them write whatever the delegate level says.
            text += " " + gettext(
                "It can still add bookings: your Exchange administrator gave it full access "
                "to your mailbox."
            )
        elif member.can_write:
            text += " " + gettext("It can add bookings.")
        return text
    if state == DelegationState.PERMISSION_ONLY:
        level = member.calendar_permission
        if level:
            text = gettext(
                "%(box)s is not your delegate in Exchange, but you shared your calendar with "
                "it (%(level)s permission)."
            ) % {"box": box, "level": permission_label(level)}
        else:
            text = gettext(
                "%(box)s is not your delegate in Exchange, but you shared your calendar with it."
            ) % {"box": box}
        if member.can_write:
            text += " " + gettext("That is enough to add bookings.")
        return text
    if state == DelegationState.NONE:
        return gettext(
            "%(box)s is neither your delegate in Exchange nor shared on your calendar."
        ) % {"box": box}
    if not member.calendar_permission:
        return ""
    text = gettext("%(box)s has %(level)s permission on your calendar.") % {
        "box": box,
        "level": permission_label(member.calendar_permission),
    }
    if member.can_write:
        text += " " + gettext("It can add bookings.")
    return (
        text
        + " "
        + gettext(
            "Whether it is also your delegate (Outlook's Delegate Access) Exchange shows only "
            "to you and to accounts with full access to your mailbox."
        )
    )


class RotationNotVerified(ExchangeError):
    """Exchange could not be reached to verify the new secret; offer "save anyway"."""

    code = "rotation_unverified"


@sensitive_variables()
def rotate_secret(
    connection: ExchangeConnection,
    new_secret: str,
    by: AbstractBaseUser | None,
    *,
    save_anyway: bool = False,
    expires_on: object = None,
    graph_side: bool = False,
) -> CredentialRotation:
    """Replace the password (or OAuth client secret, or certificate) after Exchange
    accepted it.

    A connection that signs in with a certificate takes a new one as PEM (private key and
    certificate): oauth.CertificateInvalid before anything else if it can't be used, then
    verified by fetching a token with it, saved with its thumbprint and expiry.
    Saving bumps credential_version, which every process compares with its cached
    protocol: the next call anywhere uses the new secret, without a restart. `graph_side`:
    a hybrid connection's app registration secret (its Graph side) instead of the dedicated
    mailbox's password; both sides are verified with the new one before it is saved.
    """
    is_oauth = connection.auth_type == AuthType.OAUTH_APP or (
        graph_side and connection.protocol == Protocol.HYBRID
    )
    certificate = (
        oauth.parse_client_certificate(new_secret)
        if is_oauth and connection.oauth_client_certificate
        else None
    )
    what = "certificate" if certificate else "client secret" if is_oauth else "password"
    candidate = connection.unsaved_copy()
    if certificate is not None:
        candidate.oauth_client_certificate = certificate.stored
        candidate.oauth_certificate_thumbprint = certificate.thumbprint
    elif is_oauth:
        candidate.oauth_client_secret = new_secret
    else:
        candidate.password = new_secret
    try:
        backend_for(candidate).verify()
        result, message = RotationResult.VERIFIED, ""
    except ExchangeError as exc:
        if not exc.transient:
            CredentialRotation.objects.create(
                connection=connection,
                changed_by=by,
                what=what,
                result=RotationResult.REJECTED,
                message=exc.message,
            )
            raise
        if not save_anyway:
            raise RotationNotVerified(
                f"Exchange could not be reached to check the new {what} ({exc.message}). "
                "Save it anyway, or try again later."
            ) from exc
        result, message = RotationResult.SAVED_UNVERIFIED, exc.message
    with transaction.atomic():
        if certificate is not None:
            connection.oauth_client_certificate = certificate.stored
            connection.oauth_certificate_thumbprint = certificate.thumbprint
            connection.oauth_certificate_expires_on = certificate.expires_on
            connection.save(
                update_fields=[
                    "oauth_client_certificate",
                    "oauth_certificate_thumbprint",
                    "oauth_certificate_expires_on",
                    "updated",
                ]
            )
        elif is_oauth:
            connection.oauth_client_secret = new_secret
            if expires_on is not None:
                connection.oauth_client_secret_expires_on = expires_on
            connection.save(
                update_fields=["oauth_client_secret", "oauth_client_secret_expires_on", "updated"]
            )
        else:
            connection.password = new_secret
            connection.save(update_fields=["password", "updated"])
        connection.bump_credential_version()
        rotation = CredentialRotation.objects.create(
            connection=connection, changed_by=by, what=what, result=result, message=message
        )
    forget_cached(connection)
    if result == RotationResult.VERIFIED:
        connection.record_success()
    transaction.on_commit(
        lambda: credentials_rotated.send(sender=ExchangeConnection, connection=connection)
    )
    return rotation
