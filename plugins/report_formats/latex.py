"""LaTeX report format: ``report.tex``, a standalone document of booktabs tables and figures."""

from __future__ import annotations

import os
import re

from ganbench import hookimpl
from ganbench.api import ReportFormat
from ganbench.report import BEST, TIE, write_figures
from ganbench.store import atomic_write_text

_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    # symbols our tables print, mapped so that pdflatex needs no unicode set-up
    "±": r"$\pm$", "≈": r"$\approx$", "–": "--", "−": r"$-$", "Δ": r"$\Delta$", "…": r"\ldots{}",
}
_PATTERN = re.compile("|".join(re.escape(k) for k in _SPECIAL))


def tex_escape(text: str) -> str:
    return _PATTERN.sub(lambda m: _SPECIAL[m.group(0)], " ".join(str(text).split()))


def _cell(cell) -> str:
    text = tex_escape(cell.text)
    if cell.mark == BEST:
        return rf"\textbf{{{text}}}"
    if cell.mark == TIE:
        return rf"$\approx$\,{text}"
    return text


def render_table(table) -> list[str]:
    spec = "".join("l" if c.kind == "text" else "r" for c in table.columns)
    out = [r"\begin{table}[htbp]", r"\centering", r"\small",
           rf"\caption{{{tex_escape(table.title)}}}",
           r"\resizebox{\linewidth}{!}{%",
           rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
           " & ".join(tex_escape(c.label) for c in table.columns) + r" \\", r"\midrule"]
    out += [" & ".join(_cell(c) for c in row) + r" \\" for row in table.rows]
    out += [r"\bottomrule", r"\end{tabular}}", r"\par\smallskip\footnotesize\raggedright"]
    out += [tex_escape(n) + r"\\" for n in table.notes]
    out.append(r"\textit{Provenance:} " + "; ".join(
        f"{tex_escape(k)}: {', '.join(tex_escape(v) for v in values)}" for k, values in table.provenance) + ".")
    out += [r"\end{table}", ""]
    return out


class Latex(ReportFormat):
    """A standalone LaTeX document (booktabs; \\textbf = best, $\\approx$ = within seed spread)."""

    name = "latex"
    extension = "tex"
    aliases = ("tex",)

    def render(self, report, out_dir: str) -> list[str]:
        paths = write_figures(report, out_dir)
        lines = [r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage[utf8]{inputenc}",
                 r"\usepackage{booktabs}", r"\usepackage{graphicx}",
                 r"\usepackage[margin=1.5cm,landscape]{geometry}", r"\begin{document}",
                 rf"\section*{{ganbench report ({tex_escape(report.ganbench_version)})}}", ""]
        for group in report.groups:
            lines += [rf"\subsection*{{{tex_escape(group.title)}}}", ""]
            for table in report.tables_of(group.id):
                lines += render_table(table)
            for fig in report.figures_of(group.id):
                lines += [r"\begin{figure}[htbp]", r"\centering",
                          rf"\includegraphics[width=0.9\linewidth,height=0.8\textheight,keepaspectratio]"
                          rf"{{figures/{fig.filename}}}",
                          rf"\caption{{{tex_escape(fig.title)}. {tex_escape(fig.caption)}}}",
                          r"\end{figure}", ""]
            lines.append(r"\clearpage")
        lines.append(r"\end{document}")
        path = os.path.join(out_dir, f"report.{self.extension}")
        atomic_write_text(path, "\n".join(lines) + "\n")
        return paths + [path]


@hookimpl
def ganbench_register_report_formats(registry):
    registry.add(Latex)
