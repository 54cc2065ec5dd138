"""The context every check runs with, and the signature of a check."""

from __future__ import annotations

import threading
from collections.abc import Callable

from infrastructure.validation.core import CheckResult, Layout
from infrastructure.validation.render import RenderOutcome, render_charts
from mlops.errors import MissingToolError


class Context:
    """Inputs shared by the checks; the Helm render is done once, by whichever check asks first."""

    def __init__(self, layout: Layout, kube_version: str | None) -> None:
        self.layout = layout
        self.kube_version = kube_version
        self._lock = threading.Lock()
        self._render: RenderOutcome | MissingToolError | None = None

    def rendered(self) -> RenderOutcome:
        """Every chart rendered for every environment (see :func:`render_charts`)."""
        with self._lock:
            if self._render is None:
                try:
                    self._render = render_charts(self.layout)
                except MissingToolError as exc:
                    self._render = exc
            if isinstance(self._render, MissingToolError):
                raise self._render
            return self._render


# A check: one name in the CHECKS registry, run with the shared context.
Check = Callable[[Context], CheckResult]
