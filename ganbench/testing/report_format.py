"""The contract every :class:`ganbench.api.ReportFormat` plugin must meet, as a pytest mixin::

    from ganbench.testing import ReportFormatContract

    class TestMyFormat(ReportFormatContract):
        plugin = MyFormat

The format renders a small report built the way ``ganbench report`` builds one (from run directories
in the stored format, written by :func:`write_tiny_results`), and an empty one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

from ganbench.testing.common import PluginContract, expect, make_host
from ganbench.testing.data import TinyPoints


def _metric(value: float, higher_is_better: bool, split: str = "test") -> dict[str, Any]:
    return {"value": value, "higher_is_better": higher_is_better, "num_samples": 64, "reference_split": split,
            "extractor": "", "extra": {}}


def write_run(root: str, *, arch: str, loss: str, dataset: str, seed: int, final: dict[str, dict],
              techniques: tuple[str, ...] = (), steps: int = 100) -> str:
    """One finished run directory (``spec.json``, ``result.json``, ``metrics.jsonl``) in the stored format."""
    variant = "-".join([arch, loss]) + "".join(f"+{t}" for t in techniques)
    name = f"{variant}-{dataset}-s{seed}"
    h = hashlib.sha256(name.encode()).hexdigest()[:12]
    path = os.path.join(root, "runs", f"{name}-{h}")
    os.makedirs(path)
    spec = {"schema": 1, "name": name, "hash": h, "variant": variant,
            "spec": {"arch": arch, "loss": loss, "techniques": list(techniques), "dataset": dataset, "seed": seed,
                     "budget": {"kind": "steps", "value": steps}, "hparams": {}, "metrics": sorted(final),
                     "eval_every": steps, "device": "cpu", "precision": "fp32", "study": "default"},
            "versions": {"ganbench": "0.1.0"}, "env": {}}
    result = {"schema": 1, "status": "completed", "steps": steps, "images_shown": steps * 64,
              "kimg": steps * 64 / 1000, "final": final, "selected": None,
              "throughput": {"train_images_per_second": 1000.0 + seed, "train_seconds": 1.0, "warmup_steps": 1},
              "peak_memory_bytes": 2 ** 20, "params": {"generator": 1000, "discriminator": 1000},
              "weights_hash": "0" * 16, "diverged_at": None, "error": None, "wall_seconds": 1.0}
    with open(os.path.join(path, "spec.json"), "w") as f:
        json.dump(spec, f)
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        for step in (steps // 2, steps):
            for metric, rec in final.items():
                f.write(json.dumps({"step": step, "kimg": step * 0.064, "split": "val", "name": metric, **rec,
                                    "reference_split": "val", "time": 1.0}) + "\n")
    with open(os.path.join(path, "result.json"), "w") as f:  # last: its presence means the run is over
        json.dump(result, f)
    return path


def write_tiny_results(root: str) -> str:
    """Two variants x two seeds on :class:`~ganbench.testing.data.TinyPoints`; returns ``root``."""
    for variant, (loss, base) in enumerate((("nonsaturating", 5.0), ("hinge", 6.0))):
        for seed in (0, 1):
            write_run(root, arch="mlp", loss=loss, dataset=TinyPoints.name, seed=seed,
                      final={"modes": _metric(base + seed + variant, True),
                             "hq_percent": _metric(50.0 + 10 * variant + seed, True)})
    return root


class ReportFormatContract(PluginContract):
    kind = "report_formats"
    requires_paper = False   # an output format has no paper

    def test_aliases_are_names(self):
        aliases = self.plugin_class().aliases
        expect(isinstance(aliases, tuple) and all(isinstance(a, str) and a for a in aliases),
               "`aliases` a tuple of non-empty strings", aliases)

    def report(self, root: str):
        from ganbench.report import build_report
        return build_report(root, host=make_host(TinyPoints, name="tiny_data"), figures=False)

    def render(self, report, out_dir: str) -> list[str]:
        os.makedirs(out_dir, exist_ok=True)
        return self.plugin_class()().render(report, out_dir)

    def test_extension_is_declared(self):
        ext = self.plugin_class().extension
        expect(isinstance(ext, str) and re.match(r"^[a-z0-9]+$", ext), "`extension` like 'md' (no dot)", ext)

    def test_renders_files_under_out_dir(self, tmp_path):
        report = self.report(write_tiny_results(str(tmp_path / "results")))
        out = str(tmp_path / "out")
        paths = self.render(report, out)
        expect(isinstance(paths, list) and paths, "a non-empty list of the paths written", paths)
        for p in paths:
            expect(os.path.isfile(p) and os.path.getsize(p) > 0, "every returned path to be a non-empty file", p)
            expect(os.path.realpath(p).startswith(os.path.realpath(out) + os.sep), f"paths under {out}", p)
        ext = "." + self.plugin_class().extension
        expect(any(p.endswith(ext) for p in paths), f"at least one file ending in {ext!r}", paths)

    def test_rendering_is_byte_for_byte_repeatable(self, tmp_path):
        # Deleting results/leaderboard/ and reporting again must rebuild it byte for byte.
        report = self.report(write_tiny_results(str(tmp_path / "results")))
        contents = []
        for out in ("a", "b"):
            paths = self.render(report, str(tmp_path / out))
            contents.append({os.path.relpath(p, tmp_path / out): open(p, "rb").read() for p in paths})
        expect(contents[0] == contents[1], "the same files with the same bytes from two renders",
               sorted(contents[0]) if contents[0].keys() != contents[1].keys() else "differing bytes")

    def test_renders_an_empty_report(self, tmp_path):
        os.makedirs(tmp_path / "results" / "runs")
        paths = self.render(self.report(str(tmp_path / "results")), str(tmp_path / "out"))
        expect(isinstance(paths, list), "a list of paths for a report with no runs", paths)
