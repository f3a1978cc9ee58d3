"""The demo seed and the standalone command line."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.folders import SHALLOW, FolderCollection

from calendars.simulator.cli import DEMO_SEED

from .conftest import connect, make_simulator

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_seed_gives_the_service_mailbox_delegated_busy_calendars():
    with make_simulator() as sim:
        sim.load_seed(DEMO_SEED)
        svc = ("booking-sync@contoso.example", "Sync-Demo-2016!")
        alice = connect(sim, *svc, mailbox="alice@contoso.example")
        calendar = alice.calendar
        assert calendar.effective_rights.create_contents
        subs = FolderCollection(account=alice, folders=[calendar]).find_folders(depth=SHALLOW)
        assert [f.name for f in subs] == ["Consulting hours"]
        tz = EWSTimeZone("Europe/London")
        monday = date.today() - timedelta(days=date.today().weekday())
        start = EWSDateTime(monday.year, monday.month, monday.day, tzinfo=tz)
        end = start + timedelta(days=28)
        views = list(
            alice.protocol.get_free_busy_info(
                [(f"{n}@contoso.example", "Required", False) for n in ("alice", "bob", "carol")],
                start,
                end,
            )
        )
        busy_types = {e.busy_type for v in views for e in v.calendar_events}
        assert {"Busy", "Free", "OOF", "Tentative", "WorkingElsewhere"} <= busy_types
        assert all(len(v.calendar_events) > 10 for v in views)
        assert sim.schema_errors == []


def test_the_command_line_serves_the_demo_and_prints_the_endpoint():
    process = subprocess.Popen(
        [sys.executable, "-m", "calendars.simulator", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        assert first_line.startswith("EWS endpoint:  http://127.0.0.1:")
        assert first_line.rstrip().endswith("/EWS/Exchange.asmx")
    finally:
        process.terminate()
        process.wait(timeout=10)
