"""The project skeleton: settings from the environment, health, and the real backends."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache
from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # A clean environment, so the developer's own variables can't make these pass.
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


PRODUCTION_ENV = {
    "DEBUG": "False",
    "SECRET_KEY": "a-long-random-production-secret-key-for-the-deploy-check-0123456789",
    "FERNET_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "scheduler.example.com",
}


@pytest.mark.django_db
def test_healthz_answers_ok_when_the_database_answers() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "cache": "ok", "broker": "ok"}


def test_the_home_page_renders() -> None:
    response = Client().get("/")
    assert response.status_code == 200
    assert b"Exchange Scheduler" in response.content


@pytest.mark.slow
def test_production_settings_pass_the_deploy_check() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off() -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.slow
def test_it_refuses_to_start_without_encryption_keys_when_debug_is_off() -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "FERNET_KEYS"}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "FERNET_KEYS must be set" in result.stderr


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_suite_runs_on_postgresql_when_asked_to() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        assert cursor.fetchone()[0]


@pytest.mark.xdist_group("fifty-clients")
def test_tests_of_one_xdist_group_run_on_one_worker(request: pytest.FixtureRequest) -> None:
    # The fifty-client races hold fifty database connections each; they must never run on
    # two workers at once. pytest-xdist marks a grouped test by its node id, which pytest
    # 9.2 no longer lets it do (pytest-xdist#1386): the grouping then stops without a word.
    if not request.config.getoption("loadgroup", default=False):
        pytest.skip("only under pytest-xdist's --dist loadgroup, as scripts/test.sh runs it")
    assert request.node.nodeid.endswith("@fifty-clients")


@pytest.mark.redis
def test_the_cache_is_redis_when_asked_to() -> None:
    cache.set("foundation-check", "value", 10)
    assert cache.get("foundation-check") == "value"
    from django.core.cache import caches

    assert type(caches["default"]).__name__ == "RedisCache"


@pytest.mark.redis
def test_the_redis_cache_keeps_one_client_and_serves_every_thread() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from django.core.cache import caches

    backend = caches["default"]
    assert backend._cache.get_client() is backend._cache.get_client(write=True)
    # Each thread has its own backend instance (Django's handler is thread-local); they all
    # see the same data.
    cache.set("foundation-threads", 41, 10)
    with ThreadPoolExecutor(4) as pool:
        seen = list(pool.map(lambda n: cache.incr("foundation-threads"), range(4)))
    assert sorted(seen) == [42, 43, 44, 45]
    assert cache.get("foundation-threads") == 45


@pytest.mark.django_db
def test_healthz_answers_503_naming_a_broker_that_does_not_answer(settings) -> None:
    from scheduler_site.celery import app

    before = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = Client().get("/healthz")
    finally:
        app.conf.broker_url = before
    assert response.status_code == 503
    assert response.json()["broker"] == "unavailable"
    assert response.json()["database"] == "ok"
