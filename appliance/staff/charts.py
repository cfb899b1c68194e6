"""Inline SVG charts rendered on the server: no script, no external files."""

from __future__ import annotations

from appliance.staff.html import e
from appliance.staff.metrics import display


def weekly_bars(label: str, values: list[float | None], unit: str, width: int = 240, height: int = 70) -> str:
    """One bar per week (oldest left); an empty week shows as a short grey tick."""
    top = max([v for v in values if v is not None] + ([1.0] if unit == "%" else [5.0] if unit == "/5" else [1e-9]))
    n = max(1, len(values))
    slot = width / n
    bars = []
    for i, v in enumerate(values):
        x = i * slot + slot * 0.15
        w = slot * 0.7
        if v is None:
            bars.append(f'<rect x="{x:.1f}" y="{height - 2}" width="{w:.1f}" height="2" fill="#bbb">'
                        f'<title>week {i + 1}: no data</title></rect>')
            continue
        h = max(1.0, (v / top) * (height - 12))
        bars.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{w:.1f}" height="{h:.1f}" fill="#3d5a8a">'
                    f'<title>week {i + 1}: {e(display(v, unit))}</title></rect>')
    return (f'<svg class="chart" role="img" aria-label="{e(label)}, weekly" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">{"".join(bars)}'
            f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" stroke="#889"/></svg>')
