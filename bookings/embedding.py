"""Booking pages on other websites: the embed snippets, and the URL parameters that prefill
the booking form (Calendly's `?name=&email=&a1=`).

Which origins may frame the pages is settings.EMBED_ALLOWED_ORIGINS, applied by
scheduler_site/framing.py; the snippet's script is static/js/embed.js, and the framed page's
static/js/embed-frame.js tells it how tall the page is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext

from bookings import inputs, zones
from bookings.models import BookingPage, QuestionKind

Mode = Literal["inline", "popup"]
MODES: tuple[Mode, ...] = ("inline", "popup")

# The limits parse_customer applies to the same fields (bookings/actions.py).
FIELD_LIMITS = {"name": 200, "email": 254, "phone": 40, "notes": 5000}
ZONE_MAX_LENGTH = 64
# ?q12= (the form's name for question 12) or ?a1= (Calendly's, the page's first question).
_ANSWER = re.compile(r"[qa][0-9]{1,9}")


def page_url(page: BookingPage) -> str:
    return settings.SITE_URL + reverse("public-page", args=[page.slug])


def script_url() -> str:
    # The unhashed name on purpose: a snippet pasted into another site lives for years, and a
    # hashed name (ManifestStaticFilesStorage) changes with every release. collectstatic keeps
    # the unhashed copy, served with a short cache lifetime.
    return f"{settings.SITE_URL}{settings.STATIC_URL}js/embed.js"


def embed_snippet(page: BookingPage, mode: Mode) -> str:
    """The HTML to paste into another website: inline (the page in the site's own layout) or
    popup (a button opening it in a dialog). The link inside works without JavaScript."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    # In the page's language, as the page itself will be (English when it follows the
    # visitor's browser: the host site's visitors are unknown here).
    with translation.override(page.language or settings.LANGUAGE_CODE):
        label, close = escape(gettext("Book a time")), escape(gettext("Close"))
    url, title, script = escape(page_url(page)), escape(page.title), escape(script_url())
    # Plain text (an f-string), not a SafeString: the settings page shows it escaped, as code.
    close_attribute = f' data-close-label="{close}"' if mode == "popup" else ""
    return (
        f'<div data-scheduler-embed="{url}" data-mode="{mode}" data-label="{label}"'
        f"{close_attribute}>"
        f'<a href="{url}">{label}: {title}</a></div>\n'
        f'<script src="{script}" async></script>'
    )


def embedding_enabled() -> bool:
    return bool(settings.EMBED_ALLOWED_ORIGINS)


@dataclass
class Prefill:
    """What the page's URL asks for: initial form values (by the form's field names), a time
    zone, whether the zone picker is hidden, and embed mode."""

    data: dict[str, str] = field(default_factory=dict)
    timezone: str = ""
    lock_timezone: bool = False
    embed: bool = False

    def picker_params(self, params: Mapping[str, str]) -> dict[str, str]:
        """The slot picker's parameters: ?timezone= sets the zone unless the visitor chose
        one in the no-script form (?tz=), and a locked zone can't be changed at all."""
        wanted = {key: params.get(key, "") for key in ("tz", "date", "member") if key in params}
        if self.timezone and (self.lock_timezone or not wanted.get("tz", "").strip()):
            wanted["tz"] = self.timezone
        return wanted

    def settings_query(self) -> str:
        """Embed mode and the zone, for the no-script form's address: kept through its post
        (the form's values travel in the post itself)."""
        pairs = [("embed", "1")] if self.embed else []
        if self.timezone:
            pairs.append(("timezone", self.timezone))
            if self.lock_timezone:
                pairs.append(("lock_timezone", "1"))
        return urlencode(pairs)

    def carried(self) -> list[tuple[str, str]]:
        """Hidden fields of the no-script date form, which replaces the query string: the
        same parameters again, so choosing a day keeps them."""
        pairs = [("embed", "1")] if self.embed else []
        if self.timezone:
            pairs.append(("timezone", self.timezone))
            if self.lock_timezone:
                pairs.append(("lock_timezone", "1"))
        return pairs + list(self.data.items())


def _clean(value: object, limit: int) -> str | None:
    """A parameter's text if it could be typed into the field; None otherwise (ignored)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > limit or inputs.has_nul(text):
        return None
    return text


def prefill(page: BookingPage, params: Mapping[str, str]) -> Prefill:
    """Read ?name=, ?email=, ?phone=, ?notes=, answers (?q<id>= as the form names them, or
    Calendly's ?a1= for the page's first question), ?timezone= and ?lock_timezone=1.
    Whatever is unknown, too long or not one of a choice's options is left out: a link
    someone else wrote never makes the page fail."""
    result = Prefill(embed=params.get("embed") == "1")
    asked = {"phone": page.ask_phone, "notes": page.ask_notes}
    for name, limit in FIELD_LIMITS.items():
        if not asked.get(name, True):
            continue
        if (value := _clean(params.get(name), limit)) is not None:
            result.data[name] = value
    # Only an address with answers costs the questions' query.
    questions = page.questions.all() if any(_ANSWER.fullmatch(k) for k in params) else []
    for position, question in enumerate(questions, start=1):
        raw = params.get(question.key)
        if raw is None:
            raw = params.get(f"a{position}")
        value = _clean(raw, question.max_length)
        if value is None:
            continue
        if question.kind == QuestionKind.CHOICE and value not in question.choices:
            continue
        result.data[question.key] = value
    raw_zone = _clean(params.get("timezone"), ZONE_MAX_LENGTH)
    zone = zones.resolve(raw_zone) if raw_zone else None
    if zone:
        result.timezone = zone
        # Hiding the picker makes sense only with a zone to show the times in.
        result.lock_timezone = params.get("lock_timezone") in ("1", "true")
    return result
