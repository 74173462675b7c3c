"""Short, calm relative times for dense rows: "just now", "5 min ago", "3 days ago"."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

register = template.Library()


def _span(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    days = seconds // 86400
    return f"{days} day{'s' if days != 1 else ''}"


@register.filter
def ago(value: datetime | None) -> str:
    if not value:
        return ""
    seconds = (timezone.now() - value).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds >= 30 * 86400:
        return date_format(timezone.localtime(value), "j M Y")
    return f"{_span(seconds)} ago"


@register.filter
def left(value: datetime | None) -> str:
    """Time until `value`: "14 min", or "0 min" once it has passed."""
    if not value:
        return ""
    seconds = (value - timezone.now()).total_seconds()
    if seconds <= 0:
        return "0 min"
    return _span(seconds + 59)
