"""Branding colours that stay readable: WCAG 2.x contrast, and the CSS a brand becomes.

The accent colour is used as a button background under white text, as link and focus
colour on white, and (lightened) as the selected day's background under accent text, so it
must reach WCAG AA's 4.5:1 against white. A colour that doesn't is refused with the nearest
darker shade that does, offered as a suggestion: a brand team picks their exact shade, the
app never silently changes it. Pure functions; from Django only gettext, for the messages.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext

AA_NORMAL_TEXT = 4.5
HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
WHITE = (255, 255, 255)


def parse(value: str) -> tuple[int, int, int]:
    if not HEX.match(value or ""):
        raise ValueError(gettext("Use a colour like #1d55c9."))
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def hex_of(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2.x relative luminance."""
    r, g, b = (_linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _scaled(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    r, g, b = (max(0, min(255, round(c * factor))) for c in rgb)
    return r, g, b


def accessible(value: str) -> str:
    """The colour itself when it reaches AA against white, else the lightest darker shade
    (same hue, scaled towards black) that does."""
    rgb = parse(value)
    if contrast(rgb, WHITE) >= AA_NORMAL_TEXT:
        return hex_of(rgb)
    lo, hi = 0.0, 1.0  # factor 0 is black, which always passes
    for _ in range(30):
        mid = (lo + hi) / 2
        if contrast(_scaled(rgb, mid), WHITE) >= AA_NORMAL_TEXT:
            lo = mid
        else:
            hi = mid
    return hex_of(_scaled(rgb, lo))


def problem(value: str) -> str:
    """Why `value` can't be the accent colour ("" when it can), in words with a way out."""
    try:
        rgb = parse(value)
    except ValueError as exc:
        return str(exc)
    ratio = contrast(rgb, WHITE)
    if ratio >= AA_NORMAL_TEXT:
        return ""
    return gettext(
        # Translators: %(colour)s and %(shade)s are colours such as #7fa9ff; %(ratio).1f:1 is
        # the contrast, such as 2.6:1.
        "%(colour)s on white has a contrast of %(ratio).1f:1; text needs at least 4.5:1 to be "
        "readable (WCAG AA). The nearest shade that passes is %(shade)s."
    ) % {"colour": value, "ratio": ratio, "shade": accessible(value)}


def css(accent: str) -> str:
    """The custom properties app.css reads, for an accent that passed `problem`."""
    rgb = parse(accessible(accent))
    hover = hex_of(_scaled(rgb, 0.82))
    soft = hex_of(tuple(round(c + (255 - c) * 0.9) for c in rgb))  # type: ignore[arg-type]
    return (
        ":root {\n"
        f"  --c-primary: {hex_of(rgb)};\n"
        f"  --c-primary-hover: {hover};\n"
        f"  --c-primary-soft: {soft};\n"
        f"  --c-focus: {hex_of(rgb)};\n"
        "  --c-on-primary: #ffffff;\n"
        "}\n"
    )
