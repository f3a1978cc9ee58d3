"""The embedded default cache (no REDIS_URL) is shared between processes: under `make run`
the Celery worker's busy-cache invalidations (sync back from Exchange, cancellations) and
its warming must reach the web process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

from calendars import busy

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    "filebased" not in settings.CACHES["default"]["BACKEND"],
    reason="the embedded default cache (the SQLite run, REDIS_URL empty)",
)


def in_another_process(code: str) -> None:
    """Run `code` in a separate Django process (as the worker is) with this test's cache."""
    cache_settings = settings.CACHES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "scheduler_site.settings",
        "REDIS_URL": "",
        "CACHE_DIR": cache_settings["LOCATION"],
        "CACHE_KEY_PREFIX": cache_settings.get("KEY_PREFIX", ""),
    }
    script = f"import django; django.setup()\n{code}"
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True)


def test_an_invalidation_in_the_worker_reaches_the_web_process() -> None:
    owner = "alice-shared-cache@contoso.example"
    before = cache.get(busy._generation_key(owner), 0)

    in_another_process(f"from calendars import busy; busy.invalidate([{owner!r}])")

    assert cache.get(busy._generation_key(owner), 0) != before


def test_a_value_the_worker_caches_is_read_by_the_web_process() -> None:
    in_another_process("from django.core.cache import cache; cache.set('warmed', 'yes', 60)")

    assert cache.get("warmed") == "yes"
