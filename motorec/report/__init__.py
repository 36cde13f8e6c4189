"""`motorec report`: a self-contained HTML report of a store (code usage, versions, churn, quality)."""

from motorec.report.build import SECTIONS, build_report

__all__ = ["SECTIONS", "build_report"]
