"""Text: a generator of discrete token sequences, trained by policy gradient against D.

Yu, Zhang, Wang and Yu (2017), "SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient"
(AAAI 2017), sections 3 and 4. A sampled token cannot pass a gradient from D to the generator, so
the generator is a policy: the reward of a complete sequence is D's judgement of it, the value of
a partial sequence at step t is the mean reward of ``rollouts`` Monte-Carlo completions of it by the
generator itself (equation 4; the complete sequence's own reward at t = T), and the generator
follows REINFORCE (Williams 1992), the gradient of sum_t Q(Y_1:t-1, y_t) log G(y_t | Y_1:t-1)
(equation 6). Before the adversarial phase the generator is pre-trained by maximum likelihood
(``pretrain_steps``), and D against it in the last ``discriminator_pretrain_steps`` of those.

Kept: Monte-Carlo rollouts by the generator being trained (16), equation 6's per-token values, the
reward D(Y), D's probability that a sequence is real (``reward = "probability"``: the sigmoid of D's
score, whatever loss trained D), maximum-likelihood pre-training of G, then of D against it.
Departures: ``reward = "game"`` offers minus the loss plugin's generator loss of each score instead
(log D for the non-saturating game); the per-position batch mean of the values is subtracted as a
baseline (it leaves the expected gradient unchanged and lowers its variance; the paper uses none);
the rollout network is the generator itself (the paper's is a copy updated with a delay); the loss
is the mean over tokens (the paper sums), which Adam's step does not see.
"""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import Task

REWARDS = ("probability", "game")


class Text(Task):
    """Token sequences from noise: an LSTM policy trained against D by policy gradient (SeqGAN)."""

    name = "text"
    paper = ("Yu, L., Zhang, W., Wang, J. and Yu, Y. (2017). SeqGAN: Sequence Generative Adversarial Nets "
             "with Policy Gradient. AAAI 2017.")
    generator_input = "noise"
    needs = "samples"
    generator_update = "policy_gradient"
    data_kinds = ("tokens",)
    metrics = ("oracle_nll", "bleu")
    table = "Text (oracle LSTM)"
    defaults = {"pretrain_steps": 3000, "discriminator_pretrain_steps": 500, "rollouts": 16,
                "reward": "probability"}
    hparam_docs = {
        "reward": "probability: D's probability that a sequence is real, sigmoid of its score (the paper's); "
                  "game: minus the loss plugin's generator loss of the score (log D for the non-saturating game)",
        "pretrain_steps": "training steps whose generator update is maximum likelihood before the policy "
                          "gradient starts",
        "discriminator_pretrain_steps": "the last this-many pre-training steps also train D (n_critic updates "
                                        "each), which trains in every step after them",
        "rollouts": "Monte-Carlo completions of each partial sequence that estimate its value (16 in the paper)",
    }
    hparam_limits = {"pretrain_steps": {"low": 0}, "discriminator_pretrain_steps": {"low": 0},
                     "rollouts": {"low": 1}, "reward": {"choices": REWARDS}}

    def likelihood_step(self, step: int) -> bool:
        return step < int(self.hparams["pretrain_steps"])

    def trains_discriminator(self, step: int) -> bool:
        h = self.hparams
        return step >= int(h["pretrain_steps"]) - int(h["discriminator_pretrain_steps"])

    def reward(self, judge, generator_loss):
        """``x -> [N]``: D's probability that each sequence is real (the paper's reward), or minus the
        loss plugin's generator loss of its score (``reward = "game"``)."""
        if self.hparams["reward"] == "probability":
            return lambda x: torch.sigmoid(judge(x))
        return lambda x: -generator_loss(judge(x))

    def policy_objective(self, generator, samples, judge, generator_loss, rng):
        reward = self.reward(judge, generator_loss)
        batch, length = samples.shape
        rollouts = int(self.hparams["rollouts"])
        with torch.no_grad():
            # Row (n, b) of prefix t: the first t tokens of sequence b, completed by rollout n. One
            # prefix length at a time: the batches stay in cache (3x faster than all at once on a CPU).
            values = []
            for t in range(1, length):
                uniforms = torch.rand(rollouts * batch, length, generator=rng, device=rng.device).to(samples.device)
                completed = generator.rollout(samples, t, uniforms)
                values.append(reward(completed).view(rollouts, batch).mean(dim=0))
            values = torch.stack([*values, reward(samples)], dim=1)              # [B, L]: Q at each token
            advantage = values - values.mean(dim=0, keepdim=True)
        return -(generator.log_prob(samples) * advantage).mean()


@hookimpl
def ganbench_register_tasks(registry):
    registry.add(Text)
