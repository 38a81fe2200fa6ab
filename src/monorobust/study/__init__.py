"""``monorobust study``: the claims across probe protocols x data regimes x noise types x seeds,
on the features of a finished run (see ``runner``)."""

from monorobust.rundir import StudyRow
from monorobust.study.config import StudyConfig
from monorobust.study.runner import run_study, study_table

__all__ = ["StudyConfig", "StudyRow", "run_study", "study_table"]
