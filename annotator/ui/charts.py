"""The app's charts (Altair), in one place; each takes plain data and returns a chart."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd


def kappa_curve(versions: list[int], kappas: list[float], threshold: float) -> alt.LayerChart:
    """Agreement of each model version with the one before on the stop set."""
    frame = pd.DataFrame({"model version": versions[1:], "kappa": kappas})
    line = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("model version:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("kappa:Q", title="kappa", scale=alt.Scale(domain=[min(0.0, *kappas), 1.0])),
            tooltip=["model version", alt.Tooltip("kappa:Q", format=".4f")],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(y=alt.Y("threshold:Q", title="kappa"))
    )
    return (line + rule).properties(height=260)


def class_counts(frame: pd.DataFrame) -> alt.Chart:
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("labelled:Q", title="labelled items"),
            y=alt.Y("label:N", sort=None, axis=alt.Axis(labelOverlap=False)),
            tooltip=["label", "labelled"],
        )
        .properties(height=max(140, 30 * len(frame)))
    )


def confusion(labels: list[str], matrix: np.ndarray) -> alt.LayerChart:
    """Rows: the label given; columns: the cross-validated prediction."""
    n = len(labels)
    frame = pd.DataFrame(
        {
            "label": np.repeat(labels, n),
            "predicted": np.tile(labels, n),
            "count": np.asarray(matrix).reshape(-1),
        }
    )
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:N", sort=labels), y=alt.Y("label:N", sort=labels)
    )
    cells = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues")),
        tooltip=["label", "predicted", "count"],
    )
    text = base.mark_text().encode(text="count:Q")
    return (cells + text).properties(height=max(160, 26 * n))


def labels_per_round(rounds: pd.DataFrame) -> alt.Chart:
    frame = rounds.assign(cumulative=rounds["labelled"].cumsum())
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("round:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("cumulative:Q", title="labels (cumulative)"),
            tooltip=["round", "strategy", "labelled", "cumulative"],
        )
        .properties(height=220)
    )


def learning_curves(frame: pd.DataFrame, strategies: list[str]) -> alt.LayerChart:
    """Mean test accuracy per label count and strategy (``simulation.mean_curves`` rows with
    ``low``/``high`` = mean -+ std), a band for the spread; colours fixed in run order."""
    from annotator.simulation import COLOURS

    colour = alt.Color(
        "strategy:N", title="strategy",
        scale=alt.Scale(domain=strategies, range=list(COLOURS[: len(strategies)])),
    )  # fmt: skip
    base = alt.Chart(frame).encode(x=alt.X("labels:Q", title="labels"), color=colour)
    band = base.mark_area(opacity=0.15).encode(y="low:Q", y2="high:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", title="test accuracy", scale=alt.Scale(zero=False)),
        tooltip=[
            "strategy",
            "labels",
            alt.Tooltip("mean:Q", format=".3f"),
            alt.Tooltip("std:Q", format=".3f"),
        ],
    )
    return band + line
