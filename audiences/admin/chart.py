"""The step's hourly chart: bars of entries and syncs laid out for an inline SVG (no JavaScript, no CDN)."""

from __future__ import annotations

import math


def hourly_chart(series: list[dict], *, width: int = 760, height: int = 220) -> dict:
    """Bars of entries and syncs per hour, laid out for an inline SVG (no JavaScript, no CDN)."""
    left, right, top, bottom = 44, 8, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([max(p["entered"], p["synced"]) for p in series] + [0])
    y_max = _nice_ceiling(peak)
    slot = plot_w / max(len(series), 1)
    bar = max(slot * 0.38, 1.0)
    bars, labels = [], []
    for i, point in enumerate(series):
        x = left + i * slot
        for offset, key in ((0.1, "entered"), (0.1 + 0.4, "synced")):
            h = plot_h * point[key] / y_max
            if point[key]:
                bars.append({
                    "x": round(x + slot * offset, 1), "y": round(top + plot_h - h, 1), "w": round(bar, 1),
                    "h": round(max(h, 1.0), 1), "kind": key,
                    "title": f"{point['hour']:%b %d %H:00} UTC: {point[key]} {key}",
                })
        if i % 6 == 0:
            labels.append({"x": round(x + slot / 2, 1), "text": f"{point['hour']:%H:00}"})
    grid = [
        {"y": round(top + plot_h - plot_h * v / y_max, 1), "value": v}
        for v in (0, y_max // 2, y_max) if v or v == 0
    ]
    return {
        "width": width, "height": height, "left": left, "right": width - right, "bottom": top + plot_h,
        "bars": bars, "labels": labels, "grid": grid, "label_y": height - 8, "empty": peak == 0,
    }


def _nice_ceiling(value: int) -> int:
    if value <= 4:
        return 4
    magnitude = 10 ** int(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        ceiling = int(step * magnitude)
        if ceiling >= value and ceiling % 2 == 0:
            return ceiling
    return value + value % 2


# --- Audiences, records and send logs (read-only) ---------------------------------------------
