"""What Django's error reports (the mails to ADMINS, the DEBUG page) may show.

Django's SafeExceptionReporterFilter hides settings whose *names* look secret (…PASS…,
…SECRET…, …KEY…) and what views mark with sensitive_post_parameters / sensitive_variables.
It misses secrets inside values: REDIS_URL, CELERY_BROKER_URL and CACHES' LOCATION carry the
Redis password in the URL (redis://:secret@host), and under runserver request.META holds the
whole environment (DATABASE_URL, EMAIL_URL). So this filter also masks the password of every
URL in settings, request.META and frame variables, and hides all local variables of frames
inside the libraries that hold credentials on their way to a server (exchangelib, msal,
requests, Django's own password checking...): no decorator of ours reaches their variable
names, and `sensitive_variables` in a caller only covers the names it lists.

Settings: DEFAULT_EXCEPTION_REPORTER_FILTER = "scheduler_site.reporting.ReportFilter".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import FrameType
from typing import Any

from django.http import HttpRequest
from django.utils.regex_helper import _lazy_re_compile
from django.views.debug import SafeExceptionReporterFilter

# scheme://user:password@host: the password runs to the last "@" of the word, so a password
# with an unencoded "/" or "@" in it (common in hand-written REDIS_URLs) is masked whole.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/?#@]*:)(?P<password>\S+?)(?=@[^\s@]*(?:\s|$))",
    re.IGNORECASE,
)

# Frames of these modules show no local variables: they carry passwords, tokens, client
# secrets or Authorization headers in locals with names we don't choose (requests' headers,
# msal's token request, exchangelib's credentials, Django's hashers and validators, which run
# below `authenticate()` whose own decorator names only "credentials").
OPAQUE_MODULES = (
    "django.contrib.auth",
    "exchangelib",
    "msal",
    "requests",
    "requests_ntlm",
    "requests_oauthlib",
    "oauthlib",
    "urllib3",
    "http.client",
    "socket",
    "ssl",
    "spnego",
    "redis",
    "kombu",
    "psycopg",
    "smtplib",
    "fernet_fields",
    "cryptography",
    "knox",
)


def mask_url_passwords(text: str, substitute: str = "********") -> str:
    """`redis://:secret@host/0` -> `redis://:********@host/0`, wherever URLs occur in text."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + substitute, text)


def _is_opaque(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in OPAQUE_MODULES)


class ReportFilter(SafeExceptionReporterFilter):
    cleansed_substitute = "********************"
    # Django's list, plus names that hold secrets in other projects' conventions.
    hidden_settings = _lazy_re_compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|CREDENTIAL|DSN|CONNINFO",
        flags=re.IGNORECASE,
    )

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        # Django recurses into dicts, lists and tuples through this method, so URLs nested in
        # CACHES or DATABASES are masked too; request.META and cookies come through here.
        return self._masked(super().cleanse_setting(key, value))

    def get_traceback_frame_variables(
        self, request: HttpRequest | None, tb_frame: FrameType
    ) -> Iterable[tuple[str, Any]]:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        if not self.is_active(request):
            return variables  # DEBUG on: the developer's own machine shows everything
        if _is_opaque(tb_frame.f_globals.get("__name__", "")):
            return [(name, self.cleansed_substitute) for name, _ in variables]
        return [(name, self._masked(value)) for name, value in variables]

    def _masked(self, value: Any) -> Any:
        """The value with URL passwords masked, or the very same value when it has none.

        isinstance, not type(): lazy strings (settings of django-axes, gettext_lazy) count;
        they are read once here, as the report would read them anyway."""
        if not isinstance(value, str):
            return value
        try:
            text = str(value)
        except Exception:  # a report must come out even when a value can't be read
            return value
        masked = mask_url_passwords(text, self.cleansed_substitute)
        return value if masked == text else masked
