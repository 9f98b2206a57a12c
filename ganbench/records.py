"""What one training run writes into its run directory, and reads back when it resumes.

:class:`RunRecords` is the run directory's side of ``runner._Run`` (the loop and budget) and
``evaluation.RunEvaluation`` (evaluation and checkpoint selection): the JSONL logs, the checkpoint
and ``best.pt`` (each stamped with the run's spec hash and refused when another run wrote it), the
samples the final metrics saw and the sample grids. Every write is atomic (:mod:`ganbench.store`);
the file layout is described there.
"""

from __future__ import annotations

import io
import sys
from typing import Any

import torch

from ganbench import store
from ganbench.api import DataInfo, MetricValue


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


class RunRecords:
    """The records of the run whose spec hash is ``spec_hash``, in ``rd``; ``name`` names it in logs."""

    def __init__(self, rd: store.RunDir, spec_hash: str, name: str):
        self.rd = rd
        self.spec_hash = spec_hash
        self.name = name

    # -- logs ----------------------------------------------------------------------------------
    def log_metrics(self, values: list[MetricValue], split: str, step: int, kimg: float, seconds: float) -> None:
        for v in values:
            store.append_jsonl(self.rd.file(store.METRICS), {
                "step": step, "kimg": kimg, "split": split, "name": v.name,
                "value": v.value, "higher_is_better": v.higher_is_better, "num_samples": v.num_samples,
                "reference_split": v.reference_split, "extractor": v.extractor, "extra": v.extra,
                "time": round(seconds, 3)})

    def log_stats(self, step: int, kimg: float, loss_d: float, loss_g: float, seconds: float, images: int) -> None:
        store.append_jsonl(self.rd.file(store.STATS), {
            "step": step, "kimg": kimg, "loss_d": loss_d, "loss_g": loss_g, "time": round(seconds, 3),
            "images_per_second": images / seconds if seconds else None})

    def start_over(self) -> None:
        """Nothing logged so far counts: the run trains from its first step."""
        for name in (store.METRICS, store.STATS, store.BEST):
            self.rd.file(name).unlink(missing_ok=True)

    def rewind(self, step: int) -> None:
        """Keep what the logs held at ``step``, a checkpoint's. Test-split lines are dropped: the
        run's end logs them, and the resumed run reaches it again."""
        store.truncate_jsonl(self.rd.file(store.METRICS), step, drop_split="test")
        store.truncate_jsonl(self.rd.file(store.STATS), step)

    def save_error(self, traceback_text: str) -> None:
        store.atomic_write_bytes(self.rd.file("error.txt"), traceback_text.encode())

    # -- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self, state: dict[str, Any]) -> None:
        store.atomic_torch_save(self.rd.file(store.CHECKPOINT), {"spec_hash": self.spec_hash, **state})

    def read_checkpoint(self) -> dict[str, Any]:
        """``checkpoint.pt`` as saved (under ``--ddp``, the ranks read what rank 0 resumed from)."""
        return store.torch_load(self.rd.file(store.CHECKPOINT))

    def own_checkpoint(self) -> dict[str, Any] | None:
        """``checkpoint.pt`` if this run saved it. One saved by another run (copied over), or one that
        cannot be read, is set aside with one line: resuming from it would give numbers that match no
        run, and training from scratch gives the right ones."""
        path = self.rd.file(store.CHECKPOINT)
        if not path.exists():
            return None
        why = None
        try:
            state = store.torch_load(path)
            found = state.get("spec_hash") if isinstance(state, dict) else None
            if found is None:
                why = "it records no spec hash (an older ganbench, or not a ganbench checkpoint)"
            elif found != self.spec_hash:
                why = f"it was saved by another run (spec hash {str(found)[:12]}, this run {self.spec_hash[:12]})"
            elif state["best"] is not None:
                self.best_generator()  # the run's end reads best.pt: it must be this run's too
        except Exception as exc:  # noqa: BLE001 - whatever makes it unusable, starting again is right
            why = f"it cannot be used ({_describe(exc)})"
        if why is None:
            return state
        moved = self.rd.set_aside(store.CHECKPOINT, "rejected")
        print(f"{path}: not resumed, {why}; set aside as {moved.name}; {self.name} trains from scratch",
              file=sys.stderr, flush=True)
        return None

    def save_best(self, step: int, generator_state: dict[str, torch.Tensor]) -> None:
        store.atomic_torch_save(self.rd.file(store.BEST), {
            "spec_hash": self.spec_hash, "step": step, "generator": generator_state})

    def best_generator(self) -> dict[str, torch.Tensor]:
        """The weights in ``best.pt``; refused if they were saved by another run."""
        state = store.torch_load(self.rd.file(store.BEST))
        if not isinstance(state, dict) or state.get("spec_hash") != self.spec_hash:
            raise RuntimeError(f"{self.rd.file(store.BEST)} was not saved by this run")
        return state["generator"]

    # -- samples -------------------------------------------------------------------------------
    def save_samples(self, drawn: tuple[torch.Tensor, torch.Tensor | None], data: DataInfo,
                     pairs: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        """``samples.npz``: the samples the final metrics saw (images as 8-bit, points as float32), and,
        for a task that gives the generator an input, ``inputs`` and ``targets``: the i-th sample's input
        and target (8-bit), so its pixel scores can be recomputed from the file and its figure drawn."""
        import numpy as np

        def as_uint8(images: torch.Tensor) -> np.ndarray:
            return ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()

        x, y = drawn
        arrays = {"samples": x.numpy().astype("float32")} if not data.is_image else {"samples": as_uint8(x)}
        if y is not None:
            arrays["labels"] = y.numpy()
        if pairs is not None:
            arrays["inputs"], arrays["targets"] = as_uint8(pairs[0]), as_uint8(pairs[1])
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        store.atomic_write_bytes(self.rd.file("samples.npz"), buffer.getvalue())

    def save_grid(self, images: torch.Tensor, name: str) -> None:
        """An 8x8 grid of the first 64 of ``images`` (in [-1, 1]) as the PNG ``name``."""
        import torchvision.utils
        grid = torchvision.utils.make_grid(images[:64], nrow=8, normalize=True, value_range=(-1, 1))
        buffer = io.BytesIO()
        torchvision.utils.save_image(grid, buffer, format="png")
        store.atomic_write_bytes(self.rd.file(name), buffer.getvalue())
