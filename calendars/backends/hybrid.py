"""Hybrid organisations: one corporate connection, two backends.

Mailboxes on the organisation's own Exchange Server are reached over EWS with the dedicated
mailbox's password (the connection as it is: email, ews_url, Basic or NTLM); mailboxes in
Exchange Online over Microsoft Graph with the app registration's client credentials (the
connection's OAuth fields, app-only, scoped by RBAC for Applications). Each call goes to the
side where its mailbox lives, as calendars/routing.py says (Autodiscover v2, remembered).

The Graph side is an unsaved copy of the connection that reads as an app-only Graph
connection (auth_type OAUTH_APP, protocol GRAPH) to GraphBackend, graph_client and oauth,
with the same primary key and credential_version: their caches are keyed by those (plus the
app's id and secret digest), and only this copy uses them for the connection, while the EWS
side's caches live in backends/ews.py. So connect.forget_cached and a rotation's version
bump reach both sides, and neither side's cache can hand its session to the other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NoReturn

from calendars import routing
from calendars.backends import ews, graph
from calendars.backends.base import (
    Backend,
    BusyInterval,
    CalendarInfo,
    CalendarTarget,
    Changes,
    Delegation,
    EventData,
    MailboxAccess,
    SyncStateLost,
    WorkingHours,
)
from calendars.errors import MailboxOnPremises
from calendars.models import AuthType, ExchangeConnection, ExchangeVersion, Protocol


def _refuse_save(*args: Any, **kwargs: Any) -> NoReturn:
    raise RuntimeError("The Graph side of a hybrid connection is a view, never saved.")


def graph_side(connection: ExchangeConnection) -> ExchangeConnection:
    """The connection as GraphBackend reads an app-only connection (see the docstring)."""
    if connection.protocol != Protocol.HYBRID:
        return connection
    side = connection.unsaved_copy(
        keep_pk=True,
        protocol=Protocol.GRAPH,
        auth_type=AuthType.OAUTH_APP,
        exchange_version=ExchangeVersion.ONLINE,
        password="",  # the on-premises password never travels with the Graph side
    )
    # It shares the real row's primary key: saving it would overwrite that row.
    side.save = _refuse_save  # type: ignore[method-assign]
    return side


class CloudSide(graph.GraphBackend):
    """GraphBackend for the Graph side. Graph's getSchedule is asked *of* a mailbox (any the
    token reaches: the schedules are looked up for whoever asks), which GraphBackend takes
    to be the connection's own; a hybrid connection's dedicated mailbox is normally
    on-premises, where Graph can't ask anything, so a busy read asks it of a cloud mailbox
    it reads anyway (`anchored`). The connection, and so its pooled Graph session and
    tokens, stays the same."""

    def __init__(self, connection: ExchangeConnection, anchor: str = "") -> None:
        super().__init__(connection)
        self.anchor = anchor.strip().lower()

    def anchored(self, mailbox: str) -> CloudSide:
        return CloudSide(self.connection, mailbox)

    def _me(self) -> str:
        return self.anchor or super()._me()


def graph_backend(connection: ExchangeConnection) -> CloudSide:
    """The Graph side of a hybrid connection (the connection itself for any other)."""
    return CloudSide(graph_side(connection))


class HybridBackend(Backend):
    def __init__(self, connection: ExchangeConnection) -> None:
        self.connection = connection
        self.ews = ews.EwsBackend(connection)
        self.graph = graph_backend(connection)

    def _side(self, mailbox: str) -> Backend:
        protocol = routing.protocol_for(self.connection, mailbox)
        return self.graph if protocol == Protocol.GRAPH else self.ews

    def _sides(self, mailboxes: Iterable[str]) -> dict[str, Backend]:
        routes = routing.protocols_for(self.connection, mailboxes)
        return {m: self.graph if p == Protocol.GRAPH else self.ews for m, p in routes.items()}

    # --- sign-in and access ----------------------------------------------------------

    def verify(self) -> None:
        """Both sides: the dedicated mailbox over EWS with its password, and the app's
        client credentials against Graph. The dedicated mailbox normally lives on-premises,
        so Graph answering MailboxNotEnabledForRESTAPI for it is a success: Exchange Online
        accepted the app's token and looked the mailbox up."""
        self.ews.verify()
        with contextlib.suppress(MailboxOnPremises):
            self.graph.verify()

    def mailbox_access(self, mailbox: str) -> MailboxAccess:
        return self._side(mailbox).mailbox_access(mailbox)

    def delegation(self, mailbox: str) -> Delegation | None:
        return self._side(mailbox).delegation(mailbox)

    def discover(self, owner_email: str) -> list[CalendarInfo]:
        return self._side(owner_email).discover(owner_email)

    def working_hours(
        self, owner_email: str, *, zone_hints: Sequence[str] = ()
    ) -> WorkingHours | None:
        return self._side(owner_email).working_hours(owner_email, zone_hints=zone_hints)

    # --- busy time ---------------------------------------------------------------------

    def busy(
        self, targets: list[CalendarTarget], start: datetime, end: datetime
    ) -> dict[CalendarTarget, list[BusyInterval]]:
        return self.start_busy(targets, start, end)()

    def start_busy(
        self, targets: list[CalendarTarget], start: datetime, end: datetime
    ) -> Callable[[], dict[CalendarTarget, list[BusyInterval]]]:
        """Split the targets by where their owners live and start both halves at once (each
        backend batches its own: one GetUserAvailability, getSchedule per 20 people)."""
        sides = self._sides(t.owner_email for t in targets)
        halves: dict[int, tuple[Backend, list[CalendarTarget]]] = {}
        for target in targets:
            side = sides[target.owner_email.strip().lower()]
            halves.setdefault(id(side), (side, []))[1].append(target)
        pending = [
            (self.graph.anchored(part[0].owner_email) if side is self.graph else side).start_busy(
                part, start, end
            )
            for side, part in halves.values()
        ]

        def answers() -> dict[CalendarTarget, list[BusyInterval]]:
            merged: dict[CalendarTarget, list[BusyInterval]] = {}
            for wait in pending:
                merged.update(wait())
            return merged

        return answers

    # --- events ------------------------------------------------------------------------

    def find_event(self, target: CalendarTarget, uid: str) -> str | None:
        return self._side(target.owner_email).find_event(target, uid)

    def event_times(
        self, target: CalendarTarget, item_ids: list[str]
    ) -> dict[str, tuple[datetime, datetime] | None]:
        return self._side(target.owner_email).event_times(target, item_ids)

    def create_event(self, target: CalendarTarget, event: EventData) -> str:
        return self._side(target.owner_email).create_event(target, event)

    def update_event(self, target: CalendarTarget, item_id: str, event: EventData) -> str:
        return self._side(target.owner_email).update_event(target, item_id, event)

    def delete_event(self, target: CalendarTarget, item_id: str) -> None:
        self._side(target.owner_email).delete_event(target, item_id)

    def join_url(self, target: CalendarTarget, item_id: str) -> str | None:
        return self._side(target.owner_email).join_url(target, item_id)

    def changes(self, target: CalendarTarget, state: str) -> Changes:
        side = self._side(target.owner_email)
        # A sync state belongs to the protocol that gave it: Graph's is its deltaLink (a URL),
        # EWS's an opaque SyncFolderItems blob. A mailbox that moved sides starts afresh.
        if state and (side is self.graph) != state.startswith(("https://", "http://")):
            raise SyncStateLost(detail="the mailbox moved between on-premises and the cloud")
        return side.changes(target, state)
