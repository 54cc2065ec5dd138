"""Explainability: global SHAP importance per original input column, and its bar chart."""

from model_governance.explainability.importance import feature_sources, global_importance
from model_governance.explainability.plot import importance_plot_png

__all__ = ["feature_sources", "global_importance", "importance_plot_png"]
