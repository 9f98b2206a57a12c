"""Technique plugin: a differentially private discriminator (DPGAN, trained with DP-SGD through Opacus).

Xie, Lin, Wang, Wang and Zhou (2018), "Differentially Private Generative Adversarial Network"
(arXiv:1802.06739), with the DP-SGD of Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar and Zhang
(2016), "Deep Learning with Differential Privacy", ACM CCS.

Only the discriminator reads the training data, so only its updates are privatised; the generator is
trained on D's scores of fakes and inherits D's guarantee by post-processing (DPGAN's argument).
Each D update (``n_critic`` per training step) is one DP-SGD step:

1. per-sample gradients of D's loss (Opacus' ``GradSampleModule``). D scores a real batch and a fake
   batch of the same size, so "sample" i is the pair (real_i, fake_i): its gradient is that of
   ``l_real(x_i) + l_fake(G(z_i))``, as in DPGAN's Algorithm 1, where each gradient is taken on one
   pair (x_i, z_i);
2. each pair's gradient clipped to L2 norm ``dp_max_grad_norm`` (C), summed, Gaussian noise of
   standard deviation ``dp_noise_multiplier * C`` added, divided by the batch size (Opacus'
   ``DPOptimizer``, wrapping the loss's own optimiser, Adam for most losses: post-processing of the
   noisy gradient, so the optimiser costs no privacy);
3. the privacy spent tracked by Opacus' ``RDPAccountant`` (Mironov 2017, Rényi DP), stepped once per
   D update with sample rate q = batch_size / len(train split); ε for ``dp_delta`` is reported.

Hyperparameters: ``dp_noise_multiplier`` σ (default 1), ``dp_max_grad_norm`` C (default 1), ``dp_delta``
δ (default 1e-5, as in Abadi et al.'s MNIST experiments; keep it below 1 / len(train split)). σ = 1
and C = 1 are a middle setting, not a number from either paper. Noise is drawn from the run's
technique stream (``ctx.rng``), so runs reproduce and resume bit-identically; ε and δ are recorded in
``result.json`` (``technique_values``: ``dp_epsilon``, ``dp_delta``). σ = 0 clips without noise: ε = ∞.

Departures, named:

* **Sampling.** The RDP accountant assumes Poisson subsampling: each step includes every training
  sample independently with probability q, so batch sizes vary. ganbench draws fixed-size batches
  from a seeded random permutation per epoch (shuffling without replacement; the n mod batch_size
  samples left over in an epoch are not seen in it). The reported ε is therefore the number Opacus'
  accountant gives for Poisson sampling at the same q: the convention of most DP-SGD code, but not a
  proven bound for the sampling actually done (shuffled batches can leak more than the Poisson
  analysis says: Chua et al. 2024, "How Private are DP-SGD Implementations?", ICML).
* **Gradient bound.** DPGAN bounds D's gradient through WGAN weight clipping; here it is bounded by
  explicit per-sample clipping (Abadi et al.), for any loss.
* **BatchNorm.** A batch-normalised D has no per-sample gradient (each score reads its batch). As
  Opacus recommends, its ``ModuleValidator.fix`` replaces each BatchNorm of D with GroupNorm (at most 32
  groups, freshly initialised) before training: a dcgan run under dp_sgd trains that D, not DCGAN's.
* **In-place activations** of D (DCGAN's ``LeakyReLU(inplace=True)``) are made out of place: the same
  values, but autograd forbids in-place writes into the output of a layer Opacus hooks.
* **Adjacency.** Per-sample clipping bounds one pair's contribution, so the guarantee is for adding or
  removing one real sample with its paired fake (the accountant's add/remove neighbouring datasets).
* **Labels.** A conditional D scores fakes of the real batch's classes, inside pair i's clipped
  gradient. With ``reuse_fake_for_generator`` the generator step reuses those fakes, so G's update
  reads the real labels directly: not covered by ε (the option is off by default).
* **Not secure against floating-point attacks** (Opacus' ``secure_mode`` is off; Mironov 2012).

Refused when the matrix is expanded (:meth:`supports`): losses that declare ``double_backward`` (a
gradient penalty: Opacus' hooks cannot follow it) or ``needs_real_for_generator`` (G's loss would read
D's scores of real data, outside the privatised update); architectures whose D is
``discriminator_parametrized`` (spectral norm), has a ``discriminator_minibatch_layer``, or has an
``auxiliary_head`` (InfoGAN's Q also trains D's body in the generator step). Combinations with other
techniques are not checked (``supports`` sees no other technique): techniques that mix a batch in D
(minibatch_discrimination, minibatch_stddev, pacgan), copy D's optimiser (unrolled), add a
parameter-only D term (historical_averaging, whose term Opacus' per-sample gradients drop) or read
real data in the generator step (feature_matching) break the guarantee or the run; do not stack them.
Runs with techniques are never vectorised over seeds, so that path is not a concern.
"""

from __future__ import annotations

import importlib.util

from ganbench import hookimpl
from ganbench.api import Technique

INSTALL_HINT = "needs Opacus: pip install 'ganbench[dp]'"


def opacus_missing() -> str | None:
    """``None`` if Opacus is installed, else the one line saying how to install it. Looked up, not
    imported: importing Opacus takes seconds, and the matrix is expanded before anything trains."""
    try:
        found = importlib.util.find_spec("opacus") is not None  # None also when blocked in sys.modules
    except (ImportError, ValueError):
        found = False
    return None if found else INSTALL_HINT


class DPSGD(Technique):
    """DPGAN: a differentially private discriminator, per-sample clipped and noised (DP-SGD, Opacus)."""

    name = "dp_sgd"
    paper = ("Xie, Lin, Wang, Wang, Zhou (2018). Differentially Private Generative Adversarial Network. "
             "arXiv:1802.06739. / Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar, Zhang (2016). "
             "Deep Learning with Differential Privacy. ACM CCS.")
    defaults = {"dp_noise_multiplier": 1.0, "dp_max_grad_norm": 1.0, "dp_delta": 1e-5}
    hparam_docs = {
        "dp_noise_multiplier": "Gaussian noise std per D update, in units of dp_max_grad_norm (0: clipping only, ε = ∞)",
        "dp_max_grad_norm": "L2 norm each (real, fake) pair's D gradient is clipped to",
        "dp_delta": "δ of the (ε, δ) guarantee reported; keep it below 1 / train samples",
    }
    hparam_limits = {
        "dp_noise_multiplier": {"low": 0},
        "dp_max_grad_norm": {"low": 0, "low_open": True},
        "dp_delta": {"low": 0, "high": 1, "low_open": True, "high_open": True},
    }
    reports = {
        "dp_epsilon": "ε spent by the discriminator's DP-SGD updates (Opacus RDP accountant, Poisson-sampling "
                      "analysis at q = batch_size / train samples; see dp_sgd's docstring)",
        "dp_delta": "δ of the reported (ε, δ)",
    }

    @classmethod
    def supports(cls, architecture, loss, data):
        missing = opacus_missing()
        if missing:
            return missing
        if loss.double_backward:
            return f"{loss.name}'s penalty needs a double backward pass, which Opacus' per-sample gradients cannot follow"
        if loss.needs_real_for_generator:
            return f"{loss.name}'s generator loss reads D's scores of real data, outside the private D update"
        if architecture.discriminator_parametrized:
            return f"{architecture.name}'s D has parametrized weights (spectral norm), which Opacus cannot take"
        if architecture.discriminator_minibatch_layer:
            return f"{architecture.name}'s D mixes the samples of a batch: there is no per-sample gradient"
        if architecture.auxiliary_head:
            return f"{architecture.name}'s auxiliary head trains D in the generator step, outside the private update"
        return None

    def __init__(self, hparams):
        super().__init__(hparams)
        self.per_sample = None  # D behind Opacus' GradSampleModule, set by wrap_discriminator
        missing = opacus_missing()
        if missing:
            raise RuntimeError(f"dp_sgd {missing}")
        from opacus.accountants import RDPAccountant
        self.accountant = RDPAccountant()

    def wrap_discriminator(self, discriminator, data):
        from opacus import GradSampleModule
        from opacus.validators import ModuleValidator
        # BatchNorm -> GroupNorm, Opacus' own fix (module docstring); strict=True then refuses anything
        # else Opacus cannot compute per-sample gradients for, before the first step.
        fixed = ModuleValidator.fix(discriminator)
        for module in fixed.modules():
            # Autograd forbids writing in place into the output of a hooked layer (DCGAN's
            # LeakyReLU(inplace=True) after a convolution); out of place computes the same values.
            if getattr(module, "inplace", False) is True:
                module.inplace = False
        self.per_sample = GradSampleModule(fixed, batch_first=True, loss_reduction="mean", strict=True)
        return self.per_sample

    def discriminator_fakes(self, fake, labels, ctx):
        # Called at the start of every D update, before D scores anything: collect per-sample gradients.
        self.per_sample.enable_hooks()
        return fake, labels

    def discriminator_for_generator_step(self, ctx):
        # The generator step back-propagates through D into G only: per-sample gradients of D there
        # would be discarded by the next D update's zero_grad (about 15% of a DCGAN step). Were the
        # hooks ever left off in a D update, DPOptimizer would fail loudly for want of them.
        self.per_sample.disable_hooks()
        return None

    def wrap_discriminator_optimizer(self, optimizer, discriminator, rng, train_size):
        from opacus.optimizers import DPOptimizer
        batch_size = int(self.hparams["batch_size"])
        dp = DPOptimizer(optimizer, noise_multiplier=float(self.hparams["dp_noise_multiplier"]),
                         max_grad_norm=float(self.hparams["dp_max_grad_norm"]), expected_batch_size=batch_size,
                         loss_reduction="mean", generator=rng)
        # ganbench's batches hold batch_size of the train samples (module docstring: not Poisson).
        dp.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=min(1.0, batch_size / train_size)))
        return dp

    def reported_values(self):
        delta = float(self.hparams["dp_delta"])
        return {"dp_epsilon": float(self.accountant.get_epsilon(delta)), "dp_delta": delta}

    def state_dict(self):
        # The accountant's history [(σ, q, steps)]: ε after resuming is the uninterrupted run's.
        return {"accountant": dict(self.accountant.state_dict())}

    def load_state_dict(self, state):
        self.accountant.load_state_dict(state["accountant"])


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(DPSGD)
