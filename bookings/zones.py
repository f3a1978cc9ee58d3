"""The time zones a customer can pick: canonical IANA zones with friendly names, found by
city, country or abbreviation.

The tz database has about 600 names, and most are not what a person would pick: old aliases
(Asia/Calcutta, US/Eastern, GB), legacy rules (EST5EDT) and names that are no place at all
(Factory, Etc/GMT+5). The tz project itself lists the zones to offer in zone.tab, one or more
per country with a comment ("Eastern (most areas)"), and names the countries in iso3166.tab;
tzdata.zi's link lines map every alias to its zone. All three files ship with the `tzdata`
package (installed with exchangelib and icalendar) and with the system's /usr/share/zoneinfo,
so no other library is needed: Babel or pytz would add translations and metazone names this
English-only app doesn't show, and a second copy of the database that could disagree with
zoneinfo's.

A zone given in alias form (by a URL, the API, an older booking or the browser) is accepted
and canonicalised: `canonical("Asia/Calcutta") == "Asia/Kolkata"`.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from babel import Locale
from babel.dates import format_time, get_timezone_location
from django.utils.translation import get_language, gettext, gettext_noop

UTC_NAME = "UTC"

# zone.tab's regions as a person reads them, in the order the picker lists them.
REGIONS = {
    "UTC": gettext_noop("Universal"),
    "America": gettext_noop("Americas"),
    "Europe": gettext_noop("Europe"),
    "Africa": gettext_noop("Africa"),
    "Asia": gettext_noop("Asia"),
    "Australia": gettext_noop("Australia"),
    "Pacific": gettext_noop("Pacific Ocean"),
    "Atlantic": gettext_noop("Atlantic Ocean"),
    "Indian": gettext_noop("Indian Ocean"),
    "Arctic": gettext_noop("Arctic"),
    "Antarctica": gettext_noop("Antarctica"),
}

# What people call some countries besides iso3166.tab's name ("Britain (UK)").
COUNTRY_NAMES = {
    "GB": ("United Kingdom", "UK", "England", "Scotland", "Wales", "Northern Ireland"),
    "US": ("USA", "United States of America", "America"),
    "AE": ("UAE", "Emirates"),
    "CZ": ("Czechia",),
    "KR": ("South Korea",),
    "KP": ("North Korea",),
    "NL": ("Holland",),
    "TR": ("Türkiye",),
    "VA": ("Vatican",),
    "CD": ("DR Congo",),
}

# Abbreviations people search by that the zone's own tzname doesn't give; tzdata writes
# numeric ones ("+08") for most of Asia.
ABBREVIATIONS = {
    "Asia/Kolkata": "IST",
    "Asia/Singapore": "SGT",
    "Asia/Dubai": "GST",
    "Asia/Manila": "PHT PST",
    "UTC": "GMT Z Zulu Coordinated Universal Time",
}

# The zones every name of the UTC/GMT family stands for.
_UTC_FAMILY = {"Etc/UTC", "Etc/GMT", "UTC"}


def _tz_file(name: str) -> str:
    """One of the tz database's text files, from the tzdata package or the system's copy."""
    try:
        return importlib.resources.files("tzdata").joinpath("zoneinfo", name).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    for root in zoneinfo.TZPATH:
        path = Path(root) / name
        if path.exists():
            return path.read_text("utf-8")
    raise FileNotFoundError(f"No {name} in the tzdata package or in {zoneinfo.TZPATH}.")


def _rows(text: str) -> Iterable[list[str]]:
    for line in text.splitlines():
        if line and not line.startswith("#"):
            yield line.split("\t")


def _city(name: str) -> str:
    """America/Argentina/Buenos_Aires → Buenos Aires; America/Indiana/Knox → Knox (Indiana)."""
    if name == UTC_NAME:
        return "UTC"
    parts = name.replace("_", " ").split("/")
    city = parts[-1]
    if len(parts) > 2:
        city = f"{city} ({', '.join(parts[1:-1])})"
    return city


def _words(text: str) -> list[str]:
    """Search words: lower case, underscores and punctuation as spaces ("new_york" finds
    New York; "Britain (UK)" is "britain uk")."""
    return re.sub(r"[\W_]+", " ", text.lower()).split()


@dataclass(frozen=True)
class Zone:
    """One zone people can pick."""

    name: str  # canonical IANA name: America/New_York
    city: str  # New York
    region: str  # Americas
    countries: tuple[str, ...] = ()  # United States
    comment: str = ""  # zone.tab's: "Eastern (most areas)"
    # Codes and other names of its countries: US, USA, United States of America.
    country_names: tuple[str, ...] = field(default=(), repr=False)
    # The cities of its aliases, which people still search by: Calcutta for Kolkata.
    former: tuple[str, ...] = field(default=(), repr=False)
    codes: tuple[str, ...] = field(default=(), repr=False)  # its countries' ISO codes

    def names(self, language: str | None = None) -> tuple[str, tuple[str, ...]]:
        """Its city and countries as `language` (default: the active one) names them:
        Wien, Österreich; Vienne, Autriche (CLDR's names, through Babel). English keeps
        the tz database's own."""
        return _local_names(self.name, self.city, self.countries, self.codes,
                            language or _language())  # fmt: skip

    @functools.cached_property
    def info(self) -> zoneinfo.ZoneInfo:
        # Kept: zoneinfo caches only a few zones strongly, and a page lists 400 of them.
        return zoneinfo.ZoneInfo(self.name)

    def local(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(UTC)).astimezone(self.info)

    def offset(self, now: datetime | None = None) -> timedelta:
        return self.local(now).utcoffset() or timedelta(0)

    def offset_text(self, now: datetime | None = None) -> str:
        """UTC\u22125, UTC+5:30, UTC: with a real minus sign (U+2212), as people write it."""
        minutes = int(self.offset(now).total_seconds() // 60)
        if minutes == 0:
            return "UTC"
        sign = "+" if minutes > 0 else "\u2212"
        hours, rest = divmod(abs(minutes), 60)
        return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")

    def abbreviation(self, now: datetime | None = None) -> str:
        """EST or EDT; "" where tzdata only has a number (+08)."""
        abbr = self.local(now).tzname() or ""
        return "" if abbr[:1] in "+-" else abbr

    def time_text(self, now: datetime | None = None) -> str:
        """9:14 am (English); 09:14 as German and French write it."""
        local = self.local(now)
        language = _language()
        if language != "en":
            return format_time(local, "short", locale=language)
        return f"{local.hour % 12 or 12}:{local.minute:02d} {'am' if local.hour < 12 else 'pm'}"

    def label(self, now: datetime | None = None) -> str:
        """New York — 9:14 am: the name and the time it is there now."""
        return f"{self.names()[0]} \u2014 {self.time_text(now)}"

    def detail(self, now: datetime | None = None) -> str:
        """United States · EST · UTC-5 (minus sign): what tells two zones of one name apart."""
        countries = self.names()[1]
        parts = [", ".join(countries), self.abbreviation(now), self.offset_text(now)]
        unique = [p for i, p in enumerate(parts) if p and p not in parts[:i]]
        return " \u00b7 ".join(unique)

    @property
    def time_name(self) -> str:
        """How a sentence names it: "New York time", "UTC"."""
        city = self.names()[0]
        return city if self.name == UTC_NAME else gettext("%(city)s time") % {"city": city}

    def abbreviations(self, year: int) -> set[str]:
        """Its abbreviations in winter and summer of `year` (PST and PDT), so "PST" finds Los
        Angeles in July too."""
        found = {self.abbreviation(datetime(year, month, 15, 12, tzinfo=UTC)) for month in (1, 7)}
        found.update(ABBREVIATIONS.get(self.name, "").split())
        return found - {""}

    @functools.cache  # noqa: B019 (the offered zones live as long as the process)
    def keywords(self, year: int) -> str:
        """Everything a search matches, as lower-case words."""
        # Found by its names in every language the app speaks: "Wien" and "Vienna" alike.
        local = [n for lang in LANGUAGES[1:] for n in (self.names(lang)[0], *self.names(lang)[1])]
        text = " ".join(
            [
                self.city,
                self.name,
                *self.countries,
                *local,
                *self.country_names,
                *self.former,
                self.comment,
                *sorted(self.abbreviations(year)),
            ]
        )
        return " ".join(dict.fromkeys(_words(text)))


@functools.cache
def _links() -> dict[str, str]:
    """Every alias and the zone it stands for, chains followed (tzdata.zi's L lines)."""
    links: dict[str, str] = {}
    for line in _tz_file("tzdata.zi").splitlines():
        if line.startswith("L "):
            _, target, alias = line.split()
            links[alias] = target
    for alias, target in links.items():
        seen = {alias}
        while target in links and target not in seen:
            seen.add(target)
            target = links[target]
        links[alias] = target
    return links


@functools.cache
def offered() -> dict[str, Zone]:
    """The zones a person can pick, by canonical name: zone.tab's, and UTC."""
    countries = {row[0]: row[1] for row in _rows(_tz_file("iso3166.tab"))}
    available = zoneinfo.available_timezones()
    former: dict[str, set[str]] = {}
    for alias, target in _links().items():
        old = _city(alias) if "/" in alias else ""
        if old and old != _city(target):
            former.setdefault(target, set()).add(old)
    found: dict[str, Zone] = {
        UTC_NAME: Zone(UTC_NAME, "UTC", REGIONS["UTC"], comment="Coordinated Universal Time")
    }
    for row in _rows(_tz_file("zone.tab")):
        codes, name = row[0].split(","), row[2]
        region = name.split("/", 1)[0]
        if name not in available or region not in REGIONS:
            continue
        found[name] = Zone(
            name=name,
            city=_city(name),
            region=REGIONS[region],
            countries=tuple(countries.get(code, code) for code in codes),
            comment=row[3] if len(row) > 3 else "",
            country_names=tuple(
                name for code in codes for name in (code, *COUNTRY_NAMES.get(code, ()))
            ),
            former=tuple(sorted(former.get(name, ()))),
            codes=tuple(codes),
        )
    return found


LANGUAGES = ("en", "de", "fr")


def _language() -> str:
    language = (get_language() or "en").split("-")[0]
    return language if language in LANGUAGES else "en"


@functools.cache
def _local_names(
    name: str, city: str, countries: tuple[str, ...], codes: tuple[str, ...], language: str
) -> tuple[str, tuple[str, ...]]:
    if language == "en" or name == UTC_NAME:
        return city, countries
    locale = Locale.parse(language)
    try:
        local_city = get_timezone_location(name, locale=locale, return_city=True) or city
    except LookupError:
        local_city = city
    local_countries = tuple(
        locale.territories.get(code, english)
        for code, english in zip(codes, countries, strict=False)
    )
    return local_city, local_countries


@functools.cache
def _by_lower_name() -> dict[str, str]:
    """Every name zoneinfo knows, by its lower-case form, for case-blind matching."""
    return {name.lower(): name for name in zoneinfo.available_timezones() | {UTC_NAME}}


@functools.cache
def _by_city() -> dict[str, list[str]]:
    cities: dict[str, list[str]] = {}
    for zone in offered().values():
        for city in {zone.city, *zone.former}:
            cities.setdefault(" ".join(_words(city)), []).append(zone.name)
    return cities


def canonical(name: str) -> str | None:
    """The offered zone an IANA name stands for (Asia/Calcutta → Asia/Kolkata, US/Eastern →
    America/New_York, GB → Europe/London, Etc/UTC → UTC), or None for a name that is no
    offered place (Factory, Etc/GMT+5, Mars/Olympus). Case and spaces don't matter:
    "america/new york" is America/New_York."""
    wanted = name.strip().replace(" ", "_")
    exact = _by_lower_name().get(wanted.lower())
    if exact is None:
        return None
    zones = offered()
    if exact in zones:
        return exact
    target = _links().get(exact, exact)
    if target in zones:
        return target
    if target in _UTC_FAMILY:
        return UTC_NAME
    return None


def resolve(text: str) -> str | None:
    """What a person or a link means by `text`: a zone name or alias in any case, or a city
    that names one zone ("London", "new_york", "Sao Paulo"); None if it names no offered
    zone or more than one."""
    if (found := canonical(text)) is not None:
        return found
    matches = _by_city().get(" ".join(_words(text)), [])
    return matches[0] if len(matches) == 1 else None


def search(query: str, now: datetime | None = None) -> list[Zone]:
    """Zones matching every word of `query` at the start of one of their keywords (city,
    country, abbreviation, zone.tab's comment, former names), best first (`_rank`), then
    alphabetical by city.

    booking.js runs the same match on the keywords the page gives each <option>."""
    words = _words(query)
    if not words:
        return sorted_zones()
    year = (now or datetime.now(UTC)).year
    phrase = " ".join(words)
    ranked: list[tuple[int, str, Zone]] = []
    for zone in offered().values():
        keys = zone.keywords(year).split()
        if not all(any(k.startswith(w) for k in keys) for w in words):
            continue
        ranked.append((_rank(zone, phrase, year), zone.city, zone))
    return [zone for _, _, zone in sorted(ranked, key=lambda r: (r[0], r[1]))]


def _rank(zone: Zone, phrase: str, year: int) -> int:
    """0: the city itself ("london"); 1: its country or abbreviation exactly ("india",
    "pst"); 2: a city starting so ("los"); 3: a country starting so; 4: anything else."""
    city = " ".join(_words(zone.city))
    names = [" ".join(_words(n)) for n in (*zone.countries, *zone.country_names, *zone.former)]
    exact = {*names, *(w for n in names for w in n.split())}
    if city == phrase or phrase in {" ".join(_words(f)) for f in zone.former}:
        return 0
    if phrase in exact or phrase in {a.lower() for a in zone.abbreviations(year)}:
        return 1
    if city.startswith(phrase):
        return 2
    if any(n.startswith(phrase) for n in names):
        return 3
    return 4


def sorted_zones() -> list[Zone]:
    """Every offered zone by region (REGIONS' order), then city."""
    order = {region: i for i, region in enumerate(REGIONS.values())}
    return sorted(offered().values(), key=lambda z: (order[z.region], z.city))


def zone_for(name: str) -> Zone:
    """The offered zone for a canonical name; for another valid IANA name (a page set up
    with Etc/GMT+5 before the list existed) a Zone that only names it."""
    found = offered().get(name)
    if found is not None:
        return found
    return Zone(name=name, city=name, region="Other")


@dataclass(frozen=True)
class Choice:
    """One <option> of the picker, as the page renders it."""

    name: str
    label: str
    city: str
    detail: str
    keywords: str


def grouped_choices(now: datetime | None = None) -> list[tuple[str, list[Choice]]]:
    """The picker's options grouped by region, with the local time `now` in each label."""
    now = now or datetime.now(UTC)
    groups: dict[str, list[Choice]] = {}
    for zone in sorted_zones():
        groups.setdefault(gettext(zone.region), []).append(
            Choice(
                name=zone.name,
                label=zone.label(now),
                city=zone.names()[0],
                detail=zone.detail(now),
                keywords=zone.keywords(now.year),
            )
        )
    return list(groups.items())
