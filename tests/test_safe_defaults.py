"""Safe defaults: DEBUG is off unless asked for, and with DEBUG off the app refuses to start
on a missing or published secret (scheduler_site/settings.py). Each case starts Django in a
fresh process with exactly the environment under test."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
SECRET = "a-real-secret-key-for-this-test-only-0123456789-abcdefghijklmnop"
FERNET = Fernet.generate_key().decode()
DEV_SECRET_KEY = "dev-only-insecure-secret-key-set-SECRET_KEY-in-production"
DOCKERFILE_SECRET_KEY = "build-only-not-a-secret-0123456789-abcdefghijklmnopqrstuv"

# Everything settings.py reads that could make a case pass or fail for another reason.
_OURS = re.compile(r"^(DEBUG|SECRET_KEY|FERNET_KEYS|TRUSTED_PROXIES|DJANGO_SETTINGS_MODULE)$")


def settings_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _OURS.match(k)}
    env["DJANGO_SETTINGS_MODULE"] = "scheduler_site.settings"
    env.update(overrides)
    return env


def start(*command: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command) or [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=settings_env(**overrides),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def dev_fernet_key() -> str:
    from scheduler_site.settings import _DEV_SECRET_KEY, _derived_fernet_key

    assert _DEV_SECRET_KEY == DEV_SECRET_KEY
    return _derived_fernet_key(DEV_SECRET_KEY)


def test_with_nothing_set_debug_is_off_and_a_secret_key_is_required() -> None:
    result = start()
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_with_debug_off_real_secrets_are_enough_to_start() -> None:
    result = start(sys.executable, "manage.py", "check", SECRET_KEY=SECRET, FERNET_KEYS=FERNET)
    assert result.returncode == 0, result.stderr
    show = start(
        sys.executable,
        "-c",
        "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        SECRET_KEY=SECRET,
        FERNET_KEYS=FERNET,
    )
    assert show.stdout.strip() == "False"


@pytest.mark.parametrize(
    "secret_key", [DEV_SECRET_KEY, DOCKERFILE_SECRET_KEY], ids=["development", "dockerfile"]
)
def test_a_published_secret_key_is_refused_with_debug_off(secret_key: str) -> None:
    result = start(sys.executable, "manage.py", "check", SECRET_KEY=secret_key, FERNET_KEYS=FERNET)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is a published development key" in result.stderr


def test_the_fernet_key_derived_from_the_development_secret_is_refused_with_debug_off() -> None:
    for keys in (dev_fernet_key(), f"{FERNET},{dev_fernet_key()}"):
        result = start(SECRET_KEY=SECRET, FERNET_KEYS=keys)
        assert result.returncode != 0
        assert "ImproperlyConfigured: FERNET_KEYS holds the development key" in result.stderr


def test_a_fernet_key_once_published_in_the_repository_is_refused_with_debug_off() -> None:
    published = "kQbTg0mK3DduLQYQ1t4fIWSgmKxOSxZ6bq0o8Gw5eDs="
    for keys in (published, f"{FERNET},{published}"):
        result = start(SECRET_KEY=SECRET, FERNET_KEYS=keys)
        assert result.returncode != 0
        assert "ImproperlyConfigured: FERNET_KEYS holds a key published" in result.stderr


def test_with_debug_on_the_development_keys_are_still_the_embedded_defaults() -> None:
    result = start(sys.executable, "manage.py", "check", DEBUG="True")
    assert result.returncode == 0, result.stderr


def test_a_malformed_trusted_proxies_setting_stops_the_app_at_start_up() -> None:
    result = start(DEBUG="True", TRUSTED_PROXIES="10.0.0.0/8,nginx.internal")
    assert result.returncode != 0
    assert "ImproperlyConfigured: TRUSTED_PROXIES" in result.stderr


def test_the_dockerfiles_collectstatic_step_runs_with_production_settings(tmp_path: Path) -> None:
    """The build step as the Dockerfile writes it (its keys are made on the spot), with only
    the interpreter and the output folder swapped for this machine's."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    run = re.search(r"^RUN (.*?collectstatic.*?)(?=^\S)", dockerfile, re.S | re.M)
    assert run, "no RUN step with collectstatic in the Dockerfile"
    steps = run.group(1).replace("\\\n", " ").split("&&")
    (step,) = [s for s in steps if "collectstatic" in s]
    assert "build-only" not in step and "FERNET_KEYS=kQ" not in step  # no published keys
    python = shlex.quote(sys.executable)
    step = re.sub(r"\bpython\b", python, step)
    step = step.replace("STATIC_ROOT=/app/var/static", f"STATIC_ROOT={shlex.quote(str(tmp_path))}")
    result = start("sh", "-c", f"{step} -v 0")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "staticfiles.json").exists()  # hashed names: production storage


# Every way the app is served, and the benchmarks that measure it (bench/_servers.py).
GUNICORN_STARTERS = [
    "Procfile",
    "Dockerfile",
    "docker-compose.yml",
    "deploy/systemd/scheduler-web.service",
    "bench/_servers.py",
]


@pytest.mark.parametrize("name", GUNICORN_STARTERS)
def test_every_gunicorn_is_started_from_the_one_config_file(name: str) -> None:
    """The serving model is decided in gunicorn.conf.py alone: no deployment (and no
    benchmark) sets workers, threads or the worker class of its own, so what is measured is
    what is deployed."""
    text = (ROOT / name).read_text()
    assert "gunicorn.conf.py" in text
    assert not re.search(r"--(workers|threads|worker-class)\b|\"-[wk]\"|\s-[wk]\s", text)


def test_the_gunicorn_config_reads_the_serving_model_from_the_environment() -> None:
    import runpy

    serving_model = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["serving_model"]
    assert serving_model({}) == ("gthread", 2, 8)
    assert serving_model({"WEB_CONCURRENCY": "3", "WEB_THREADS": "8"}) == ("gthread", 3, 8)
    assert serving_model({"WORKER_CLASS": "sync"}) == ("sync", 2, 1)
    # gunicorn itself turns sync with threads into gthread: the model printed says so too.
    assert serving_model({"WORKER_CLASS": "sync", "WEB_THREADS": "4"}) == ("gthread", 2, 4)
