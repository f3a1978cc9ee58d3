"""Calendar entries as every protocol face sees them: instances (single items, masters,
occurrences, exceptions), their expansion in a window, and changes to single occurrences.

No XML or JSON here: the EWS face (`ews/item_xml.py`) and the Graph face (`graph/`) render
these. Errors are `StoreError`s carrying Exchange's response codes, which each face words
in its own protocol (ErrorItemNotFound is a SOAP ResponseCode over EWS, a 404 over Graph).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .model import (
    EXCEPTION_FIELDS,
    CalendarItem,
    ModifiedOccurrence,
    StoreError,
    occurrence_id,
)

SUBJECT_MAX_LENGTH = 255

# Far enough ahead to find any occurrence by index without expanding forever.
_OCCURRENCE_HORIZON = timedelta(days=366 * 30)


@dataclass(frozen=True)
class Instance:
    """One calendar entry as a view returns it: a single item, a master, an occurrence or an
    exception (an occurrence changed on its own)."""

    # Where the entry's properties come from: the item itself, or for an exception a copy of
    # its master with the exception's overrides applied (see exception_item).
    item: CalendarItem
    start: datetime
    end: datetime
    index: int | None = None  # 1-based occurrence index; None for single items and masters
    original_start: datetime | None = None  # occurrences: where the pattern puts them
    is_exception: bool = False
    master: CalendarItem | None = None  # occurrences and exceptions: the series they belong to

    @property
    def id(self) -> str:
        # An exception keeps the id it had as an occurrence, as in Exchange (exchangelib's
        # test_change_occurrence: modified_occurrences[0].id == the occurrence's id).
        return self.item.id if self.index is None else occurrence_id(self.item.id, self.index)

    @property
    def kind(self) -> str:
        if self.is_exception:
            return "Exception"
        if self.index is not None:
            return "Occurrence"
        return "RecurringMaster" if self.item.recurrence is not None else "Single"

    @property
    def recurrence_id(self) -> datetime:
        """RecurrenceId / OriginalStart: the occurrence's place in the pattern."""
        return self.original_start or self.start


def instances_in(
    item: CalendarItem,
    window_start: datetime,
    window_end: datetime,
    *,
    calendar_view: bool = False,
) -> list[Instance]:
    """What a view of the window shows for `item`: the item itself, or its occurrences
    (Exchange expands recurring series in calendar views and never returns the master there).

    Free/busy (the default) counts entries that overlap the window. A CalendarView also lists
    entries that end exactly at its StartDate: Microsoft's CalendarView reference leaves out
    only items whose end is *before* StartDate, and those starting on or after EndDate, and
    exchangelib's `view()` docstring notes the same of live servers.
    """
    if calendar_view:
        if item.recurrence is None:
            shown = item.start < window_end and item.end >= window_start
            return [Instance(item, item.start, item.end)] if shown else []
        # The expansion tests strict overlap: open the window by datetime's smallest step
        # and keep what ends at StartDate or later.
        early = _expand(item, window_start - _TICK, window_end)
        return [inst for inst in early if inst.end >= window_start]
    if item.recurrence is None:
        overlaps = item.start < window_end and item.end > window_start
        zero_length_inside = item.start == item.end and window_start <= item.start < window_end
        return [Instance(item, item.start, item.end)] if overlaps or zero_length_inside else []
    return list(_expand(item, window_start, window_end))


_TICK = timedelta(microseconds=1)


def occurrence(item: CalendarItem, index: int) -> Instance:
    """The occurrence (or exception) with 1-based `index`, or the errors Exchange gives."""
    if item.recurrence is None:
        raise StoreError("ErrorItemNotFound", "The specified object was not found in the store.")
    exc = item.modified_occurrences.get(index)
    if exc is not None:
        return exception_instance(item, exc)
    slot = _pattern_slot(item, index)
    if slot is None:
        raise StoreError(
            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
            "The occurrence index is out of recurrence range.",
        )
    if local_date(item, slot[0]) in item.deleted_occurrences:
        raise StoreError(
            "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
            "Occurrence with this index was previously deleted from the recurrence.",
        )
    return Instance(item, slot[0], slot[1], index, slot[0], master=item)


def _pattern_slot(item: CalendarItem, index: int) -> tuple[datetime, datetime] | None:
    """Where the pattern puts occurrence `index` (deleted or modified or not)."""
    from . import recurrence

    for occ in recurrence.expand(
        item.start,
        item.end,
        ZoneInfo(item.tz),
        item.recurrence,
        item.start - timedelta(days=1),
        item.start + _OCCURRENCE_HORIZON,
    ):
        if occ.index == index:
            return occ.start, occ.end
        if occ.index > index:
            break
    return None


def _expand(item: CalendarItem, window_start: datetime, window_end: datetime) -> Iterator[Instance]:
    """The series' entries in the window: plain occurrences where the pattern puts them, and
    exceptions where they were moved to. An exception moved out of the window is not in it
    and one moved into the window is, whatever its original date."""
    from . import recurrence  # imported late: it is written alongside this module

    pattern = _pattern(
        item.start,
        item.end,
        item.tz,
        item.recurrence,
        window_start,
        window_end,
        frozenset(item.deleted_occurrences),
    )
    for occ in pattern:
        if occ.index not in item.modified_occurrences:
            yield Instance(item, occ.start, occ.end, occ.index, occ.start, master=item)
    for exc in sorted(item.modified_occurrences.values(), key=lambda e: e.index):
        # The same window test as the pattern's occurrences (recurrence._overlaps).
        if recurrence._overlaps(exc.start, exc.end, window_start, window_end):
            yield exception_instance(item, exc)


@functools.lru_cache(maxsize=4096)
def _pattern(
    start: datetime,
    end: datetime,
    tz: str,
    rule: Any,
    window_start: datetime,
    window_end: datetime,
    deleted: frozenset[date],
) -> tuple[Any, ...]:
    """recurrence.expand for these values, kept: it is a pure function of them, and the same
    series and window come back on every free/busy request for a calendar (expanding them
    was a third of the time answering one)."""
    from . import recurrence  # imported late: it is written alongside this module

    return tuple(
        recurrence.expand(start, end, ZoneInfo(tz), rule, window_start, window_end, deleted)
    )


def exception_item(master: CalendarItem, exc: ModifiedOccurrence) -> CalendarItem:
    """The exception as an item: its master's properties, its own times and overrides."""
    view = dataclasses.replace(
        master,
        start=exc.start,
        end=exc.end,
        recurrence=None,
        deleted_occurrences=set(),
        modified_occurrences={},
        categories=list(master.categories),
        attendees=list(master.attendees),
        extended=dict(master.extended),
        change_key=exc.change_key,
        modified=exc.modified,
    )
    for name, value in exc.overrides.items():
        setattr(view, name, copy.deepcopy(value))
    return view


def exception_instance(master: CalendarItem, exc: ModifiedOccurrence) -> Instance:
    return Instance(
        exception_item(master, exc),
        exc.start,
        exc.end,
        exc.index,
        exc.original_start,
        is_exception=True,
        master=master,
    )


def exception_draft(inst: Instance) -> CalendarItem:
    """A copy of occurrence `inst` to apply UpdateItem's changes to; exception_commit stores
    it once they are all valid. It shows the ChangeKey the occurrence had (its master's)."""
    assert inst.index is not None and inst.master is not None
    if inst.is_exception:
        return inst.item
    draft = exception_item(
        inst.master, ModifiedOccurrence(inst.index, inst.recurrence_id, inst.start, inst.end)
    )
    draft.change_key = inst.item.change_key
    return draft


def exception_commit(inst: Instance, draft: CalendarItem) -> Instance:
    """Make `draft` (from exception_draft) the exception at `inst`'s place. The master
    changes too (new ChangeKey): Exchange keeps exceptions inside their master, so for
    SyncFolderItems the master is what was updated."""
    master, index = inst.master, inst.index
    assert master is not None and index is not None
    if draft.recurrence is not None:
        raise StoreError(
            "ErrorInvalidOperation", "An occurrence of a recurring series can't recur itself."
        )
    if draft.end < draft.start:
        raise StoreError(
            "ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate"
        )
    _check_boundaries(master, index, draft.start)
    overrides = {
        name: copy.deepcopy(getattr(draft, name))
        for name in EXCEPTION_FIELDS
        if getattr(draft, name) != getattr(master, name)
    }
    exc = ModifiedOccurrence(index, inst.recurrence_id, draft.start, draft.end, overrides)
    master.modified_occurrences[index] = exc
    master.touch()
    return exception_instance(master, exc)


def modify_occurrence(
    master: CalendarItem, index: int, change: Callable[[CalendarItem], None]
) -> Instance:
    """Apply `change` to occurrence `index` of `master`, making it an exception."""
    inst = occurrence(master, index)
    draft = exception_draft(inst)
    change(draft)
    return exception_commit(inst, draft)


def delete_occurrence(master: CalendarItem, inst: Instance) -> None:
    """Delete one occurrence or exception: it joins DeletedOccurrences (at its original time)
    and an exception's changes are dropped with it."""
    assert inst.index is not None
    master.modified_occurrences.pop(inst.index, None)
    master.deleted_occurrences.add(local_date(master, inst.recurrence_id))
    master.touch()


def _current_start(master: CalendarItem, index: int) -> datetime | None:
    """Where occurrence `index` is now; None when it is deleted or out of range."""
    try:
        return occurrence(master, index).start
    except StoreError:
        return None


def _check_boundaries(master: CalendarItem, index: int, new_start: datetime) -> None:
    """Exchange (like Outlook, "can't reschedule an occurrence if it skips over a later or
    earlier occurrence") refuses to move an occurrence onto or past the day of the
    occurrence before or after it: ErrorOccurrenceCrossingBoundary."""
    day = local_date(master, new_start)
    reach = len(master.deleted_occurrences) + 1  # deleted neighbours are skipped over
    before = next(
        (
            start
            for i in range(index - 1, max(0, index - 1 - reach), -1)
            if (start := _current_start(master, i)) is not None
        ),
        None,
    )
    after = next(
        (
            start
            for i in range(index + 1, index + 1 + reach)
            if (start := _current_start(master, i)) is not None
        ),
        None,
    )
    if (before is not None and day <= local_date(master, before)) or (
        after is not None and day >= local_date(master, after)
    ):
        raise StoreError(
            "ErrorOccurrenceCrossingBoundary",
            "An occurrence can't be moved onto or past the day of an adjacent occurrence.",
        )


def series_bounds(item: CalendarItem) -> tuple[Instance | None, Instance | None]:
    """FirstOccurrence and LastOccurrence of a master: its first and last entries that are
    not deleted (an exception at its new time). A series without an end has no last one."""
    from . import recurrence

    rec = item.recurrence
    endless = rec.end_date is None and rec.number_of_occurrences is None
    first = last = None
    for occ in recurrence.expand(
        item.start,
        item.end,
        ZoneInfo(item.tz),
        rec,
        item.start - timedelta(days=1),
        item.start + _OCCURRENCE_HORIZON,
        frozenset(item.deleted_occurrences),
    ):
        first = first or occ.index
        last = occ.index
        if endless:
            break
    if first is None or last is None:
        return None, None
    return occurrence(item, first), None if endless else occurrence(item, last)


def local_date(item: CalendarItem, when: datetime) -> date:
    """The wall-clock date of `when` in the item's zone (how deleted occurrences are keyed)."""
    return when.astimezone(ZoneInfo(item.tz)).date()


def snap_all_day(item: CalendarItem) -> None:
    """Exchange moves all-day start/end to local midnights (start down, end up)."""
    zone = ZoneInfo(item.tz)
    start_local = item.start.astimezone(zone)
    end_local = item.end.astimezone(zone)
    start_day = start_local.date()
    end_day = (
        end_local.date()
        if end_local.time() == datetime.min.time()
        else end_local.date() + timedelta(days=1)
    )
    if end_day <= start_day:
        end_day = start_day + timedelta(days=1)
    item.start = datetime.combine(start_day, datetime.min.time(), zone).astimezone(UTC)
    item.end = datetime.combine(end_day, datetime.min.time(), zone).astimezone(UTC)


def _drop_exceptions(item: CalendarItem) -> None:
    """A new pattern (or none) loses the series' modified and deleted occurrences, as in
    Outlook ("any exceptions associated with this recurring appointment will be lost"); the
    same pattern sent again (exchangelib's full save) keeps them."""
    item.modified_occurrences.clear()
    item.deleted_occurrences.clear()


def merged_statuses(
    entries: list[Instance], start: datetime, end: datetime, minutes: int, priority: list[str]
) -> list[str]:
    """The status of each `minutes`-long slot from `start` to `end`: the one ranked highest
    in `priority` among the entries overlapping it ("Free" when none does). Both faces' merged
    free/busy strings are this, spelled in their own digits."""
    step = timedelta(minutes=minutes)
    statuses = []
    slot = start
    while slot < end:
        slot_end = slot + step
        seen = [e.item.status for e in entries if e.start < slot_end and e.end > slot]
        statuses.append(max(seen, key=priority.index, default="Free"))
        slot = slot_end
    return statuses
