"""The disaster-recovery drill: back up, destroy, restore into a fresh deployment, verify, time it.

    observe ─▶ backup ─▶ destroy ─▶ recreate (empty) ─▶ restore ─▶ observe ─▶ compare
                         ▲ RTO starts                                       RTO ends ▲

The deployment itself (how its servers are destroyed and recreated) is behind
:class:`Deployment`, which the CLI implements for the local reference deployment; this module
only orders the phases, times them and judges the result. **RTO** is destroy → every fact
verified; **RPO** is how old the newest restored write was at the moment of destruction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from backup.drill.facts import Facts, differences
from backup.environment import BackupEnvironment
from backup.repository import Repository
from backup.service import TombstoneApplier, create_backup, restore_backup
from mlops.errors import BackupError, MlopsError
from mlops.report_html import badge, cards, escape, page, table


class _DrillStoppedError(BackupError):
    """A phase failed (raised once, by the innermost phase)."""


# The phases before the destroy; what an operator follows when a later one fails.
_UNTOUCHED = ("observe before", "backup")
_PLAYBOOK = "backup/playbooks/environment.md"


class Deployment(Protocol):
    """A deployment the drill may destroy: its stores, and how to observe, destroy and rebuild it."""

    name: str

    def environment(self) -> BackupEnvironment:
        """Where the stores are now (read again after a recreate: endpoints or tokens may change)."""
        ...

    def observe(self) -> Facts:
        """The facts a restore must give back, read through the platform's clients."""
        ...

    def destroy(self) -> None:
        """Stop every server and delete its data; the backup repository and its key survive."""
        ...

    def recreate(self) -> None:
        """Start fresh, empty servers in place of the destroyed ones."""
        ...

    def after_restore(self) -> None:
        """Bring the restored stores into service (e.g. unseal the restored OpenBao): called once
        the targets are restored, before the subjects erased since the backup are erased again."""
        ...


@dataclass
class DrillReport:
    deployment: str
    backup_id: str
    started_at: str
    passed: bool
    rto_s: float
    rpo_s: float
    # how old the backup restored was at the destruction: the writes of that window are lost
    backup_age_s: float = 0.0
    # seconds per phase, in order
    phases: dict[str, float] = field(default_factory=dict)
    backup_bytes: int = 0
    checked: dict[str, int] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    goal_rto_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


def run_drill(
    deployment: Deployment,
    repo: Repository,
    workdir: Path,
    *,
    goal_rto_s: float | None = None,
    clock: Callable[[], float] = time.time,
    progress: Callable[[str], None] = lambda _line: None,
    apply_tombstones: TombstoneApplier | None = None,
) -> DrillReport:
    """Run every phase; a restore that differs is a failed report. A phase that fails raises a
    :class:`~mlops.errors.BackupError` naming the phase and its cause; from the destroy on, the
    deployment is then left as it is, for the operator to finish by hand with the playbook."""
    phases: dict[str, float] = {}
    started = clock()
    backup_id: str | None = None

    def phase(name: str, action: Callable[[], Any]) -> Any:
        progress(f"{name} …")
        phases[name] = 0.0  # listed in the order begun; a phase run within another is not counted twice
        begun, counted = clock(), sum(phases.values())
        try:
            result = action()
        except _DrillStoppedError:
            raise
        except MlopsError as exc:
            if name in _UNTOUCHED:
                left = "the deployment was not touched"
            else:
                left = f"the deployment is left part-way: restore backup {backup_id} by hand ({_PLAYBOOK})"
            raise _DrillStoppedError(
                f"the drill stopped at {name!r} after {clock() - begun:.1f} s: {exc}\n{left}"
            ) from exc
        phases[name] = round(clock() - begun - (sum(phases.values()) - counted), 3)
        progress(f"{name}: {phases[name]:.1f} s")
        return result

    before: Facts = phase("observe before", deployment.observe)
    manifest = phase("backup", lambda: create_backup(deployment.environment(), repo, workdir))
    backup_id = manifest.backup_id
    destroyed_at = clock()
    phase("destroy", deployment.destroy)
    phase("recreate", deployment.recreate)
    # A fresh deployment is not "empty" to every target (MLflow's server creates its schema on
    # start), and replacing the fresh contents is what this restore is for. The restored stores
    # are brought into service before the subjects erased since are erased again from them.
    phase(
        "restore",
        lambda: restore_backup(
            repo,
            deployment.environment(),
            workdir,
            manifest.backup_id,
            force=True,
            apply_tombstones=apply_tombstones,
            in_service=lambda _targets: phase("bring into service", deployment.after_restore),
        ),
    )
    after: Facts = phase("observe after", deployment.observe)
    verified_at = clock()
    found = differences(before, after)
    newest_s = after.newest_write_ms / 1000 if after.newest_write_ms else destroyed_at
    return DrillReport(
        deployment=deployment.name,
        backup_id=manifest.backup_id,
        started_at=_iso(started),
        passed=not found,
        rto_s=round(verified_at - destroyed_at, 3),
        rpo_s=round(max(0.0, destroyed_at - newest_s), 3),
        backup_age_s=round(max(0.0, destroyed_at - datetime.fromisoformat(manifest.started_at).timestamp()), 3),
        phases=phases,
        backup_bytes=manifest.size,
        checked=before.counts(),
        differences=found,
        goal_rto_s=goal_rto_s,
    )


_CSS = ".badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); }"


def _html(report: DrillReport) -> str:
    verdict = badge("verified", "ok") if report.passed else badge("differences found", "bad")
    goal = f"goal ≤ {report.goal_rto_s:.0f} s" if report.goal_rto_s is not None else ""
    body = [
        f"<h1>DR drill of {escape(report.deployment)} {verdict}</h1>",
        f"<p>Backup {escape(report.backup_id)}, started {escape(report.started_at)}.</p>",
        cards(
            [
                ("RTO", f"{report.rto_s:.1f} s", goal),
                ("RPO", f"{report.rpo_s:.1f} s", "age of the newest restored write"),
                ("backup age", f"{report.backup_age_s:.1f} s", "at the destruction"),
                ("backup", f"{report.backup_bytes / 1e6:.1f} MB", "all targets"),
            ]
        ),
        "<h2>Phases</h2>",
        table(["phase", "seconds"], [[escape(k), f"{v:.2f}"] for k, v in report.phases.items()], numeric=[1]),
        "<h2>Compared before and after</h2>",
        table(["fact", "count"], [[escape(k), str(v)] for k, v in report.checked.items()], numeric=[1]),
    ]
    if report.differences:
        body.append("<h2>Differences</h2><ul>" + "".join(f"<li>{escape(d)}</li>" for d in report.differences) + "</ul>")
    return page(f"DR drill {report.backup_id}", "\n".join(body), css=_CSS)


def write_report(report: DrillReport, folder: Path) -> tuple[Path, Path]:
    """``drill.json`` and ``drill.html`` in ``folder``; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "drill.json", folder / "drill.html"
    json_path.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    html_path.write_text(_html(report))
    return json_path, html_path


__all__ = ["Deployment", "DrillReport", "run_drill", "write_report"]
