"""Calendar discovery: which calendars of an owner a connection can see, and their uses."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from calendars.connect import backend_for
from calendars.errors import ExchangeError, MailboxNotFound
from calendars.models import CalendarRef, ExchangeConnection


@dataclass
class DiscoveryResult:
    owner_email: str
    calendars: list[CalendarRef] = field(default_factory=list)
    message: str = ""  # set when there is nothing to show, saying why
    error: ExchangeError | None = None  # why Exchange didn't answer, when it didn't


def discover(connection: ExchangeConnection, owner_email: str) -> DiscoveryResult:
    """Ask Exchange for the owner's calendars, remember them, and explain an empty answer.

    Calendars seen before but not now are kept with an error rather than deleted: a booking
    page may use them, and the page must show what broke instead of silently dropping it.
    """
    owner = owner_email.strip().lower()
    try:
        validate_email(owner)
    except Exception:
        return DiscoveryResult(
            owner,
            message=gettext("%(email)s is not an email address.") % {"email": repr(owner_email)},
        )
    try:
        infos = backend_for(connection).discover(owner)
    except MailboxNotFound as exc:
        return DiscoveryResult(owner, message=no_mailbox(owner), error=exc)
    except ExchangeError as exc:
        return DiscoveryResult(owner, message=exc.message, error=exc)

    now = timezone.now()
    refs: list[CalendarRef] = []
    with transaction.atomic():
        for info in infos:
            ref, _ = CalendarRef.objects.update_or_create(
                connection=connection,
                owner_email=owner,
                folder_id=info.folder_id,
                defaults={
                    "name": info.name,
                    "is_primary": info.is_primary,
                    "permission_level": info.permission_level,
                    "can_create": info.can_create,
                    "can_read_items": info.can_read_items,
                    "discovered_at": now,
                    "error": "",
                },
            )
            refs.append(ref)
        seen = {info.folder_id for info in infos}
        CalendarRef.objects.filter(connection=connection, owner_email=owner).exclude(
            folder_id__in=seen
        ).update(error=NO_LONGER_SHARED)
    if not refs:
        return DiscoveryResult(
            owner,
            message=gettext(
                "%(owner)s shares no calendar with %(mailbox)s. Ask them to share their "
                "calendar (any permission for busy time; Editor or Delegate for bookings)."
            )
            % {"owner": owner, "mailbox": connection.email},
        )
    return DiscoveryResult(owner, calendars=refs)


# Stored in English in CalendarRef.error, translated where it is shown (bookings.models).
NO_LONGER_SHARED = gettext_noop("No longer shared with this connection.")


def no_mailbox(owner_email: str) -> str:
    return gettext("There is no mailbox %(email)s in your organisation's Exchange.") % {
        "email": owner_email
    }


def refusal_to_add(connection: ExchangeConnection, owner_email: str) -> str:
    """Why `owner_email` can't become a calendar owner of a page ("" when it can), asked of
    Exchange before anything is saved: a mistyped or outside address (someone@gmail.com) is
    refused while the staff member still sees what they typed, instead of becoming a card
    that can never show a calendar. Its calendars are discovered (and remembered) on the way.

    GetFolder answers ErrorNonExistentMailbox and free/busy ErrorMailRecipientNotFound for an
    address Exchange doesn't know; both are MailboxNotFound. An owner who shares nothing
    exists, and is added: their card says what to ask them for."""
    result = discover(connection, owner_email)
    exc = result.error
    if exc is None:
        return ""
    if isinstance(exc, MailboxNotFound):
        check = gettext(
            "Check the address: only people with a mailbox there have calendars this page can use."
        )
        return f"{no_mailbox(result.owner_email)} {check}"
    if exc.transient:
        # Not "doesn't exist": Exchange didn't say, and the address may well be right.
        return gettext(
            "Exchange can't be reached right now, so %(email)s could not be checked and was "
            "not added. Try again in a few minutes."
        ) % {"email": result.owner_email}
    return gettext("Exchange could not check %(email)s, so it was not added: %(error)s") % {
        "email": result.owner_email,
        "error": exc.message,
    }
