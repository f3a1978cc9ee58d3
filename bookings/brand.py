"""What customers see of the branding (bookings.branding has the colour rules): the
organisation's name and logo, the accent stylesheet and a page's image, on the public pages,
the manage link and the emails.

One query for the site's row (its logo bytes deferred); a page's image comes with the page
(`PUBLIC_PAGE_RELATED`), so a public page pays for branding once. Every URL carries the row's
update time as `?v=`: the branding views answer with a day's Cache-Control, and a change must
show at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.urls import reverse

from bookings import branding
from bookings.models import BookingPage, PageImage, SiteBranding

# The default accent of the emails' buttons (their HTML can't read app.css).
EMAIL_ACCENT = "#1d55c9"


@dataclass(frozen=True)
class Brand:
    name: str = ""
    logo_url: str = ""  # relative to the site, like every URL on a page
    css_url: str = ""  # "" when neither the page nor the site has an accent colour
    image_url: str = ""
    accent: str = EMAIL_ACCENT  # for emails' inline styles; passes WCAG AA on white

    @property
    def shown(self) -> bool:
        """Whether the page header shows a brand bar at all."""
        return bool(self.name or self.logo_url)


def _version(*stamps: datetime | None) -> str:
    return "-".join(str(int(s.timestamp())) if s else "0" for s in stamps)


def _image(page: BookingPage) -> PageImage | None:
    # Free when the page was read with PUBLIC_PAGE_RELATED; one query otherwise.
    try:
        return page.image
    except PageImage.DoesNotExist:
        return None


def for_page(page: BookingPage | None, *, with_image: bool = False) -> Brand:
    """The branding of `page` (the site's alone without one); `with_image` adds the page's
    image, shown beside its details on the booking page only."""
    site = SiteBranding.current()
    accent = (page.accent_color if page else "") or site.accent_color
    css_url = ""
    if accent and page is not None:
        css_url = reverse("branding-page-css", args=[page.slug])
        css_url += f"?v={_version(page.updated, site.updated)}"
    elif accent:
        css_url = reverse("branding-site-css") + f"?v={_version(site.updated)}"
    logo_url = ""
    if site.logo_type:
        logo_url = reverse("branding-logo") + f"?v={_version(site.updated)}"
    image_url = ""
    if with_image and page is not None and (image := _image(page)) is not None:
        image_url = reverse("branding-page-image", args=[page.slug])
        image_url += f"?v={_version(image.updated)}"
    return Brand(
        name=site.organisation_name,
        logo_url=logo_url,
        css_url=css_url,
        image_url=image_url,
        accent=branding.accessible(accent) if accent else EMAIL_ACCENT,
    )


def for_email(page: BookingPage | None) -> Brand:
    """As `for_page`, with absolute URLs: an email is read far from the site."""
    brand = for_page(page)
    return Brand(
        name=brand.name,
        logo_url=settings.SITE_URL + brand.logo_url if brand.logo_url else "",
        accent=brand.accent,
    )


# Read with a public page so that its image costs no query of its own (the bytes stay in the
# database until /branding/pages/<slug>/image asks for them).
PUBLIC_PAGE_RELATED = ("image",)
PUBLIC_PAGE_DEFERRED = ("image__data",)
