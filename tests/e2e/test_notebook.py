"""The walkthrough notebook runs top to bottom in a real kernel, in a workspace of its own.

The kernel is this environment's Python (a kernelspec written to a temporary JUPYTER_PATH),
and the notebook's workspace is a temporary folder (MLOPS_WALKTHROUGH_DIR), so neither a
developer's Jupyter set-up nor their `.mlops/` state is used or touched.
"""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "platform_walkthrough.ipynb"
CELL_TIMEOUT_S = 600


def test_notebook_is_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the outputs before committing"
    assert nb.metadata.kernelspec.name == "python3"
    # One pipeline run keeps the walkthrough (and this test) to about two minutes.
    assert sum('"run", "training"' in c.source for c in code) == 1


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif "data" in out:
                parts.append(str(out.data.get("text/plain", "")))
    return "\n".join(parts)


@pytest.mark.e2e
@pytest.mark.timeout(1200)
def test_walkthrough_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernels = tmp_path / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (project environment)",
        "language": "python",
    }
    (kernels / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    workspace = tmp_path / "workspace"
    monkeypatch.setenv("MLOPS_WALKTHROUGH_DIR", str(workspace))
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()  # raises CellExecutionError naming the cell and its traceback

    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    text = _outputs_text(nb)
    assert f"workspace: {workspace.resolve()}" in text
    assert "Run summary" in text
    assert re.search(r"registered version: credit_risk 1\.0\.0 \(aliases: challenger\)", text), text[-3000:]
    assert "scored 200 rows with credit_risk 1.0.0" in text
    assert "batch predict agrees with in-process scoring on 200 rows" in text
    report = re.search(r"quality report: (\S+quality\.html)", text)
    assert report, text[-3000:]
    assert Path(report.group(1)).is_file()
    assert Path(report.group(1)).is_relative_to(workspace.resolve())
    # Everything the run produced stayed in the workspace; the working folder is untouched.
    assert (workspace / ".mlops" / "registry").is_dir()
    assert list(cwd.iterdir()) == []
