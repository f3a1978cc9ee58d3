"""Staff pages stay translatable (issue 16): every visible text of every template, staff or
customer, is inside {% translate %} or {% blocktranslate %}; the staff side's Python messages
are in the catalog, and only English ships for them (an entry found only in staff files stays
empty in German and French)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.template.base import Lexer, TokenType
from django.utils import translation

from tests.test_languages import CUSTOMER_SOURCES

TEMPLATES = Path(settings.BASE_DIR) / "templates"
LOCALE = Path(settings.BASE_DIR) / "locale"

# Words are two letters or more: a lone "x" or "h" between tags is a unit or a symbol.
WORDS = re.compile(r"[^\W\d_]{2,}")
# A literal string in a tag or filter with at least two words ({% include ... with
# label="Save changes" %}, |default:"Not set") is visible text too, unless marked as
# _("Save changes"); paths, codes and date formats ("j F Y") have no two such words. (The
# literals in order: a marked one matches whole and captures nothing.)
LITERAL = re.compile(r"""_\(\s*(?:"[^"]*"|'[^']*')\s*\)|"([^"]*)"|'([^']*)'""")
PHRASE = re.compile(r"[^\W\d_]{2,}\s+[^\W\d_]{2,}")
TRANSLATING_TAGS = {"translate", "trans", "blocktranslate", "blocktrans"}
# Attributes whose values a reader sees or hears. `value` counts on <input> buttons only (a
# <button>'s value is what the form posts; its label is its content).
VISIBLE_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "label", "data-label")
ATTRIBUTE = re.compile(r"""\s([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# What may stay as it is, and why: names, never translated.
ALLOWED = {
    # The product's name: the <title> suffix, the password reset mail's signature.
    "*": ("Exchange Scheduler", "Microsoft Teams"),
    # The logo's two letters (aria-hidden), beside the translated name.
    "base.html": ("ES",),
}
PLACEHOLDER = "\x00"  # a variable or tag: no letters, so it never reads as text


def _templates() -> list[Path]:
    """Every template; one that only includes or prints variables has nothing to report."""
    return sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".txt"))


def _untranslated(template: Path) -> tuple[str, list[str]]:
    """The template's text outside translation tags and comments (variables and tags
    replaced by a placeholder), and the literal phrases inside its tags and variables."""
    text: list[str] = []
    phrases: list[str] = []
    translating = commented = 0
    for token in Lexer(template.read_text(encoding="utf-8")).tokenize():
        if token.token_type == TokenType.COMMENT:
            continue
        if token.token_type in (TokenType.BLOCK, TokenType.VAR):
            name = token.contents.split()[0] if token.contents else ""
            if token.token_type == TokenType.BLOCK:
                if name == "comment":
                    commented += 1
                elif name == "endcomment":
                    commented -= 1
                elif name in ("blocktranslate", "blocktrans"):
                    translating += 1
                elif name in ("endblocktranslate", "endblocktrans"):
                    translating -= 1
            if not commented and name not in TRANSLATING_TAGS:
                literals = (a or b for a, b in LITERAL.findall(token.contents))
                phrases += [literal for literal in literals if PHRASE.search(literal)]
            text.append(PLACEHOLDER)
        elif not (translating or commented):
            text.append(token.contents)
    return "".join(text), phrases


def _visible(text: str) -> str:
    """What a reader of the rendered HTML sees: the text between tags, and the values of
    the attributes they see or hear; never CSS, scripts, comments or attribute names."""
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"<(style|script)\b.*?</\1\s*>", " ", text, flags=re.DOTALL | re.IGNORECASE)
    seen: list[str] = []

    def tag(match: re.Match[str]) -> str:
        element = match.group(0)
        is_input_button = re.match(r"<input\b", element, re.IGNORECASE) and re.search(
            r"""type\s*=\s*["']?(submit|button|reset)""", element, re.IGNORECASE
        )
        for name, double, single in ATTRIBUTE.findall(element):
            name = name.lower()
            if name in VISIBLE_ATTRIBUTES or (name == "value" and is_input_button):
                seen.append(double or single)
        return " "

    text = re.sub(r"<[^>]*>", tag, text)
    return html.unescape("\n".join([text, *seen]))


def _problems(template: Path) -> list[str]:
    relative = template.relative_to(TEMPLATES).as_posix()
    text, phrases = _untranslated(template)
    if template.suffix == ".html":
        text = _visible(text)
    for allowed in (*ALLOWED["*"], *ALLOWED.get(relative, ())):
        text = re.sub(rf"(?<!\w){re.escape(allowed)}(?!\w)", " ", text)
    lines = [" ".join(line.replace(PLACEHOLDER, " ").split()) for line in text.splitlines()]
    found = [line for line in lines if WORDS.search(line)]
    return found + [f"literal in a tag: {phrase!r}" for phrase in phrases]


def test_the_template_lint_sees_text_outside_translate_tags(tmp_path: Path) -> None:
    """The lint itself: what it must report, and what it must let through."""
    template = tmp_path / "t.html"
    template.write_text(
        '{% load i18n %}<style>.a { color: red }</style><p class="intro">Not marked</p>'
        '<input type="submit" value="Save it"><button value="send">{% translate "Send" %}'
        '</button><a title="Open the page" href="{% url "x" %}">&rsaquo;</a>'
        "{% blocktranslate %}Marked {{ x }}{% endblocktranslate %}{# a comment #}"
        '{% include "x.html" with label="Some label" help=_("Marked too") %}'
    )
    text, phrases = _untranslated(template)
    assert WORDS.findall(_visible(text)) == ["Not", "marked", "Save", "it", "Open", "the", "page"]
    assert phrases == ["Some label"]


@pytest.mark.parametrize(
    "template", _templates(), ids=lambda p: p.relative_to(TEMPLATES).as_posix()
)
def test_every_template_marks_its_visible_text(template: Path) -> None:
    problems = _problems(template)
    assert not problems, (
        f"{template.relative_to(TEMPLATES)}: text outside translate tags: {problems}"
    )


# --- the Python side: marked, in the catalog, English only --------------------------------

# A few messages from each staff file, as they are in the catalog (whole sentences with
# named placeholders).
STAFF_MESSAGES = {
    "calendars/errors.py": (
        "Exchange refused access to this calendar.",
        "The Exchange server's certificate has expired. Ask your IT department to renew it.",
        "Exchange answered with an error: %(error)s.",
    ),
    "calendars/urlcheck.py": (
        "The host %(host)s is on a private or local network, which this server is not "
        "allowed to contact.",
        "The OAuth authority must start with https://.",
        "The endpoint URL has no host name.",
    ),
    "calendars/models.py": (
        "Main booking calendar",
        "Free/busy time only",
        "Corporate dedicated mailbox",
        "OAuth 2.0 client credentials (Exchange Online, app-only)",
        "Not checked yet",
        "%(user)s may book into %(mailbox)s",
    ),
    "calendars/admin.py": (
        "Rotate client secret",
        "Enter the app registration's client secret.",
        "%(mailbox)s is now proven by another member; not restored.",
    ),
    "calendars/membership.py": (
        "This confirmation link has expired. Ask for a new one.",
        "The Exchange connection this calendar was reached through was removed.",
        "%(owner)s has not allowed you to book into their calendar: they are not a member of "
        "the booking mailbox. An administrator can grant it in Django admin.",
    ),
    "bookings/branding.py": (
        "%(colour)s on white has a contrast of %(ratio).1f:1; text needs at least 4.5:1 to be "
        "readable (WCAG AA). The nearest shade that passes is %(shade)s.",
    ),
    "templates/admin/calendars/rotate.html": ("Verify and save",),
}


@pytest.mark.parametrize("lang", ["de", "fr"])
def test_the_staff_files_messages_are_in_the_catalog_and_untranslated(lang: str) -> None:
    with (LOCALE / lang / "LC_MESSAGES" / "django.po").open("rb") as f:
        catalog = read_po(f)
    for source, msgids in STAFF_MESSAGES.items():
        for msgid in msgids:
            message = catalog.get(msgid)
            assert message is not None, f"{source}: {msgid!r} is not marked for translation"
            where = [path for path, _line in message.locations]
            assert source in where, f"{msgid!r} is in the catalog, but not from {source}"
            if not any(path.startswith(CUSTOMER_SOURCES) for path in where):
                assert not message.string, f"{lang}: staff string {msgid!r} is translated"


def test_staff_texts_stay_english_and_work_with_german_active(db) -> None:
    """Nothing a staff member reads is translated yet, and nothing breaks on the way: lazy
    labels, formatted messages and the refusals all come out as English text."""
    from bookings import branding
    from calendars import errors, urlcheck
    from calendars.models import (
        AuthType,
        CalendarRole,
        ConnectionKind,
        ConnectionStatus,
        permission_label,
    )

    with translation.override("de"):
        assert str(CalendarRole.MAIN.label) == "Main booking calendar"
        assert str(ConnectionKind.CORPORATE.label) == "Corporate dedicated mailbox"
        assert str(ConnectionStatus.OK.label) == "Working"
        assert str(AuthType.NTLM.label) == "NTLM (on-premises)"
        assert permission_label("Reviewer") == "Reviewer (read only)"
        assert permission_label("") == "No access"
        assert errors.AccessDenied().message == "Exchange refused access to this calendar."
        assert errors.EwsBlocked("EwsDisabled").message.startswith(
            "Exchange Online refused EWS for this connection (“EwsDisabled”). Microsoft"
        )
        with pytest.raises(errors.UrlNotAllowed, match=r"^The OAuth authority must start"):
            urlcheck.check_url("ftp://login.example.com/", what="authority")
        assert branding.problem("#ffd500").startswith("#ffd500 on white has a contrast of 1.")


@pytest.mark.parametrize("lang", ["de", "fr"])
def test_no_catalog_entry_is_left_fuzzy(lang: str) -> None:
    """makemessages guesses a new entry's translation from a similar one and flags it fuzzy:
    a staff entry's guess is emptied, a customer entry's is translated properly."""
    for name in ("django.po", "djangojs.po"):
        with (LOCALE / lang / "LC_MESSAGES" / name).open("rb") as f:
            fuzzy = [m.id for m in read_po(f) if m.id and m.fuzzy]
        assert not fuzzy, f"{lang}/{name}: fuzzy entries: {fuzzy}"
