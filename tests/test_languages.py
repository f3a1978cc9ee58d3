"""The customer's language: a page's own language or the visitor's Accept-Language, on the
public page, its confirmation and manage link, in API errors, emails and the .ics; dates
written for the locale; and the shipped translations complete and compiled."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import translation

from bookings import emails, languages, reminders, zones
from bookings.models import Booking, BookingPage, notice_words
from tests.world import monday_after

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.BASE_DIR) / "locale"
DASH = "\u2013"  # the en dash of a time range
# Where customer-facing strings live: every entry found in one of these must be translated.
CUSTOMER_SOURCES = (
    "templates/bookings/public/",
    "templates/emails/",
    "static/js/booking.js",
    "bookings/views.py",
    "bookings/api.py",
    "bookings/actions.py",
    "bookings/inputs.py",
    "bookings/ics.py",
    "bookings/team_public.py",
    "bookings/team.py",
    "bookings/slots.py",
    "bookings/models.py",
    "bookings/languages.py",
    "bookings/embedding.py",  # the embed snippet's labels, in the page's language
)


@pytest.fixture
def page(world) -> BookingPage:
    """A London page, Monday to Friday 9:00-17:00."""
    page = world.page(world.staff("olivia"), title="Steuerberatung", location="Raum 4")
    page.owner.first_name, page.owner.last_name = "Olivia", "Olsen"
    page.owner.save()
    return page


def ten_on_monday() -> datetime:
    day = monday_after().date()
    return datetime.combine(day, time(10), tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)


def book_by_form(client: Client, page: BookingPage, **extra: str):  # type: ignore[no-untyped-def]
    data = {
        "start": ten_on_monday().isoformat(),
        "timezone": "Europe/Berlin",
        "name": "Anna Schmidt",
        "email": "anna@example.com",
        **extra,
    }
    return client.post(f"/{page.slug}/book/", data, **_headers())


def _headers(accept: str = "") -> dict[str, str]:
    return {"HTTP_ACCEPT_LANGUAGE": accept} if accept else {}


def german(page: BookingPage) -> BookingPage:
    page.language = "de"
    page.save()
    return page


# --- which language -----------------------------------------------------------------------


def test_a_german_page_is_german_whatever_the_browser_asks(page: BookingPage) -> None:
    german(page)
    response = Client().get(f"/{page.slug}/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="de">' in html
    assert "Ihre Angaben" in html and "Buchung bestätigen" in html
    assert "mit Olivia Olsen" in html
    assert "30 Minuten" in html
    assert "Your details" not in html
    # booking.js gets its texts from the catalog in the page's language.
    assert "/jsi18n/de.js" in html


def test_accept_language_fr_picks_french_on_a_page_without_its_own(page: BookingPage) -> None:
    response = Client().get(f"/{page.slug}/", HTTP_ACCEPT_LANGUAGE="fr-CH, fr;q=0.9, en;q=0.5")
    html = response.content.decode()
    assert '<html lang="fr">' in html
    assert "Vos coordonnées" in html and "Confirmer la réservation" in html
    assert response["Content-Language"] == "fr"


def test_an_unsupported_language_falls_back_to_english(page: BookingPage) -> None:
    response = Client().get(f"/{page.slug}/", HTTP_ACCEPT_LANGUAGE="ja, zh;q=0.8")
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Your details" in html and "Confirm booking" in html


def test_the_zone_picker_names_cities_countries_and_times_in_the_pages_language(
    page: BookingPage,
) -> None:
    german(page)
    page.timezone = "Europe/Vienna"
    page.save()
    html = Client().get(f"/{page.slug}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # CLDR's names through Babel, the 24-hour clock, the regions and "Vienna time" in German.
    assert 'data-city="Wien"' in html and "Österreich" in html
    assert re.search(r"Wien \u2014 \d\d:\d\d<", html)
    assert '<optgroup label="Europa">' in html and "Ortszeit Wien" in html
    french = Client().get(f"/{page.slug}/", HTTP_ACCEPT_LANGUAGE="fr")
    assert "Ortszeit Wien" in french.content.decode()  # the page's language wins
    page.language = ""
    page.save()
    french = Client().get(f"/{page.slug}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'data-city="Vienne"' in french and "heure de Vienne" in french
    # Typing the city in any of the app's languages finds it.
    assert [z.name for z in zones.search("Wien")][:1] == ["Europe/Vienna"]
    assert [z.name for z in zones.search("Vienne")][:1] == ["Europe/Vienna"]


def test_staff_pages_stay_english_for_a_german_browser(db) -> None:
    response = Client().get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    # Django's own strings too: a German browser gets no German admin around English pages.
    admin = Client().get("/admin/login/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Log in" in admin and "Anmelden" not in admin


# --- the booking, its confirmation and manage link ---------------------------------------


def test_a_booking_on_a_german_page_is_confirmed_managed_and_mailed_in_german(
    page: BookingPage, eager_writes, django_capture_on_commit_callbacks
) -> None:
    german(page)
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = book_by_form(client, page)
    assert response.status_code == 303, response.content.decode()
    booking = Booking.objects.get()
    assert booking.language == "de"

    confirmed = client.get(response["Location"]).content.decode()
    assert "Sie sind gebucht" in confirmed
    assert "Buchungsdetails" in confirmed
    # 10:00 London is 11:00 in Berlin: the customer's zone, the German way.
    day = ten_on_monday().astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{day.day}. " in confirmed and f", 11:00{DASH}11:30" in confirmed

    manage = client.get(f"/manage/{booking.manage_token()}/").content.decode()
    assert "Ihre Buchung" in manage and "Verschieben" in manage and "Buchung stornieren" in manage

    customer = next(m for m in mail.outbox if m.to == ["anna@example.com"])
    owner = next(m for m in mail.outbox if m.to == [page.owner.email])
    assert customer.subject.startswith("Bestätigt: Steuerberatung mit Olivia Olsen, ")
    assert "Guten Tag Anna Schmidt," in customer.body
    assert "Ihre Buchung ist bestätigt." in customer.body
    # Berlin in summer or winter time, always with its IANA name.
    assert "Wann:  " in customer.body and "(Europe/Berlin, ME" in customer.body
    html = customer.alternatives[0][0]
    assert '<html lang="de">' in html and "Stornieren oder verschieben" in html
    ics = customer.attachments[0].get_payload(decode=True).decode()
    assert "SUMMARY:Steuerberatung mit Olivia Olsen" in ics
    assert "Zum Stornieren oder Verschieben: " in ics.replace("\r\n ", "")
    # The owner's notification is staff mail: English.
    assert owner.subject.startswith("New booking: Anna Schmidt")


def test_a_booking_remembers_the_browser_language_for_later_emails(
    page: BookingPage, eager_writes, django_capture_on_commit_callbacks
) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    with django_capture_on_commit_callbacks(execute=True):
        response = book_by_form(client, page)
    assert response.status_code == 303
    booking = Booking.objects.get()
    assert booking.language == "fr"
    mail.outbox.clear()
    # Later, from a worker with no request (English active): still French.
    with translation.override("en"):
        emails.send_cancellation(booking)
    (message,) = mail.outbox
    assert message.subject.startswith("Annulé : Steuerberatung avec Olivia Olsen, ")
    assert "Bonjour Anna Schmidt," in message.body


def test_a_reminder_is_in_the_customers_language_and_the_hosts_in_english(
    page: BookingPage, eager_writes, django_capture_on_commit_callbacks
) -> None:
    german(page)
    page.remind_owner = True
    page.save()
    with django_capture_on_commit_callbacks(execute=True):
        book_by_form(Client(), page)
    booking = Booking.objects.get()
    mail.outbox.clear()
    reminders.send_due(booking.start - timedelta(minutes=59))
    customer = next(m for m in mail.outbox if m.to == ["anna@example.com"])
    host = next(m for m in mail.outbox if m.to != ["anna@example.com"])
    assert customer.subject.startswith("Erinnerung: ")
    assert "Zur Erinnerung: Ihr Termin ist in 1 Stunde." in customer.body
    assert host.subject.startswith("Reminder: ")


def test_form_errors_on_a_german_page_are_german(page: BookingPage) -> None:
    german(page)
    response = book_by_form(Client(), page, email="not-an-address", name="")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Dieses Feld ist erforderlich." in html
    assert "Bitte geben Sie eine gültige E-Mail-Adresse ein." in html


# --- the API ------------------------------------------------------------------------------


def test_api_errors_come_in_the_pages_language(page: BookingPage) -> None:
    german(page)
    client = Client()
    bad = client.get(f"/api/v1/pages/{page.slug}/slots", {"start": "2027-13-01", "end": "x"})
    assert bad.status_code == 400
    assert bad.json()["detail"] == "Ungültige Abfrageparameter."
    body = {"name": "", "email": "anna@example.com", "start": ten_on_monday().isoformat()}
    refused = client.post(
        f"/api/v1/pages/{page.slug}/bookings", body, content_type="application/json"
    )
    assert refused.status_code == 400
    assert refused.json()["detail"] == "Bitte korrigieren Sie die markierten Felder."
    assert refused.json()["errors"]["name"] == ["Dieses Feld ist erforderlich."]


def test_a_refused_time_is_explained_in_french(page: BookingPage) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    body = {"name": "Anne", "email": "anne@example.com", "start": past.isoformat()}
    response = Client().post(
        f"/api/v1/pages/{page.slug}/bookings",
        body,
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "too_soon"
    assert response.json()["detail"].startswith("Cet horaire est ")


def test_the_javascript_catalog_is_served_in_the_language_asked(db) -> None:
    response = Client().get("/jsi18n/fr.js", HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    text = response.content.decode()
    # (JSON-escaped: "créneaux" is "cr\u00e9neaux" there.)
    assert "Chargement des cr" in text and "fuseaux horaires trouv" in text
    assert "Verf" not in text
    # An unknown language is English, not an error.
    assert Client().get("/jsi18n/xx.js").status_code == 200


# --- dates and times ----------------------------------------------------------------------

START = datetime(2027, 3, 29, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Monday 29 March 2027, 09:00 to 09:30 (Europe/Berlin, CEST)"),
        ("de", f"Montag, 29. März 2027, 09:00{DASH}09:30 (Europe/Berlin, MESZ)"),
        ("fr", f"lundi 29 mars 2027, 09:00{DASH}09:30 (Europe/Berlin)"),
    ],
)
def test_when_is_written_for_the_locale_with_the_zones_name(language: str, expected: str) -> None:
    with translation.override(language):
        assert emails.format_when(START, START + timedelta(minutes=30), "Europe/Berlin") == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Mon 29 Mar 2027, 08:00"),
        ("de", "Mo. 29.03.2027, 08:00"),
        ("fr", "lun. 29 mars 2027, 08:00"),
    ],
)
def test_subject_lines_write_the_date_for_the_locale(language: str, expected: str) -> None:
    with translation.override(language):
        assert emails.format_short(START, "Europe/London") == expected


def test_notice_words_have_plurals_in_each_language() -> None:
    with translation.override("de"):
        assert [notice_words(m) for m in (60, 120, 1440, 90)] == [
            "1 Stunde",
            "2 Stunden",
            "1 Tag",
            "90 Minuten",
        ]
    with translation.override("fr"):
        assert notice_words(2880) == "2 jours"


def test_a_regional_or_unknown_code_normalises_to_a_shipped_language() -> None:
    assert languages.normalise("de-AT") == "de"
    assert languages.normalise("fr_CA") == "fr"
    assert languages.normalise("pt-BR") == "en"
    assert languages.normalise("") == "en"


# --- the shipped translations ------------------------------------------------------------


def _catalogs() -> list[Path]:
    return sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))


def test_german_and_french_catalogs_ship_for_python_and_javascript() -> None:
    names = {f"{p.parent.parent.name}/{p.stem}" for p in _catalogs()}
    assert names == {"de/django", "de/djangojs", "fr/django", "fr/djangojs"}


@pytest.mark.parametrize("po_path", _catalogs(), ids=lambda p: f"{p.parent.parent.name}-{p.stem}")
def test_every_customer_facing_entry_is_translated_and_not_fuzzy(po_path: Path) -> None:
    with po_path.open("rb") as f:
        catalog = read_po(f)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        where = [path for path, _line in message.locations]
        if not any(path.startswith(CUSTOMER_SOURCES) for path in where):
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(message.id)
    assert not problems, f"{po_path}: untranslated or fuzzy: {problems}"


@pytest.mark.parametrize("lang", ["de", "fr"])
def test_staff_strings_are_marked_but_ship_in_english_only(lang: str) -> None:
    """Staff pages and messages are translatable (their strings are in the catalog), but only
    English ships: an entry found only outside CUSTOMER_SOURCES stays untranslated."""
    with (LOCALE / lang / "LC_MESSAGES" / "django.po").open("rb") as f:
        catalog = read_po(f)
    for msgid in ("Calendar health", "Endpoint removed.", "Calendar connection"):
        message = catalog.get(msgid)
        assert message is not None, f"{msgid!r} is not marked for translation"
        assert not message.string, f"{lang}: staff string {msgid!r} is translated"


@pytest.mark.parametrize("po_path", _catalogs(), ids=lambda p: f"{p.parent.parent.name}-{p.stem}")
def test_every_compiled_catalog_matches_its_po_file(po_path: Path) -> None:
    """The .mo files are shipped (CI machines may lack gettext): each must say exactly what
    its .po says. Recompile with `manage.py compilemessages` after editing a .po."""
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path} is missing: run manage.py compilemessages"
    with po_path.open("rb") as f:
        po = read_po(f)
    with mo_path.open("rb") as f:
        mo = read_mo(f)

    def entries(catalog) -> dict:  # type: ignore[no-untyped-def]
        # A plural's forms are a tuple in a .po and a list in a .mo: compare them as tuples.
        return {
            (m.context, m.id if isinstance(m.id, str) else tuple(m.id)): (
                m.string if isinstance(m.string, str) else tuple(m.string)
            )
            for m in catalog
            if m.id
            and m.string
            and not m.fuzzy
            and (all(m.string) if isinstance(m.string, tuple) else True)
        }

    assert entries(mo) == entries(po), f"{mo_path} is out of date with {po_path.name}"


def test_the_api_says_in_the_visitors_language_that_a_page_does_not_exist() -> None:
    response = Client().get(
        "/api/v1/pages/no-such-page/slots",
        {"start": "2027-01-04", "end": "2027-01-04"},
        HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9",
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "Diese Buchungsseite gibt es nicht."
