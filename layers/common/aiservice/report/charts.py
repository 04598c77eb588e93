"""Inline SVG charts for the HTML report: no script, no external resource.

Every chart is an `<svg class="chart" data-chart=NAME data-points=N>`; each data point is an element with
class `point` and its value in `data-value` (and a `<title>` for hover), so a test can tell a chart with data
from an empty frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e", "#9498a0")
WIDTH = 760


def _money(value: Decimal) -> str:
    if value and abs(value) < Decimal("0.01"):
        return f"${value:.4f}"
    return f"${value:,.2f}"


def _nice_max(value: Decimal) -> Decimal:
    if value <= 0:
        return Decimal(1)
    step = Decimal(10) ** (len(str(int(value))) - 1) if value >= 1 else Decimal("0.01")
    top = step
    while top < value:
        top += step
    return top


def _frame(name: str, title: str, points: int, height: int, body: list[str]) -> str:
    return (
        f'<svg class="chart" data-chart="{escape(name)}" data-points="{points}" role="img" '
        f'aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"
    )


def _empty(name: str, title: str) -> str:
    body = [f'<text x="{WIDTH // 2}" y="40" text-anchor="middle" class="muted">no data</text>']
    return _frame(name, title, 0, 70, body)


def _axis(top: Decimal, left: int, plot_h: int, base_y: int, right: int) -> list[str]:
    out = []
    for tick in range(5):
        value = top * tick / 4
        y = base_y - plot_h * tick / 4
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_money(value)}</text>')
    return out


def stacked_bars(name: str, title: str, labels: Sequence[str], series: dict[str, Sequence[Decimal]]) -> str:
    """Columns per label (a day), stacked by series (a model), with a legend."""
    totals = [sum((values[i] for values in series.values()), Decimal(0)) for i in range(len(labels))]
    if not labels or not any(totals):
        return _empty(name, title)
    left, right, top_y, plot_h = 70, WIDTH - 10, 10, 220
    base_y = top_y + plot_h
    legend_rows = (len(series) + 3) // 4
    height = base_y + 40 + 18 * legend_rows
    top = _nice_max(max(totals))
    slot = (right - left) / len(labels)
    width = max(2.0, slot * 0.75)
    body = _axis(top, left, plot_h, base_y, right)
    points = 0
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - width) / 2
        y = Decimal(base_y)
        for index, (series_name, values) in enumerate(series.items()):
            value = values[i]
            if not value:
                continue
            h = Decimal(plot_h) * value / top
            y -= h
            points += 1
            body.append(
                f'<rect class="point" data-value="{value}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
                f'height="{max(h, Decimal("0.5")):.1f}" fill="{PALETTE[index % len(PALETTE)]}">'
                f"<title>{escape(label)} {escape(series_name)}: {_money(value)}</title></rect>"
            )
        if i % max(1, len(labels) // 10) == 0 or i == len(labels) - 1:
            body.append(
                f'<text x="{x + width / 2:.1f}" y="{base_y + 14}" text-anchor="middle" class="tick">'
                f"{escape(label[5:])}</text>"
            )
    for index, series_name in enumerate(series):
        lx = left + (index % 4) * 170
        ly = base_y + 32 + 18 * (index // 4)
        body.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{PALETTE[index % len(PALETTE)]}"/>')
        body.append(f'<text x="{lx + 14}" y="{ly}" class="tick">{escape(series_name)}</text>')
    return _frame(name, title, points, height, body)


def hbars(name: str, title: str, labels: Sequence[str], values: Sequence[Decimal]) -> str:
    """One horizontal bar per label (top spenders)."""
    pairs = [(label, value) for label, value in zip(labels, values, strict=True) if value]
    if not pairs:
        return _empty(name, title)
    left, right, row = 180, WIDTH - 90, 22
    top = max(value for _, value in pairs)
    body = []
    for i, (label, value) in enumerate(pairs):
        y = 8 + i * row
        w = Decimal(right - left) * value / top
        body.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" class="tick">{escape(label[:28])}</text>')
        body.append(
            f'<rect class="point" data-value="{value}" x="{left}" y="{y}" width="{max(w, Decimal(1)):.1f}" '
            f'height="{row - 6}" fill="{PALETTE[0]}"><title>{escape(label)}: {_money(value)}</title></rect>'
        )
        body.append(f'<text x="{left + float(w) + 6:.1f}" y="{y + 14}" class="tick">{_money(value)}</text>')
    return _frame(name, title, len(pairs), 16 + row * len(pairs), body)


def bars(
    name: str, title: str, labels: Sequence[str], values: Sequence[Decimal | None], color: str = PALETTE[3]
) -> str:
    """One column per label; None is a gap (no value that day)."""
    if not labels or not any(values):
        return _empty(name, title)
    left, right, top_y, plot_h = 70, WIDTH - 10, 10, 180
    base_y = top_y + plot_h
    top = _nice_max(max(value for value in values if value is not None))
    slot = (right - left) / len(labels)
    width = max(2.0, slot * 0.75)
    body = _axis(top, left, plot_h, base_y, right)
    points = 0
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + slot * i + (slot - width) / 2
        if value:
            h = Decimal(plot_h) * value / top
            points += 1
            body.append(
                f'<rect class="point" data-value="{value}" x="{x:.1f}" y="{base_y - h:.1f}" width="{width:.1f}" '
                f'height="{max(h, Decimal("0.5")):.1f}" fill="{color}">'
                f"<title>{escape(label)}: {_money(value)}</title></rect>"
            )
        if i % max(1, len(labels) // 10) == 0 or i == len(labels) - 1:
            body.append(
                f'<text x="{x + width / 2:.1f}" y="{base_y + 14}" text-anchor="middle" class="tick">'
                f"{escape(label[5:])}</text>"
            )
    return _frame(name, title, points, base_y + 22, body)
