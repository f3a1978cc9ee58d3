"""Corporate membership: who a member is, and whose calendars they may book into.

The dedicated mailbox can see many people's calendars, so the corporate connection must not
take a staff member's word for which mailbox is theirs. A membership is trusted only once its
mailbox is proven: it is the address an administrator set on the member's account (staff
can't edit their own account), or the member followed a signed, expiring, single-use link
mailed to it, or an administrator confirmed it in Django admin. Until then, and after an
administrator revokes it, `calendars.connect.connection_for` finds no connection for the
member: their pages read and write nothing.

Reading busy time from any calendar the dedicated mailbox can see is open to every active
member, as in OnceHub. Writing into someone else's calendar (main or additional booking
calendar) needs that person's consent (`CorporateMember.write_consent`), an administrator's
`WriteGrant`, or the connection's `members_may_book_into_any_calendar` switch.
`write_refusal` is that one rule; the staff pages, the staff API, booking and the calendar
write task all ask it.
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from calendars.errors import ExchangeError
from calendars.models import (
    CorporateMember,
    ExchangeConnection,
    MembershipProof,
    WriteConsent,
    WriteGrant,
)

log = logging.getLogger(__name__)

CONFIRM_SALT = "calendars.membership.confirm"


class MembershipError(ExchangeError):
    """A membership step the staff member can fix (a bad or used link, a taken mailbox)."""

    code = "membership"


def account_address(user: AbstractBaseUser) -> str:
    return (getattr(user, "email", "") or "").strip().lower()


def active_member(user: AbstractBaseUser, connection: ExchangeConnection) -> CorporateMember | None:
    return (
        CorporateMember.objects.filter(
            user=user, connection=connection, proven_at__isnull=False, revoked_at__isnull=True
        )
        .select_related("connection")
        .first()
    )


# --- proving the mailbox ---------------------------------------------------------------


def prove_by_account(member: CorporateMember) -> bool:
    """Mark the membership proven when its mailbox is the address an administrator set on
    the member's account. Returns whether it is proven now."""
    if member.revoked_at is not None or member.mailbox != account_address(member.user):
        return False
    return _mark_proven(member, MembershipProof.ACCOUNT)


def prove_by_admin(member: CorporateMember) -> bool:
    return _mark_proven(member, MembershipProof.ADMIN)


def _mark_proven(member: CorporateMember, proof: str) -> bool:
    member.proof, member.proven_at = proof, timezone.now()
    member.confirm_nonce = ""
    try:
        with transaction.atomic():
            member.save(update_fields=["proof", "proven_at", "confirm_nonce"])
    except IntegrityError as exc:  # one_proven_member_per_mailbox
        member.proof, member.proven_at = MembershipProof.PENDING, None
        raise MembershipError(
            gettext(
                "Another member has already proven %(mailbox)s as their mailbox. Ask your "
                "site administrator."
            )
            % {"mailbox": member.mailbox}
        ) from exc
    return True


def confirmation_token(member: CorporateMember) -> str:
    return signing.dumps(
        {"m": member.pk, "a": member.mailbox, "n": member.confirm_nonce}, salt=CONFIRM_SALT
    )


def send_confirmation(member: CorporateMember) -> None:
    """Mail a fresh single-use link to the mailbox; any earlier link stops working."""
    member.confirm_nonce = secrets.token_urlsafe(24)
    member.confirm_sent_at = timezone.now()
    member.save(update_fields=["confirm_nonce", "confirm_sent_at"])
    link = settings.SITE_URL + reverse("connection-confirm", args=[confirmation_token(member)])
    hours = settings.MEMBERSHIP_CONFIRM_HOURS
    who = member.user.get_full_name() or member.user.get_username()
    body = ngettext(
        "%(who)s asked to use %(mailbox)s for booking pages through the booking mailbox "
        "%(booking_mailbox)s.\n\n"
        "If this is your mailbox and you asked for this, open this link while signed in to "
        "the scheduler as %(username)s (it works once, for %(hours)s hour):\n\n"
        "%(link)s\n\n"
        "If you did not ask for this, ignore this email: nothing happens without the link.",
        "%(who)s asked to use %(mailbox)s for booking pages through the booking mailbox "
        "%(booking_mailbox)s.\n\n"
        "If this is your mailbox and you asked for this, open this link while signed in to "
        "the scheduler as %(username)s (it works once, for %(hours)s hours):\n\n"
        "%(link)s\n\n"
        "If you did not ask for this, ignore this email: nothing happens without the link.",
        hours,
    ) % {
        "who": who,
        "mailbox": member.mailbox,
        "booking_mailbox": member.connection.email,
        "username": member.user.get_username(),
        "hours": hours,
        "link": link,
    }
    try:
        send_mail(
            gettext("Confirm your mailbox for booking pages"),
            body,
            settings.DEFAULT_FROM_EMAIL,
            [member.mailbox],
        )
    except Exception as exc:  # SMTP down: say so; the member can ask for another link
        log.warning("membership confirmation for member %s not sent: %s", member.pk, exc)
        raise MembershipError(
            gettext("The confirmation email to %(mailbox)s could not be sent. Try again later.")
            % {"mailbox": member.mailbox}
        ) from exc


def confirm(user: AbstractBaseUser, token: str) -> CorporateMember:
    """Redeem a confirmation link: signed, unexpired, unused, for this user's membership."""
    try:
        data = signing.loads(
            token, salt=CONFIRM_SALT, max_age=settings.MEMBERSHIP_CONFIRM_HOURS * 3600
        )
    except signing.SignatureExpired as exc:
        raise MembershipError(
            gettext("This confirmation link has expired. Ask for a new one.")
        ) from exc
    except signing.BadSignature as exc:
        raise MembershipError(gettext("This confirmation link is not valid.")) from exc
    member = (
        CorporateMember.objects.filter(pk=data.get("m")).select_related("connection").first()
        if isinstance(data, dict)
        else None
    )
    if member is None or member.user_id != user.pk:
        raise MembershipError(
            gettext(
                "This confirmation link is for another account: sign in as the staff member who "
                "asked for it."
            )
        )
    if member.revoked_at is not None:
        raise MembershipError(gettext("An administrator revoked this membership."))
    if member.is_active:
        return member
    nonce = data.get("n") or ""
    if not member.confirm_nonce or not secrets.compare_digest(nonce, member.confirm_nonce):
        raise MembershipError(
            gettext("This confirmation link was already used or replaced by a newer one.")
        )
    if data.get("a") != member.mailbox:
        raise MembershipError(gettext("This confirmation link is for another mailbox."))
    _mark_proven(member, MembershipProof.EMAIL)
    return member


def revoke(member: CorporateMember, by: AbstractBaseUser | None) -> None:
    """Stop everything at once: every check reads the membership from the database."""
    member.revoked_at, member.revoked_by = timezone.now(), by
    member.confirm_nonce = ""
    member.save(update_fields=["revoked_at", "revoked_by", "confirm_nonce"])


# --- writing into someone's calendar ---------------------------------------------------


def write_refusal(
    user: AbstractBaseUser, connection: ExchangeConnection | None, owner_email: str
) -> str:
    """Why `user` may not book into `owner_email`'s calendars through `connection` ("" when
    they may). A personal connection is the user's own sign-in: Exchange's permissions are
    the whole rule there."""
    if connection is None:
        return gettext("The Exchange connection this calendar was reached through was removed.")
    if not connection.is_corporate:
        return ""
    owner = owner_email.strip().lower()
    member = active_member(user, connection)
    if member is None:
        return gettext(
            "Bookings go into this calendar through the booking mailbox, and the page owner's "
            "membership of it is not confirmed or was revoked."
        )
    if owner == member.mailbox or connection.members_may_book_into_any_calendar:
        return ""
    if WriteGrant.objects.filter(user=user, mailbox=owner).exists():
        return ""
    colleague = (
        CorporateMember.objects.filter(
            connection=connection, mailbox=owner, proven_at__isnull=False, revoked_at__isnull=True
        )
        .select_related("user")
        .first()
    )
    if colleague is not None:
        if colleague.write_consent == WriteConsent.EVERYONE:
            return ""
        if (
            colleague.write_consent == WriteConsent.NAMED
            and colleague.allowed_colleagues.filter(pk=user.pk).exists()
        ):
            return ""
        return gettext(
            "%(colleague)s has not allowed you to book into their calendar. They can allow you "
            "on their calendar connection page; an administrator can also grant it."
        ) % {"colleague": colleague.display_name()}
    return gettext(
        "%(owner)s has not allowed you to book into their calendar: they are not a member of "
        "the booking mailbox. An administrator can grant it in Django admin."
    ) % {"owner": owner}
