"""`{% embed_snippets page as embed %}`: the page's embed snippets for its settings
(templates/bookings/staff/_embed_snippet.html), so the editor's view needn't know them."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from bookings import embedding
from bookings.models import BookingPage

register = template.Library()


@register.simple_tag
def embed_snippets(page: BookingPage) -> dict[str, Any]:
    return {
        "enabled": embedding.embedding_enabled(),
        "origins": list(settings.EMBED_ALLOWED_ORIGINS),
        "inline": embedding.embed_snippet(page, "inline"),
        "popup": embedding.embed_snippet(page, "popup"),
    }
