"""Moving a Microsoft 365 connection from EWS to Microsoft Graph, keeping what hangs off it.

Exchange Online switches EWS off (blocked unless allow-listed since October 2026, gone on
1 April 2027). A connection made before that reaches Exchange Online over EWS with an OAuth
token; moving it to Graph must keep its calendars' roles on every page and its bookings'
events. Graph names calendars and events with ids of its own, so:

- each remembered calendar is found again through Graph's discovery (the primary calendar
  as the primary, the others by name) and keeps its row, so page roles stay attached;
- each written event is found again by the booking's uid, an extended property EWS and
  Graph read alike (calendars/backends/ews.py BookingUid), so two-way sync and later changes
  keep working; an event not found is left to the next write, which looks it up by uid too;
- EWS sync states mean nothing to Graph and are dropped (the next sync starts afresh).

Exchange is asked first and the database written after, as everywhere in calendars/connect:
a refused token or an unreachable Graph leaves the connection as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.dispatch import Signal
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from calendars.backends.base import CalendarInfo
from calendars.errors import ExchangeError
from calendars.models import (
    AuthType,
    CalendarRef,
    ExchangeConnection,
    FolderSyncState,
    Protocol,
)

# Sent inside the migration's transaction with the Graph backend and the calendar id map
# ((owner, old folder id) -> new folder id), so the bookings app can move its event writes.
connection_moved = Signal()

NOT_FOUND_AFTER_MOVE = (
    "Not found in Exchange Online when the connection moved to Microsoft Graph: it may have "
    "been renamed or unshared. Choose it again on the page's calendars."
)


@dataclass
class MoveReport:
    calendars_moved: int = 0
    calendars_missing: list[str] = field(default_factory=list)  # "owner / name"
    events_found: int = 0
    events_left_to_next_write: int = 0
    owners_unreachable: dict[str, str] = field(default_factory=dict)  # owner -> message

    def summary(self) -> str:
        """What the move kept, in a sentence or two for the person who moved it."""
        n = self.calendars_moved
        if self.events_found:
            e = self.events_found
            events = ngettext(
                "%(count)s booked event found again", "%(count)s booked events found again", e
            ) % {"count": e}
            text = ngettext(
                # Translators: %(events)s is "3 booked events found again".
                "Moved to Microsoft Graph: %(count)s calendar kept their roles, %(events)s.",
                "Moved to Microsoft Graph: %(count)s calendars kept their roles, %(events)s.",
                n,
            ) % {"count": n, "events": events}
        else:
            text = ngettext(
                "Moved to Microsoft Graph: %(count)s calendar kept their roles.",
                "Moved to Microsoft Graph: %(count)s calendars kept their roles.",
                n,
            ) % {"count": n}
        missing = self.calendars_missing + list(self.owners_unreachable)
        if missing:
            text += " " + _(
                "Not found in Exchange Online, and marked on their pages: %(calendars)s."
            ) % {"calendars": ", ".join(missing)}
        return text


def can_move(connection: ExchangeConnection) -> bool:
    """Microsoft 365 connections over EWS: OAuth (Exchange Online refuses passwords)."""
    return connection.protocol == Protocol.EWS and connection.auth_type in (
        AuthType.OAUTH_APP,
        AuthType.OAUTH_USER,
    )


@sensitive_variables()
def move_to_graph(connection: ExchangeConnection, *, refresh_token: str = "") -> MoveReport:
    """Switch `connection` to Graph. A delegated connection needs a new sign-in with Microsoft
    first (`refresh_token`): its old consent covers EWS only, not Graph's permissions."""
    from calendars.connect import backend_for, forget_cached

    if not can_move(connection):
        raise ExchangeError(
            _("Only a Microsoft 365 connection over EWS can move to Microsoft Graph.")
        )
    if connection.auth_type == AuthType.OAUTH_USER and not refresh_token:
        raise ExchangeError(_("Sign in with Microsoft again to move this connection to Graph."))
    candidate = connection.unsaved_copy(
        keep_pk=True,
        protocol=Protocol.GRAPH,
        oauth_refresh_token=refresh_token or connection.oauth_refresh_token,
        # A new credential version keeps Graph tokens apart from the EWS ones cached under
        # the old.
        credential_version=connection.credential_version + 1,
    )
    backend = backend_for(candidate)
    backend.verify()

    report = MoveReport()
    refs = list(CalendarRef.objects.filter(connection=connection))
    found: dict[str, list[CalendarInfo]] = {}
    for owner in sorted({ref.owner_email for ref in refs}):
        try:
            found[owner] = backend.discover(owner)
        except ExchangeError as exc:
            report.owners_unreachable[owner] = exc.message
    folder_map: dict[tuple[str, str], str] = {}
    with transaction.atomic():
        for ref in refs:
            info = _match(ref, found.get(ref.owner_email))
            if info is None:
                if ref.owner_email in found:
                    report.calendars_missing.append(str(ref))
                    ref.error = NOT_FOUND_AFTER_MOVE
                else:
                    ref.error = report.owners_unreachable[ref.owner_email]
                ref.save(update_fields=["error"])
                continue
            folder_map[(ref.owner_email, ref.folder_id)] = info.folder_id
            ref.folder_id = info.folder_id
            ref.name, ref.is_primary = info.name, info.is_primary
            ref.permission_level, ref.can_create = info.permission_level, info.can_create
            ref.can_read_items, ref.error = info.can_read_items, ""
            ref.save()
            report.calendars_moved += 1
        FolderSyncState.objects.filter(connection=connection).delete()
        connection.protocol = Protocol.GRAPH
        fields = ["protocol", "updated"]
        if refresh_token:
            connection.oauth_refresh_token = refresh_token
            fields.append("oauth_refresh_token")
        connection.save(update_fields=fields)
        connection.bump_credential_version()
        connection_moved.send(
            sender=ExchangeConnection,
            connection=connection,
            backend=backend,
            folder_map=folder_map,
            report=report,
        )
    forget_cached(connection)
    connection.record_success()
    return report


def _match(ref: CalendarRef, infos: list[CalendarInfo] | None) -> CalendarInfo | None:
    if infos is None:
        return None
    if ref.is_primary:
        return next((i for i in infos if i.is_primary), None)
    named = [i for i in infos if not i.is_primary and i.name.casefold() == ref.name.casefold()]
    return named[0] if len(named) == 1 else None
