"""The report of a run folder: figures, tables, verdicts per claim and a feature gallery.

    from monorobust.report import write_report
    paths = write_report("runs/quick")      # report.html, report.md, figures/*.png|svg

Modules: ``load`` (run folder -> RunData), ``verdicts`` (claims from numbers), ``figures``,
``gallery``, ``perclass`` (matplotlib figures), ``tables``, ``sections``, ``render`` (HTML and
Markdown), ``build`` (writes the files).
"""

from monorobust.report.build import ReportPaths, build_sections, write_report
from monorobust.report.load import RunData, load_run

__all__ = ["ReportPaths", "RunData", "build_sections", "load_run", "write_report"]
