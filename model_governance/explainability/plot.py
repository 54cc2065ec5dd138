"""Bar chart of a feature-importance series, as PNG bytes (matplotlib, Agg canvas)."""

from __future__ import annotations

import io

import pandas as pd

_UNITS = {"log_odds": "log-odds", "probability": "probability", "decision_function": "decision score"}


def importance_plot_png(series: pd.Series, top: int = 15) -> bytes:
    """Horizontal bar chart of the ``top`` largest values of ``series``, largest at the top."""
    # Figure + FigureCanvasAgg directly: no pyplot global state and no process-wide backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    if series.empty:
        raise ValueError("no feature importances to plot")
    shown = series.sort_values(ascending=False, kind="stable").head(top).iloc[::-1]

    fig = Figure(figsize=(7.0, 0.9 + 0.32 * len(shown)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.barh([str(name) for name in shown.index], shown.to_numpy(dtype=float), color="#2f6690")
    unit = _UNITS.get(str(series.attrs.get("output", "")), "")
    ax.set_xlabel(f"mean |SHAP value| ({unit})" if unit else "mean |SHAP value|")
    ax.set_title(f"Feature importance (top {len(shown)} of {len(series)})")
    ax.spines[["top", "right"]].set_visible(False)
    buffer = io.BytesIO()
    # No "Software" metadata: the bytes do not carry the matplotlib version.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
