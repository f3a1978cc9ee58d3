"""Seed data for the simulator (JSON or YAML), with events placed relative to "this week" so a
demo never goes stale.

Format::

    version: Exchange2016                 # optional
    impersonation: [client-id-or-smtp]    # optional: granted ApplicationImpersonation
    applications:                         # optional: app registrations (identity provider)
      - {client_id: ..., secret: ..., roles: [Calendars.ReadWrite], redirect_uris: [...]}
    app_scopes: {client-id: [alice@...]}  # optional: RBAC for Applications (Graph app-only)
    mailboxes:
      - email: alice@contoso.example
        name: Alice Liddell
        password: secret
        logins: ["CONTOSO\\\\alice", alice@corp.contoso.example]
        on_premises: false                # true: on Exchange Server (EWS only; Graph answers
                                          # MailboxNotEnabledForRESTAPI)
        timezone: Europe/London           # the mailbox's zone, and its events' default
        working_hours:                    # Outlook's work hours, in the mailbox's zone
          {days: [Monday, Tuesday, Wednesday, Thursday, Friday], start: "08:00", end: "17:00"}
                                          # (that is the default; a list gives several periods)
        calendars: [Team rota]            # sub-calendars of the primary calendar
        permissions:                      # on the primary calendar unless `calendar` is given
          - {grantee: booking-sync@contoso.example, level: Delegate}
          - {grantee: Default, level: FreeBusyTimeOnly}
        events:
          - subject: Stand-up
            weekday: Monday               # in this week ...
            week: 0                       # ... plus N weeks (may be negative)
            start: "09:00"
            minutes: 15                   # or end: "09:15"
            status: Busy                  # Free, Tentative, Busy, OOF, WorkingElsewhere
            recurrence: {pattern: weekly, weekdays: [Monday, Wednesday], count: 20}
          - {subject: Holiday, weekday: Friday, week: 1, all_day: true, days: 1, status: OOF}
          - {subject: Fixed, date: 2025-03-14, start: "10:00", end: "11:00"}
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import yaml

from .model import WorkingPeriod
from .recurrence import WEEKDAY_NAMES, Recurrence

if TYPE_CHECKING:
    from .server import Simulator


def _weekday(name: str) -> int:
    return WEEKDAY_NAMES.index(name.capitalize())


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def recurrence_from_spec(spec: dict[str, Any], start_date: date) -> Recurrence:
    """A Recurrence from a small dict: pattern (daily/weekly), interval, weekdays, and
    count or until (no end when neither is given)."""
    # A misspelt key would silently give a different series (weekly on the first day).
    unknown = set(spec) - {"pattern", "interval", "weekdays", "count", "until", "first_day_of_week"}
    if unknown:
        raise ValueError(f"unknown recurrence keys: {', '.join(sorted(unknown))}")
    pattern = spec.get("pattern", "weekly")
    if pattern not in ("daily", "weekly"):
        raise ValueError(f"seed recurrences are daily or weekly, not {pattern!r}")
    weekdays = frozenset(_weekday(d) for d in spec.get("weekdays", []))
    if pattern == "weekly" and not weekdays:
        weekdays = frozenset({start_date.weekday()})
    until = spec.get("until")
    return Recurrence(
        pattern=pattern,
        interval=int(spec.get("interval", 1)),
        start_date=start_date,
        end_date=_as_date(until) if until is not None else None,
        number_of_occurrences=int(spec["count"]) if "count" in spec else None,
        weekdays=weekdays if pattern == "weekly" else frozenset(),
        first_day_of_week=_weekday(spec.get("first_day_of_week", "Sunday")),
    )


def working_hours_from_spec(
    spec: dict[str, Any] | list[dict[str, Any]],
) -> tuple[WorkingPeriod, ...]:
    """WorkingPeriods from {days: [...], start: "HH:MM", end: "HH:MM"} (or a list of them);
    end "24:00" or "00:00" is midnight at the end of the day."""
    periods = []
    for period in [spec] if isinstance(spec, dict) else spec:
        unknown = set(period) - {"days", "start", "end"}
        if unknown:
            raise ValueError(f"unknown working_hours keys: {', '.join(sorted(unknown))}")
        days = tuple(WEEKDAY_NAMES[_weekday(d)] for d in period.get("days", []))
        start, end = (
            _minutes(str(period.get(k, d))) for k, d in (("start", "08:00"), ("end", "17:00"))
        )
        end = end or 24 * 60
        if not days or not 0 <= start < end <= 24 * 60:
            raise ValueError(f"working_hours need days and start before end: {period!r}")
        periods.append(WorkingPeriod(days, start, end))
    return tuple(periods)


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes or 0)


def _event_day(spec: dict[str, Any], monday: date) -> date:
    if "date" in spec:
        return _as_date(spec["date"])
    return monday + timedelta(
        weeks=int(spec.get("week", 0)), days=_weekday(spec.get("weekday", "Monday"))
    )


def _add_event(
    sim: Simulator, owner: str, tz_name: str, spec: dict[str, Any], monday: date
) -> None:
    tz_name = spec.get("timezone", tz_name)
    zone = ZoneInfo(tz_name)
    day = _event_day(spec, monday)
    if spec.get("all_day"):
        start = datetime.combine(day, time(), zone)
        end = datetime.combine(day + timedelta(days=int(spec.get("days", 1))), time(), zone)
    else:
        start = datetime.combine(day, time.fromisoformat(str(spec.get("start", "09:00"))), zone)
        if "end" in spec:
            end = datetime.combine(day, time.fromisoformat(str(spec["end"])), zone)
        else:
            end = start + timedelta(minutes=int(spec.get("minutes", 60)))
    recurrence = spec.get("recurrence")
    sim.add_event(
        owner,
        start,
        end,
        spec.get("subject", ""),
        tz=tz_name,
        all_day=bool(spec.get("all_day")),
        status=spec.get("status", "Busy"),
        location=spec.get("location", ""),
        body=spec.get("body", ""),
        sensitivity=spec.get("sensitivity", "Normal"),
        recurrence=recurrence_from_spec(recurrence, day) if recurrence else None,
        calendar=spec.get("calendar"),
        attendees=spec.get("attendees", ()),
    )


def read_seed(source: dict[str, Any] | str | Path) -> dict[str, Any]:
    """A seed as a dict, from a dict or a .json / .yaml file."""
    if isinstance(source, dict):
        return source
    path = Path(source)
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def load_seed(
    sim: Simulator, source: dict[str, Any] | str | Path, today: date | None = None
) -> None:
    """Create the seed's mailboxes, calendars, permissions and events in `sim`."""
    seed = read_seed(source)
    today = today or date.today()
    monday = today - timedelta(days=today.weekday())
    mailboxes = seed.get("mailboxes", [])
    for spec in mailboxes:
        mbx = sim.add_mailbox(
            spec["email"], spec.get("name", spec["email"]), spec["password"], spec.get("logins", [])
        )
        with sim.store.lock:
            mbx.timezone = spec.get("timezone", "UTC")
            if "working_hours" in spec:
                mbx.working_hours = working_hours_from_spec(spec["working_hours"])
            mbx.on_premises = bool(spec.get("on_premises", False))
        idp = getattr(sim, "identity_provider", None)
        if idp is not None and not mbx.on_premises:
            # Everyone in Exchange Online signs in to Entra with their mailbox's password.
            idp.register_user(spec["email"], spec["password"])
        for name in spec.get("calendars", []):
            sim.add_calendar(spec["email"], name)
    # Permissions and events after all mailboxes exist, so grants may name any of them.
    for spec in mailboxes:
        for perm in spec.get("permissions", []):
            if perm["level"].lower() == "delegate":
                sim.add_delegate(spec["email"], perm["grantee"], perm.get("calendar"))
            else:
                sim.set_permission(
                    spec["email"], perm["grantee"], perm["level"], perm.get("calendar")
                )
        for event in spec.get("events", []):
            _add_event(sim, spec["email"], spec.get("timezone", "UTC"), event, monday)
    for principal in seed.get("impersonation", []):
        sim.grant_impersonation(principal)
    with sim.store.lock:
        for client_id, members in (seed.get("app_scopes") or {}).items():
            sim.store.app_scopes[client_id] = {m.lower() for m in members}
    idp = getattr(sim, "identity_provider", None)
    for app in seed.get("applications", []):
        if idp is not None:
            idp.register_application(
                app["client_id"],
                app["secret"],
                roles=app.get("roles", ()),
                redirect_uris=app.get("redirect_uris"),
            )
