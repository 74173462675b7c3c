"""The activity chart: events per day by actor kind, as stacked bars in inline SVG.

Server-rendered, no JavaScript: the SVG carries a <title> and a <desc> that says in words
what the bars show, and each bar segment has its own <title> (a tooltip, and read out by
screen readers). Colours come from dock.css classes (`.chart-bar`, `.chart-bar-2`,
`.chart-label`, which work outside `.chart` too) so the chart follows the light and dark themes; kinds differ in opacity.
"""

from dataclasses import dataclass
from datetime import date
from itertools import count

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .selectors import daily_counts, principal_filter

# Bottom to top. (css class, fill-opacity, legend label)
SERIES = (
    ("agent", "chart-bar", "1", "Agents"),
    ("human", "chart-bar", "0.5", "Humans"),
    ("service", "chart-bar-2", "1", "Service accounts"),
    ("system", "chart-label", "0.55", "System"),
)
WIDTH, HEIGHT = 960, 200
# The scale is drawn on both sides: on a phone the chart scrolls sideways and opens at its
# newest (right-hand) end, where a left-hand scale alone would be out of sight.
LEFT, RIGHT, TOP, BOTTOM = 44, 44, 10, 24
_ids = count(1)


def nice_ceiling(value: int) -> int:
    """The top of the y axis: four equal whole-number gridline steps (1, 1.5, 2, 2.5, 3, 4,
    5, 6 or 8 × 10^k) that cover `value`."""
    quarter = max(1.0, value / 4)
    magnitude = 1
    while magnitude * 10 <= quarter:
        magnitude *= 10
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        size = step * magnitude
        if size >= quarter and size == int(size):
            return int(size) * 4
    return 40 * magnitude


def _day_label(day: date, many: bool) -> str:
    return f"{day.day} {day:%b}" if many else f"{day:%a} {day.day}"


def _long_day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def span(days: list[date]) -> str:
    """The days a chart covers, its year said once where it is one: "1 Nov to 30 Nov 2026"."""
    if not days:
        return ""
    first, last = days[0], days[-1]
    if first == last:
        return _long_day(first)
    start = _long_day(first) if first.year != last.year else f"{first.day} {first:%b}"
    return f"{start} to {_long_day(last)}"


def _number(n: int) -> str:
    return f"{n:,}"


def _events(n: int) -> str:
    return f"{_number(n)} event{'' if n == 1 else 's'}"


def describe(daily) -> str:
    totals = daily.by_kind()
    total = sum(totals.values())
    if not daily.days:
        return "No days in range."
    span = f"{_long_day(daily.days[0])} to {_long_day(daily.days[-1])}"
    if total == 0:
        return f"No events from {span}."
    parts = [f"{_number(totals[kind])} by {label.lower()}" for kind, _, _, label in SERIES if totals.get(kind)]
    busiest = max(daily.days, key=lambda d: sum(daily.counts.get(d, {}).values()))
    peak = sum(daily.counts.get(busiest, {}).values())
    return (f"{_events(total)} from {span}: {', '.join(parts)}. "
            f"Busiest day: {_day_label(busiest, True)} with {_number(peak)}.")


@dataclass(frozen=True)
class Chart:
    """A drawn chart and its legend: the series that have a bar in it, bottom to top
    ((css class, fill-opacity, label) each). A legend entry for a kind with no events
    would name something the chart does not show (an agent's profile has no humans)."""

    svg: SafeString
    legend: tuple[tuple[str, str, str], ...]
    summary: str  # the totals in words, shown under the bars (the SVG's <desc> says the same)
    span: str  # the days it covers, for a heading: without a start date, not all that is listed


def activity_chart(daily, *, title: str = "Events per day by actor kind") -> Chart:
    """activity_svg's bars for a DailyCounts, with the legend of the kinds they draw and
    their totals in words."""
    totals = daily.by_kind()
    legend = tuple((css, opacity, label) for kind, css, opacity, label in SERIES if totals.get(kind))
    summary = describe(daily)
    return Chart(activity_svg(daily, title=title, description=summary), legend, summary, span(daily.days))


def activity_svg(daily, *, title: str = "Events per day by actor kind", description: str | None = None) -> SafeString:
    """Stacked bars for a DailyCounts (audit.selectors.daily_counts); `description` is
    describe(daily), passed in by a caller that has it already."""
    uid = next(_ids)
    days = daily.days
    n = max(1, len(days))
    peak = max((sum(daily.counts.get(d, {}).values()) for d in days), default=0)
    top = nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / n
    bar_w = max(1.0, min(28.0, slot * 0.72))
    many = n > 14
    label_every = 1 if n <= 14 else (7 if n <= 62 else 14)

    out = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-t{uid} chart-d{uid}" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-t{uid}">{escape(title)}</title>',
        f'<desc id="chart-d{uid}">{escape(describe(daily) if description is None else description)}</desc>',
    ]
    for i in range(5):
        value = top * i // 4
        y = TOP + plot_h - plot_h * i / 4
        css = "axis" if i == 0 else "grid"
        out.append(f'<line class="{css}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 3.5:.1f}" text-anchor="end" aria-hidden="true">{_number(value)}</text>')
        out.append(f'<text x="{WIDTH - RIGHT + 6}" y="{y + 3.5:.1f}" aria-hidden="true">{_number(value)}</text>')
    for i, day in enumerate(days):
        x = LEFT + slot * i + (slot - bar_w) / 2
        y = TOP + plot_h
        per_kind = daily.counts.get(day, {})
        day_total = sum(per_kind.values())
        out.append(f'<g><title>{escape(_day_label(day, True))}: {_events(day_total)}</title>')
        for kind, css, opacity, label in SERIES:
            value = per_kind.get(kind, 0)
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            out.append(
                f'<rect class="{css}" fill-opacity="{opacity}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{max(h, 0.5):.1f}"><title>{escape(_day_label(day, True))}: {_number(value)} by '
                f'{escape(label.lower())}</title></rect>'
            )
        out.append("</g>")
        if i % label_every == 0 or (n <= 14):
            cx = LEFT + slot * i + slot / 2
            out.append(
                f'<text x="{cx:.1f}" y="{HEIGHT - 6}" text-anchor="middle" aria-hidden="true">'
                f'{escape(_day_label(day, many))}</text>'
            )
    out.append("</svg>")
    return mark_safe("".join(out))  # every interpolated text above is escaped


def principal_activity_chart(public_id: str, *, kind: str, title: str = "", leave_out: tuple[str, ...] = (),
                             owner_id: str = "") -> Chart:
    """The chart for a profile: what `principal_filter` reads of the principal."""
    filters = principal_filter(public_id, kind, leave_out=leave_out, owner_id=owner_id)
    return activity_chart(daily_counts(filters, org=None), title=title or "Events per day by actor kind, last 30 days")
