"""JSON report format: the whole report in one ``report.json`` (schema 1)."""

from __future__ import annotations

import json
import math
import os

from ganbench import hookimpl
from ganbench.api import ReportFormat
from ganbench.report import write_figures
from ganbench.store import atomic_write_text


def _finite(obj):
    # JSON has no NaN/Infinity; strict readers (browsers, jq) reject them
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


class Json(ReportFormat):
    """{"schema": 1, "ganbench_version", "collection", "groups", "tables", "figures"} in report.json."""

    name = "json"
    extension = "json"

    def render(self, report, out_dir: str) -> list[str]:
        paths = write_figures(report, out_dir)  # the "file" entries of "figures" point at these
        path = os.path.join(out_dir, f"report.{self.extension}")
        text = json.dumps(_finite(report.to_dict()), indent=2, ensure_ascii=False, allow_nan=False)
        atomic_write_text(path, text + "\n")
        return paths + [path]


@hookimpl
def ganbench_register_report_formats(registry):
    registry.add(Json)
