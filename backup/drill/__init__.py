"""The disaster-recovery drill: what a restore must give back (:mod:`.facts`) and the phases that
back up, destroy, restore and verify a deployment, timed (:mod:`.run`)."""

from backup.drill.facts import Facts, differences, observe
from backup.drill.run import Deployment, DrillReport, run_drill, write_report

__all__ = ["Deployment", "DrillReport", "Facts", "differences", "observe", "run_drill", "write_report"]
