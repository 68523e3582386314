"""The overview's charts: pygal SVG rendered on the server, shown as an image.

No JavaScript and nothing fetched from elsewhere: pygal's tooltip script is turned off
(`js=[]`) and the inline config `<script>` it still writes is dropped, so a chart is
pure SVG with its own `<style>`. It goes in the page as an `<img>` with a `data:` URL:
inline in the page, that `<style>` and pygal's style attributes would need the console's
Content-Security-Policy to allow inline styles, while an SVG image keeps its styles to
itself. The same figures are in a table beside each chart for screen readers and for
copying.
"""

from __future__ import annotations

import base64
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pygal
from babel.numbers import get_currency_precision
from django.utils.html import format_html
from django.utils.safestring import SafeString
from pygal.graph.graph import Graph
from pygal.style import Style

from simrenew.console.queries import DayRenewals, MonthChurn, PlanCount, Revenue
from simrenew.kit.money import format_money

# pygal adds an import hook for its map plugins to sys.meta_path that has no `find_spec`,
# which breaks importers that call it (pytest's importlib mode, Python 3.12's import
# system). The console uses no map plugins, so the hook goes.
sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, pygal.PluginImportFixer)]

SVG_NS = "http://www.w3.org/2000/svg"
FONT = '-apple-system, "Segoe UI", system-ui, Roboto, "Helvetica Neue", Arial, sans-serif'
# Django admin's blues, then colours that stay apart for common colour blindness.
COLOURS = ("#417690", "#e67e22", "#79aec8", "#c0392b", "#2e8b57", "#8e44ad")
CONSOLE_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#333333",
    foreground_strong="#222222",
    foreground_subtle="#dddddd",
    colors=COLOURS,
    font_family=FONT,
    label_font_family=FONT,
    major_label_font_family=FONT,
    value_font_family=FONT,
    legend_font_family=FONT,
    title_font_family=FONT,
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    value_font_size=13,
    opacity="0.9",
    opacity_hover="1",
)


def _config(*, wide: bool = False, **extra: Any) -> dict[str, Any]:
    """Half-width panels draw at 520 units across and full-width ones at 1040, so text keeps
    about the same size on the page once the SVG is scaled to its panel."""
    base: dict[str, Any] = {
        "js": [],
        "style": CONSOLE_STYLE,
        "disable_xml_declaration": True,
        "width": 1040 if wide else 520,
        "height": 300,
        "legend_at_bottom": True,
        "show_y_guides": True,
        "margin": 8,
        "spacing": 12,
        "no_data_text": "No data yet",
        "truncate_label": -1,
        "print_values": False,
    }
    base.update(extra)
    return base


def to_image(chart: Graph, *, label: str) -> SafeString:
    """The chart as an `<img>` of its SVG (no scripts), with `label` as its text."""
    ET.register_namespace("", SVG_NS)
    # One legend row: pygal leaves no room for the legend when it has fewer entries than columns.
    chart.legend_at_bottom_columns = max(1, len(chart.raw_series))
    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    tree.set("preserveAspectRatio", "xMidYMid meet")
    svg = ET.tostring(tree, encoding="unicode")
    # Labels come from our own rows (plan names) and are escaped by ElementTree.
    source = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    return format_html('<img src="{}" alt="{}">', source, label)


def day_label(day: date) -> str:
    return day.strftime("%b %d").replace(" 0", " ")


def month_label(month: date) -> str:
    return month.strftime("%b %Y")


def label_every(chart: Graph, labels: Sequence[str], every: int) -> None:
    """Name every n-th bar, counted back from the last (today, this month), so 30 days fit
    on a phone; the others keep their label for the figures but do not print it."""
    last = len(labels) - 1
    chart.x_labels = list(labels)
    chart.x_labels_major = [label for i, label in enumerate(labels) if (last - i) % every == 0]
    chart.show_minor_x_labels = False


def count_ticks(highest: int) -> list[int]:
    """Whole-number y labels (pygal would otherwise show 0.2 steps for small counts)."""
    step = max(1, -(-highest // 5))
    return list(range(0, max(highest, 1) + step, step))


def chart_months(months: Sequence[date]) -> list[str]:
    """Short month names, with the year at the start and at each January."""
    return [m.strftime("%b %Y") if (i == 0 or m.month == 1) else m.strftime("%b") for i, m in enumerate(months)]


def active_by_carrier(rows: list[tuple[str, int]]) -> SafeString:
    highest = max((count for _, count in rows), default=0)
    chart = pygal.Bar(**_config(show_legend=False, print_values=True, y_labels=count_ticks(highest)))
    chart.x_labels = [carrier for carrier, _ in rows]
    chart.add("Active subscriptions", [count for _, count in rows])
    return to_image(chart, label="Active subscriptions by carrier")


def active_by_plan(rows: list[PlanCount]) -> SafeString:
    highest = max((row.count for row in rows), default=0)
    chart = pygal.HorizontalBar(
        **_config(
            show_legend=False, print_values=True, height=max(240, 34 * len(rows) + 70), y_labels=count_ticks(highest)
        )
    )
    chart.x_labels = [row.name for row in rows]
    chart.add("Active subscriptions", [row.count for row in rows])
    return to_image(chart, label="Active subscriptions by plan")


def renewals(days: list[DayRenewals]) -> SafeString:
    highest = max((d.succeeded + d.failed for d in days), default=0)
    chart = pygal.StackedBar(**_config(wide=True, y_labels=count_ticks(highest)))
    label_every(chart, [day_label(d.day) for d in days], 7)
    chart.add("Renewed", [d.succeeded for d in days])
    chart.add("Failed renewal charges", [d.failed for d in days])
    return to_image(chart, label="Renewals and failed renewal charges per day, last 30 days")


def major_units(amount_minor: int, currency: str) -> float:
    """For plotting only (figures shown as text are formatted from the minor units)."""
    return float(Decimal(amount_minor).scaleb(-get_currency_precision(currency)))


def revenue(labels: list[str], by_currency: dict[str, list[Revenue]], *, what: str, every: int) -> SafeString:
    currencies = sorted(by_currency)
    extra: dict[str, Any] = {}
    if len(currencies) == 1:  # one currency: the axis can speak money
        only = currencies[0]
        digits = get_currency_precision(only)

        def as_money(value: float) -> str:
            return format_money(round(value * 10**digits), only).replace(".00", "")

        extra["value_formatter"] = as_money
    chart = pygal.Bar(**_config(**extra))
    label_every(chart, labels, every)
    for currency in currencies:
        chart.add(f"Net revenue ({currency})", [major_units(v.net_minor, currency) for v in by_currency[currency]])
    return to_image(chart, label=f"Net revenue {what}")


def churn(months: list[MonthChurn]) -> SafeString:
    highest = max((max(m.cancelled, m.lapsed) for m in months), default=0)
    rates = [m.rate_percent for m in months]
    known = [rate for rate in rates if rate is not None]
    extra: dict[str, Any] = {"y_labels": count_ticks(highest)}
    if known:
        extra["secondary_range"] = (0, max(10.0, max(known)))
    chart = pygal.Bar(**_config(wide=True, **extra))
    chart.x_labels = chart_months([m.month for m in months])
    chart.add("Cancelled", [m.cancelled for m in months])
    chart.add("Lapsed (terminated)", [m.lapsed for m in months])
    if known:  # pygal cannot scale an axis with no values at all
        chart.add("Churn rate % (right axis)", rates, secondary=True)
    return to_image(chart, label="Churn per month, last 12 months")
