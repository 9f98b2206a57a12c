"""Markdown report format: GitHub tables, one ``report.md`` plus the figures it links to."""

from __future__ import annotations

import os
import re

from ganbench import hookimpl
from ganbench.api import ReportFormat
from ganbench.report import BEST, TIE, write_figures
from ganbench.store import atomic_write_text


def md_escape(text: str) -> str:
    """Make any string inert inside a GitHub table cell: no HTML, links, emphasis or column breaks."""
    text = " ".join(str(text).split())
    text = re.sub(r"([\\`*\[\]<>|!#~])", r"\\\1", text)
    # an underscore between letters never starts emphasis in GitHub markdown: leave snake_case readable
    return re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)


def _cell(cell) -> str:
    text = md_escape(cell.text)
    if cell.mark == BEST:
        return f"**{text}**"
    if cell.mark == TIE:
        return f"≈ {text}"
    return text


def render_table(table) -> list[str]:
    out = [f"### {md_escape(table.title)}", ""]
    out.append("| " + " | ".join(md_escape(c.label) for c in table.columns) + " |")
    out.append("|" + "|".join(":---" if c.kind == "text" else "---:" for c in table.columns) + "|")
    for row in table.rows:
        out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    out.append("")
    out += [f"- {md_escape(n)}" for n in table.notes]
    out += ["", "Provenance:", ""]
    out += [f"- {md_escape(k)}: " + "; ".join(md_escape(v) for v in values) for k, values in table.provenance]
    out.append("")
    return out


class Markdown(ReportFormat):
    """GitHub-flavoured markdown tables (bold = best, ≈ = within seed spread), figures linked as PNG."""

    name = "markdown"
    extension = "md"
    aliases = ("md",)

    def render(self, report, out_dir: str) -> list[str]:
        paths = write_figures(report, out_dir)
        lines = ["# ganbench report", "",
                 f"ganbench {md_escape(report.ganbench_version)}: {report.runs} run(s) read, "
                 f"{len(report.incomplete)} incomplete, {len(report.problems)} problem(s).", ""]
        for group in report.groups:
            lines += [f"## {md_escape(group.title)}", ""]
            for table in report.tables_of(group.id):
                lines += render_table(table)
            for fig in report.figures_of(group.id):
                lines += [f"#### {md_escape(fig.title)}", "",
                          f"![{md_escape(fig.title)}](figures/{fig.filename})", "", md_escape(fig.caption), ""]
        if report.metrics:
            lines += ["## Metrics", ""]
            lines += [f"- **{md_escape(', '.join(m.values))}** ({md_escape(m.metric)}): {md_escape(m.description)}"
                      + (f" {md_escape(m.paper)}" if m.paper else "") for m in report.metrics]
            lines.append("")
        if report.incomplete or report.problems:
            lines += ["## Collection", ""]
            lines += [f"- incomplete (no result.json): {md_escape(n)}" for n in report.incomplete]
            lines += [f"- problem: {md_escape(p)}" for p in report.problems]
            lines.append("")
        path = os.path.join(out_dir, f"report.{self.extension}")
        atomic_write_text(path, "\n".join(lines).rstrip("\n") + "\n")
        return paths + [path]


@hookimpl
def ganbench_register_report_formats(registry):
    registry.add(Markdown)
