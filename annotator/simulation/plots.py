"""Learning curves for plotting: long-format rows (the Compare page draws them with Altair)
and a PNG (the command line)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------------
# Curves for plotting (the Compare page draws them with Altair; the CLI writes a PNG)

#: Line colours, one per strategy in order (Tableau 10).
COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")  # fmt: skip


def mean_curves(results: dict[str, Any], metric: str = "accuracy") -> list[dict[str, Any]]:
    """Long-format rows ``{"strategy", "labels", "mean", "std"}`` of ``metric`` over seeds, one
    per strategy and label count, in the summary's strategy order (for a chart with std bands)."""
    rows = []
    for strategy in results["summary"]:
        runs = [r for r in results["runs"] if r["strategy"] == strategy]
        values = np.asarray([r[metric] for r in runs], dtype=float)
        for j, count in enumerate(runs[0]["labels"]):
            std = float(values[:, j].std(ddof=1)) if len(runs) > 1 else 0.0
            rows.append(
                {
                    "strategy": strategy,
                    "labels": count,
                    "mean": float(values[:, j].mean()),
                    "std": std,
                }
            )
    return rows


def curves_png(results: dict[str, Any], *, size: tuple[int, int] = (900, 560)) -> bytes:
    """PNG bytes: mean test accuracy vs labels per strategy, +- 1 std band, legend with AULC.

    Drawn with Pillow (matplotlib and vl-convert are not dependencies of protolabel).
    """
    from PIL import Image, ImageDraw

    rows = mean_curves(results)
    width, height = size
    left, right, top, bottom = 60, 210, 30, 50
    counts = [r["labels"] for r in rows]
    lows = [r["mean"] - r["std"] for r in rows]
    highs = [r["mean"] + r["std"] for r in rows]
    x0, x1 = min(counts), max(counts)
    y0, y1 = max(0.0, np.floor(min(lows) * 10) / 10), min(1.0, np.ceil(max(highs) * 10) / 10)
    y1 = y1 if y1 > y0 else y0 + 0.1

    def xy(count: float, value: float) -> tuple[float, float]:
        fx = (count - x0) / (x1 - x0) if x1 > x0 else 0.5
        fy = (value - y0) / (y1 - y0)
        return left + fx * (width - left - right), height - bottom - fy * (height - top - bottom)

    image = Image.new("RGBA", size, "white")
    strategies = list(results["summary"])
    for i, strategy in enumerate(strategies):  # bands first, each blended on its own layer
        mine = [r for r in rows if r["strategy"] == strategy]
        upper = [xy(r["labels"], r["mean"] + r["std"]) for r in mine]
        lower = [xy(r["labels"], r["mean"] - r["std"]) for r in reversed(mine)]
        layer = Image.new("RGBA", size, (0, 0, 0, 0))
        ImageDraw.Draw(layer).polygon(upper + lower, fill=_rgba(COLOURS[i % len(COLOURS)], 40))
        image = Image.alpha_composite(image, layer)
    draw = ImageDraw.Draw(image)
    _axes(draw, xy, (x0, x1), (y0, y1), size, (left, right, top, bottom))
    for i, strategy in enumerate(strategies):
        colour = COLOURS[i % len(COLOURS)]
        draw.line([xy(r["labels"], r["mean"]) for r in rows if r["strategy"] == strategy],
                  fill=colour, width=2)  # fmt: skip
        ly = top + 18 * i
        draw.line(
            [(width - right + 15, ly + 6), (width - right + 35, ly + 6)], fill=colour, width=3
        )
        label = f"{strategy} {results['summary'][strategy]['aulc_mean']:.3f}"
        draw.text((width - right + 40, ly), label, fill="black")
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _rgba(colour: str, alpha: int) -> tuple[int, int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), alpha


def _axes(draw, xy, xs, ys, size, margins) -> None:
    """Frame, ticks and titles of the curves plot."""
    width, height = size
    left, right, top, bottom = margins
    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for value in np.linspace(ys[0], ys[1], 6):
        x, y = xy(xs[0], value)
        draw.line([(x - 4, y), (x, y)], fill="black")
        draw.text((8, y - 6), f"{value:.2f}", fill="black")
    for count in np.linspace(xs[0], xs[1], 6):
        x, y = xy(count, ys[0])
        draw.line([(x, y), (x, y + 4)], fill="black")
        draw.text((x - 10, y + 8), f"{count:.0f}", fill="black")
    draw.text((left, height - 20), "labels", fill="black")
    draw.text((left, 8), "test accuracy (mean +- std over seeds); legend: AULC", fill="black")
