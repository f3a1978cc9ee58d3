"""The engine's answers reused between slots requests (bookings.engine_memo): a reused answer
is exactly what the engine would answer at the later moment, for one person and for teams,
across notice, the booking window's edge, midnight and a clock moved back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings import availability, engine_memo
from bookings.availability import Booked, Member, Rules
from bookings.slots import engine_end

WORKDAYS = {day: [(time(9), time(17))] for day in range(5)}
NOW = datetime(2027, 3, 24, 8, 7, 13, tzinfo=UTC)  # a Wednesday, the week London springs forward
START = datetime(2027, 3, 22, tzinfo=UTC)
END = datetime(2027, 4, 5, tzinfo=UTC)


def rules(**kwargs: object) -> Rules:
    defaults: dict[str, object] = {
        "zone": "Europe/London",
        "duration": timedelta(minutes=30),
        "interval": timedelta(minutes=15),
        "weekly": WORKDAYS,
        "min_notice": timedelta(hours=2),
        "window_days": 7,
    }
    return Rules(**(defaults | kwargs))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def empty_memo() -> Iterator[None]:
    engine_memo.clear()
    yield
    engine_memo.clear()


@pytest.fixture
def engine_runs(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The moments the engine itself ran at (a reused answer doesn't run it)."""
    runs: list[datetime] = []
    real_one, real_rr = availability.free_slots, availability.round_robin_slots

    def one(*args, **kwargs):  # type: ignore[no-untyped-def]
        runs.append(kwargs["now"])
        return real_one(*args, **kwargs)

    def rr(*args, **kwargs):  # type: ignore[no-untyped-def]
        runs.append(kwargs["now"])
        return real_rr(*args, **kwargs)

    monkeypatch.setattr(availability, "free_slots", one)
    monkeypatch.setattr(availability, "round_robin_slots", rr)
    return runs


def at(day: int, hhmm: str) -> datetime:
    return datetime.combine(date(2027, 3, day), time.fromisoformat(hhmm), tzinfo=UTC)


def ask(r: Rules, now: datetime, busy=(), booked=()):  # type: ignore[no-untyped-def]
    """What the slots API asks: the range cut at the window as slots_for cuts it."""
    end = engine_end(r, END, now)
    return engine_memo.free_slots(r, busy=busy, booked=booked, now=now, start=START, end=end)


def fresh(r: Rules, now: datetime, busy=(), booked=()):  # type: ignore[no-untyped-def]
    """What the engine answers at `now` for the range slots_for used to give it."""
    lo = max(START, now + r.min_notice)
    hi = min(END, now + timedelta(days=r.window_days + 1))
    return availability.free_slots(r, busy=busy, booked=booked, now=now, start=lo, end=hi)


def test_a_second_request_a_minute_later_reuses_the_answer(engine_runs: list[datetime]) -> None:
    r = rules()
    first = ask(r, NOW)
    later = ask(r, NOW + timedelta(minutes=1))
    assert engine_runs == [NOW]
    assert later == fresh(r, NOW + timedelta(minutes=1))
    assert first == fresh(r, NOW)


def test_a_reused_answer_drops_the_slots_notice_now_rules_out() -> None:
    r = rules()
    assert ask(r, NOW)[0][0] == at(24, "10:15")  # 08:07 + 2 h notice, on the quarter hour
    # Half an hour later the 10:15 and 10:30 slots are too soon.
    assert ask(r, NOW + timedelta(minutes=30))[0][0] == at(24, "10:45")


def test_a_new_booking_or_busy_time_is_a_new_answer(engine_runs: list[datetime]) -> None:
    r = rules()
    before = ask(r, NOW)
    booked = (Booked(at(25, "09:00"), at(25, "09:30")),)
    with_booking = ask(r, NOW, booked=booked)
    busy = ((at(26, "09:00"), at(26, "12:00")),)
    with_busy = ask(r, NOW, busy=busy, booked=booked)
    assert len(engine_runs) == 3
    assert (at(25, "09:00"), at(25, "09:30")) in before
    assert (at(25, "09:00"), at(25, "09:30")) not in with_booking
    assert (at(26, "10:00"), at(26, "10:30")) not in with_busy
    assert with_busy == fresh(r, NOW, busy=busy, booked=booked)


def test_changed_rules_are_a_new_answer(engine_runs: list[datetime]) -> None:
    ask(rules(), NOW)
    shorter = ask(rules(weekly={d: [(time(9), time(12))] for d in range(5)}), NOW)
    assert len(engine_runs) == 2
    assert all(s.astimezone(UTC).hour < 12 for s, _ in shorter)


def test_a_clock_moved_back_is_answered_afresh(engine_runs: list[datetime]) -> None:
    r = rules()
    ask(r, NOW + timedelta(hours=1))
    earlier = ask(r, NOW)
    assert engine_runs == [NOW + timedelta(hours=1), NOW]
    assert earlier == fresh(r, NOW)


def test_the_next_day_is_answered_afresh_and_opens_the_windows_next_day(
    engine_runs: list[datetime],
) -> None:
    r = rules(min_notice=timedelta(0))
    today = ask(r, NOW)
    tomorrow_now = NOW + timedelta(days=1)
    tomorrow = ask(r, tomorrow_now)
    assert len(engine_runs) == 2
    assert tomorrow == fresh(r, tomorrow_now)
    # A seven-day window from Wednesday ends on Tuesday; from Thursday it takes Wednesday.
    assert max(s for s, _ in today).date() == date(2027, 3, 30)
    assert max(s for s, _ in tomorrow).date() == date(2027, 3, 31)


def test_team_answers_are_reused_and_follow_each_members_busy_time(
    engine_runs: list[datetime],
) -> None:
    r = rules()
    ann = Member(id=1, busy=[(at(25, "09:00"), at(25, "17:00"))])
    ben = Member(id=2)
    end = engine_end(r, END, NOW)
    first = engine_memo.team_slots(False, r, [ann, ben], now=NOW, start=START, end=end)
    again = engine_memo.team_slots(
        False, r, [ann, ben], now=NOW + timedelta(minutes=5), start=START, end=end
    )
    ben_busy = Member(id=2, busy=[(at(25, "09:00"), at(25, "10:00"))])
    changed = engine_memo.team_slots(False, r, [ann, ben_busy], now=NOW, start=START, end=end)
    assert len(engine_runs) == 2
    nine = next(s for s in first if s.start == at(25, "09:00"))
    assert nine.members == (2,)
    assert again == [s for s in first if s.start >= NOW + timedelta(minutes=5) + r.min_notice]
    assert all(s.start != at(25, "09:00") for s in changed)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(["Europe/London", "America/New_York", "Australia/Lord_Howe", "UTC"]),
    notice_minutes=st.sampled_from([0, 45, 120, 60 * 24]),
    window_days=st.integers(1, 10),
    first_minutes=st.integers(0, 60 * 24 * 3),
    steps=st.lists(st.integers(0, 60 * 30), min_size=1, max_size=6),
    busy=st.lists(st.tuples(st.integers(0, 60 * 24 * 12), st.integers(15, 600)), max_size=8),
)
def test_every_reused_answer_is_the_engines_own_answer_at_that_moment(
    zone: str,
    notice_minutes: int,
    window_days: int,
    first_minutes: int,
    steps: list[int],
    busy: list[tuple[int, int]],
) -> None:
    engine_memo.clear()
    r = rules(zone=zone, min_notice=timedelta(minutes=notice_minutes), window_days=window_days)
    intervals = tuple(
        (START + timedelta(minutes=a), START + timedelta(minutes=a + length)) for a, length in busy
    )
    now = START + timedelta(minutes=first_minutes, seconds=17)
    for step in [0, *steps]:
        now += timedelta(minutes=step)
        assert ask(r, now, busy=intervals) == fresh(r, now, busy=intervals)
