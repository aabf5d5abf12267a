"""The self-contained HTML report of a run (`lamdagent report DIR`)."""

from lamdagent.report.html import REPORT_FILE, render_report, write_report

__all__ = ["REPORT_FILE", "render_report", "write_report"]
