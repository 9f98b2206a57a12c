"""BLEU-4 of generated sequences against the test split (quality) and against each other (self-BLEU).

BLEU: Papineni, Roukos, Ward and Zhu (2002), "BLEU: a Method for Automatic Evaluation of Machine
Translation": the geometric mean of the clipped 1- to 4-gram precisions of a sentence against a set
of references (a candidate n-gram counts at most as often as it appears in any one reference).
Self-BLEU: Zhu, Lu, Zheng, Guo, Zhang, Wang and Yu (2018), "Texygen: A Benchmarking Platform for Text
Generation Models" (SIGIR 2018): each generated sentence scored against the other generated ones;
higher self-BLEU is less diversity, a generator repeating itself scores near 1.

Both are the mean of sentence BLEU-4 over ``NUM_SAMPLES`` generated sequences, with torchmetrics'
sentence BLEU with ``smooth=True`` (add-one on the 2- to 4-gram precisions, Lin and Och 2004; a
sentence without any match of some order scores 0). The tests check every sentence's score against
``torchmetrics.functional.text.bleu_score``. It is computed here rather than by that function
because the references are shared: torchmetrics counts every reference's n-grams again for every
candidate (about 60 s for 200 candidates against 1,000 references on the 2-core CPU), where the
largest count of each n-gram over the references, taken once, is all clipping needs (and the two
largest, with the owner of the first, for self-BLEU's leave-one-out). Sequences are all of the
data's one length, so the brevity penalty is 1.
"""

from __future__ import annotations

import math
from collections import Counter

from ganbench import hookimpl
from ganbench.api import DataInfo, Metric, MetricValue

MAX_ORDER = 4
NUM_SAMPLES = 500


def ngram_counts(sequence: tuple[int, ...]) -> Counter:
    """Counts of every 1- to 4-gram of ``sequence``."""
    return Counter(sequence[i:i + n] for n in range(1, MAX_ORDER + 1) for i in range(len(sequence) - n + 1))


def reference_table(references) -> dict[tuple[int, ...], tuple[int, int, int]]:
    """n-gram -> (its largest count in one reference, that reference's index, the second largest count)."""
    table: dict[tuple[int, ...], tuple[int, int, int]] = {}
    for owner, sequence in enumerate(references):
        for gram, count in ngram_counts(sequence).items():
            best = table.get(gram)
            if best is None:
                table[gram] = (count, owner, 0)
            elif count > best[0]:
                table[gram] = (count, owner, best[0])
            elif count > best[2]:
                table[gram] = (best[0], best[1], count)
    return table


def sentence_bleu(candidate: tuple[int, ...], table, leave_out: int = -1) -> float:
    """Smoothed sentence BLEU-4 of ``candidate`` against the references of ``table``, without the
    reference of index ``leave_out`` (self-BLEU leaves the candidate itself out)."""
    matched, total = [0] * MAX_ORDER, [0] * MAX_ORDER
    for gram, count in ngram_counts(candidate).items():
        best = table.get(gram)
        clip = 0 if best is None else (best[2] if best[1] == leave_out else best[0])
        matched[len(gram) - 1] += min(count, clip)
        total[len(gram) - 1] += count
    if min(matched) == 0:
        return 0.0
    precisions = [matched[0] / total[0]] + [(m + 1) / (t + 1) for m, t in zip(matched[1:], total[1:])]
    return math.exp(sum(map(math.log, precisions)) / MAX_ORDER)


def as_sequences(tokens) -> list[tuple[int, ...]]:
    return [tuple(row) for row in tokens.long().tolist()]


class Bleu(Metric):
    """BLEU-4 against the test split (quality) and self-BLEU-4 (diversity: lower is more varied)."""

    name = "bleu"
    paper = ("Papineni, K. et al. (2002). BLEU: a Method for Automatic Evaluation of Machine Translation. ACL 2002; "
             "Zhu, Y. et al. (2018). Texygen: A Benchmarking Platform for Text Generation Models. SIGIR 2018.")
    mode_collapse = ("self_bleu_4",)

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        if data.kind != "tokens":
            return f"scores token sequences; {dataset_name} holds {data.kind}"
        return None

    def compute(self, ctx, split: str) -> list[MetricValue]:
        import statistics
        generated = as_sequences(ctx.sample(NUM_SAMPLES))
        references = reference_table(as_sequences(ctx.reference(split)[0]))
        own = reference_table(generated)
        quality = [sentence_bleu(s, references) for s in generated]
        repetition = [sentence_bleu(s, own, leave_out=i) for i, s in enumerate(generated)]
        return [MetricValue(name, statistics.fmean(scores), higher_is_better=higher, num_samples=NUM_SAMPLES,
                            reference_split=split if name == "bleu_4" else "", extractor="bleu-4-smoothed",
                            extra={"std": statistics.stdev(scores)})
                for name, scores, higher in (("bleu_4", quality, True), ("self_bleu_4", repetition, False))]


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(Bleu)
