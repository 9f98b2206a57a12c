"""NLL-oracle: the negative log-likelihood of generated sequences under the data's true distribution.

Yu, Zhang, Wang and Yu (2017), "SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient",
section 5, equation 14: NLL_oracle = -E_{Y ~ G} [sum_t log G_oracle(y_t | Y_1:t-1)], estimated on
generated sequences and reported per token (the paper's code divides by the sequence length). It
rewards samples the oracle finds likely, so a generator that collapses onto its most likely
sequences scores well: read it beside a diversity measure (``bleu``'s self-BLEU). The real-data row
scores the oracle's own samples, its entropy rate.
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import DataInfo, Metric, MetricValue

NUM_SAMPLES = 2000


class OracleNLL(Metric):
    """NLL-oracle per token: how likely the data's true distribution finds the generated sequences."""

    name = "oracle_nll"
    paper = ("Yu, L., Zhang, W., Wang, J. and Yu, Y. (2017). SeqGAN: Sequence Generative Adversarial Nets "
             "with Policy Gradient. AAAI 2017 (equation 14).")
    ranks = {"oracle_nll": 0}

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        if not data.exact_likelihood:
            return f"needs data of a known distribution (DataInfo.exact_likelihood); {dataset_name} declares none"
        return None

    def compute(self, ctx, split: str) -> list[MetricValue]:
        samples = ctx.sample(NUM_SAMPLES)
        per_token = -ctx.dataset.log_likelihood(samples).double() / samples.shape[1]
        return [MetricValue("oracle_nll", float(per_token.mean()), higher_is_better=False, num_samples=NUM_SAMPLES,
                            reference_split="", extractor=f"{ctx.dataset.name}-oracle",
                            extra={"std": float(per_token.std())})]


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(OracleNLL)
