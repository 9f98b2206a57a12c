"""HTML report format: ONE self-contained ``report.html``.

Everything is inline (CSS, a small sorting script, figures as base64 PNG) and a Content-Security-Policy
forbids any fetch, so the page works offline, from an e-mail attachment or a CI artifact. Every string
that comes from runs or plugins is HTML-escaped: run directories and plugin names are not trusted.
"""

from __future__ import annotations

import base64
import html
import math
import os

from ganbench import hookimpl
from ganbench.api import ReportFormat
from ganbench.report import BEST, TIE
from ganbench.store import atomic_write_text

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { margin-top: 1.5em; }
table.sortable { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
table.sortable th, table.sortable td { padding: 0.25em 0.6em; border-bottom: 1px solid #e3e3e3; }
table.sortable th { cursor: pointer; background: #f4f4f4; border-bottom: 2px solid #999; white-space: nowrap;
  user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { font-weight: bold; background: #e6f4ea; }
td.tie { font-style: italic; background: #f5faf6; }
ul.notes, ul.prov { font-size: 0.8em; color: #555; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
.problems li { color: #a33; }
"""

# Sorting: numbers by data-sort (the raw mean), text otherwise; cells without a value stay last in both
# directions; the original row order breaks ties so a sort is stable and repeatable. When done it marks
# <body data-sort-ready="N">, and after load data-figures-shown="decoded/total": the headless-browser
# test reads both to know the script ran without error and every embedded PNG decoded.
SCRIPT = """
(function () {
  "use strict";
  function num(td) {
    var v = td.getAttribute("data-sort");
    return v === null ? null : parseFloat(v);
  }
  function sortTable(table, idx, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    rows.sort(function (a, b) {
      var x = a.cells[idx], y = b.cells[idx], kx = num(x), ky = num(y), r;
      if (kx !== null && ky !== null) { r = kx - ky; }
      else if (kx !== null) { return -1; }
      else if (ky !== null) { return 1; }
      else { r = x.textContent.localeCompare(y.textContent); }
      if (!asc) { r = -r; }
      return r !== 0 ? r : (+a.getAttribute("data-order")) - (+b.getAttribute("data-order"));
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    rows.forEach(function (row) { body.appendChild(row); });
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row, i) { row.setAttribute("data-order", i); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, idx) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortTable(table, idx, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sortTable(table, idx, th); } });
    });
  });
  if (location.hash === "#sort-check" && tables.length) {
    // self-check for the headless test: sort the first table by its second column, ascending
    var t = tables[0], th = t.tHead.rows[0].cells[1];
    th.click();
    var keys = Array.prototype.map.call(t.tBodies[0].rows, function (r) { return num(r.cells[1]); })
      .filter(function (k) { return k !== null; });
    var ok = keys.every(function (k, i) { return i === 0 || keys[i - 1] <= k; });
    document.body.setAttribute("data-sort-check", ok ? "ok" : "unsorted");
  }
  document.body.setAttribute("data-sort-ready", String(tables.length));
  window.addEventListener("load", function () {
    var imgs = document.images, shown = 0;
    Array.prototype.forEach.call(imgs, function (im) { if (im.complete && im.naturalWidth > 0) { shown += 1; } });
    document.body.setAttribute("data-figures-shown", shown + "/" + imgs.length);
  });
})();
"""


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def _td(col, cell) -> str:
    classes = ["num"] if col.kind != "text" else []
    attrs = ""
    if cell.value is not None and math.isfinite(cell.value):
        attrs += f' data-sort="{esc(repr(float(cell.value)))}"'
    body = esc(cell.text)
    if cell.mark == BEST:
        classes.append("best")
        attrs += ' title="best in column"'
    elif cell.mark == TIE:
        classes.append("tie")
        body = "≈ " + body
        attrs += ' title="within seed spread of the best"'
    cls = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{cls}{attrs}>{body}</td>"


def render_table(table) -> list[str]:
    out = [f'<h3 id="{esc(table.id)}">{esc(table.title)}</h3>',
           f'<table class="sortable" data-table="{esc(table.id)}">', "<thead><tr>"]
    out += [f'<th scope="col" aria-sort="none" data-key="{esc(c.key)}">{esc(c.label)}</th>' for c in table.columns]
    out += ["</tr></thead>", "<tbody>"]
    for row in table.rows:
        out.append("<tr>" + "".join(_td(c, cell) for c, cell in zip(table.columns, row)) + "</tr>")
    out += ["</tbody>", "</table>", '<ul class="notes">']
    out += [f"<li>{esc(n)}</li>" for n in table.notes]
    out += ["</ul>", '<ul class="prov">']
    out += [f"<li><b>{esc(k)}</b>: {'; '.join(esc(v) for v in values)}</li>" for k, values in table.provenance]
    out.append("</ul>")
    return out


class Html(ReportFormat):
    """One self-contained HTML page: sortable tables, embedded figures, no network requests."""

    name = "html"
    extension = "html"

    def render(self, report, out_dir: str) -> list[str]:
        title = f"ganbench report ({report.ganbench_version})"
        out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
               f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
               '<meta name="viewport" content="width=device-width, initial-scale=1">',
               f"<title>{esc(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
               f"<h1>{esc(title)}</h1>",
               f"<p>{report.runs} run(s) read, {len(report.incomplete)} incomplete, "
               f"{len(report.problems)} problem(s).</p>"]
        if report.groups:
            out.append("<nav><ul>")
            out += [f'<li><a href="#{esc(g.id)}">{esc(g.title)}</a></li>' for g in report.groups]
            out.append("</ul></nav>")
        for group in report.groups:
            out += [f'<section id="{esc(group.id)}">', f"<h2>{esc(group.title)}</h2>"]
            for table in report.tables_of(group.id):
                out += render_table(table)
            for fig in report.figures_of(group.id):
                data = base64.b64encode(fig.png).decode("ascii")
                out += [f'<figure id="{esc(fig.id)}">',
                        f'<img src="data:image/png;base64,{data}" alt="{esc(fig.title)}">',
                        f"<figcaption><b>{esc(fig.title)}.</b> {esc(fig.caption)}</figcaption>", "</figure>"]
            out.append("</section>")
        if report.metrics:
            out += ['<section id="metrics">', "<h2>Metrics</h2>", '<ul class="metrics">']
            out += [f"<li><b>{esc(', '.join(m.values))}</b> ({esc(m.metric)}): {esc(m.description)}"
                    + (f" <i>{esc(m.paper)}</i>" if m.paper else "") + "</li>" for m in report.metrics]
            out += ["</ul>", "</section>"]
        if report.incomplete or report.problems:
            out += ['<section id="collection">', "<h2>Collection</h2>", '<ul class="problems">']
            out += [f"<li>incomplete (no result.json): {esc(n)}</li>" for n in report.incomplete]
            out += [f"<li>{esc(p)}</li>" for p in report.problems]
            out += ["</ul>", "</section>"]
        out += [f"<script>{SCRIPT}</script>", "</body>", "</html>"]
        path = os.path.join(out_dir, f"report.{self.extension}")
        atomic_write_text(path, "\n".join(out) + "\n")
        return [path]


@hookimpl
def ganbench_register_report_formats(registry):
    registry.add(Html)
