"""Calendar discovery: which calendars of an owner a connection can see, and their uses."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from calendars.backends import ews
from calendars.errors import ExchangeError, MailboxNotFound
from calendars.models import CalendarRef, ExchangeConnection


@dataclass
class DiscoveryResult:
    owner_email: str
    calendars: list[CalendarRef] = field(default_factory=list)
    message: str = ""  # set when there is nothing to show, saying why


def discover(connection: ExchangeConnection, owner_email: str) -> DiscoveryResult:
    """Ask Exchange for the owner's calendars, remember them, and explain an empty answer.

    Calendars seen before but not now are kept with an error rather than deleted: a booking
    page may use them, and the page must show what broke instead of silently dropping it.
    """
    owner = owner_email.strip().lower()
    try:
        validate_email(owner)
    except Exception:
        return DiscoveryResult(owner, message=f"{owner_email!r} is not an email address.")
    try:
        infos = ews.EwsBackend(connection).discover(owner)
    except MailboxNotFound:
        return DiscoveryResult(owner, message=f"Exchange has no mailbox {owner}.")
    except ExchangeError as exc:
        return DiscoveryResult(owner, message=exc.message)

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
        ).update(error="No longer shared with this connection.")
    if not refs:
        return DiscoveryResult(
            owner,
            message=(
                f"{owner} shares no calendar with {connection.email}. Ask them to share their "
                "calendar (any permission for busy time; Editor or Delegate for bookings)."
            ),
        )
    return DiscoveryResult(owner, calendars=refs)
