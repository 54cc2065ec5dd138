"""model_governance room: model cards, SHAP explainability and the fairness gate.

- :mod:`model_governance.fairness` — ``assess_fairness`` (fairlearn) decided by ``FairnessGate``.
- :mod:`model_governance.explainability` — ``global_importance`` (SHAP) and its PNG bar chart.
- :mod:`model_governance.cards` — the ``ModelCard`` data model, Markdown and HTML renderings.
- :mod:`model_governance.govern` — ``assess`` (fairness and importance), ``build_card`` (the
  rendered card of an assessed model) and ``write_outputs``.
- :mod:`model_governance.step` — ``govern_step`` and ``model_card_step``: the pipeline steps
  around them (read the run's artifacts, record the step).

Nothing is imported here: shap, fairlearn and matplotlib load only inside the functions that
use them, so importing a submodule stays cheap.
"""

__all__ = ["cards", "explainability", "fairness", "govern", "step"]
