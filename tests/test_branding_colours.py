"""Accent colours stay readable (bookings/branding.py): WCAG AA against white, refused with
a passing suggestion, never silently changed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bookings import branding

colours = st.tuples(*[st.integers(0, 255)] * 3).map(branding.hex_of)


def test_the_default_blue_passes_and_yellow_fails_with_a_darker_suggestion() -> None:
    assert branding.problem("#1d55c9") == ""
    words = branding.problem("#ffd500")
    assert "1.4:1" in words and "4.5:1" in words
    suggestion = branding.accessible("#ffd500")
    assert suggestion in words
    assert branding.problem(suggestion) == ""


def test_contrast_matches_the_wcag_reference_values() -> None:
    black, white = (0, 0, 0), (255, 255, 255)
    assert branding.contrast(black, white) == pytest.approx(21.0)
    assert branding.contrast(branding.parse("#767676"), white) == pytest.approx(4.54, abs=0.01)


@given(colours)
def test_every_suggestion_passes_and_a_passing_colour_is_kept(colour: str) -> None:
    suggestion = branding.accessible(colour)
    assert branding.contrast(branding.parse(suggestion), branding.WHITE) >= 4.5
    if branding.problem(colour) == "":
        assert suggestion == colour


@pytest.mark.parametrize("bad", ["red", "#12345", "#12345g", "", "1d55c9"])
def test_a_colour_that_isnt_hex_is_refused_in_words(bad: str) -> None:
    assert branding.problem(bad) == "Use a colour like #1d55c9."
