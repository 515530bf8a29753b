"""From run directories to the paper's tables and figures (``scale-report``).

Modules: ``runs`` (run dirs read through ``scale.rundir``), ``identity`` (method, setting,
dataset of a run from its config), ``cells`` (runs grouped into table cells, incompatible
ones refused), ``stats`` (paired bootstrap comparisons), ``tables`` (Markdown / LaTeX / CSV),
``shapes`` (Tables 1-3 and the comparisons), ``paper`` (the paper's own numbers),
``plots`` (matplotlib figures), ``make`` (all of it: :func:`make_report`).
"""

from scale.report.make import Report, make_report

__all__ = ["Report", "make_report"]
