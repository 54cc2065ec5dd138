"""The validator's view of this repository, shared by the test modules that read its renders."""

from __future__ import annotations

import pytest

from infrastructure.validation import Context, Layout
from tests.infrastructure.validator import ROOT


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Context:
    """The checks' context for this repository, output in a temporary folder: its Helm render
    (``helm dependency build``, values schema, strict lint, template for every chart x
    environment, as Argo CD deploys it) is done once, by the first test that asks."""
    return Context(Layout(ROOT, tmp_path_factory.mktemp("infra")), kube_version=None)
