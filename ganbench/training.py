"""The GAN training step: how an architecture, a loss and techniques meet.

One :class:`Trainer` owns G, D, their optimisers and every random stream of a run. ``step()`` performs
``n_critic`` discriminator updates and one generator update. Its whole state (weights, optimisers,
random streams, batch counter, technique state) round-trips through ``state_dict`` so that a resumed
run continues bit-identically on the CPU.

The generator update back-propagates into the generator's parameters only (``backward(inputs=...)``):
the discriminator's weight gradients of that pass were never used (the next discriminator update
clears them), and skipping them is bit-identical for G and saves part of D's backward pass.

Protocol option ``penalty_every`` (hparam, default 1): lazy regularisation (Karras, Laine, Aittala,
Hellsten, Lehtinen and Aila 2020, "Analyzing and Improving the Image Quality of StyleGAN", section 4.1
and appendix B): the loss's penalty is computed only in training steps whose index is a multiple of k,
and multiplied by k there, so its average weight is unchanged while its cost (a double backward pass
for R1 and gradient penalties) is paid once per k steps. Unlike the paper, the penalty is added to the
step's D loss rather than taken as a separate optimiser step, and Adam's settings are not rescaled.

One run on several processes (``--ddp N``, rank ``ddp_rank`` of ``ddp_world``): G and D are wrapped
in ``DistributedDataParallel`` for the passes that train them (D's update, G's update) and used plain
elsewhere (D scoring fakes for G's update, evaluation, checkpoints), so only the network being updated
all-reduces its gradients. Each rank takes its own slice of a global batch of ``batch_size x N`` from
the shared epoch order; its latents are its slice of the global batch's, drawn from a stream re-seeded
every step from (seed, step), and its other random draws come from streams re-seeded from (seed, rank,
step): the run is reproducible for a given N and resumes with nothing per rank to save, and N ranks at
batch B see the data and latents of one process at batch N x B (DDP averages the ranks' gradients,
which is the gradient of the global batch's mean loss). The step's losses are averaged over ranks, so
every rank logs, and stops on a non-finite loss, the same way.

Protocol option ``reuse_fake_for_generator`` (hparam, default ``False``): the generator update scores
the fake batch of the last discriminator update instead of drawing a new one, as pytorch/examples'
DCGAN does. It saves one generator forward per step but changes the run (fewer latent draws, one
BatchNorm statistics update of G per step instead of two), so it is recorded like any hparam.

An architecture that declares ``encoder`` (BiGAN, Donahue, Krähenbühl and Darrell 2017; ALI, Dumoulin
et al. 2017) trains an encoder E inside G (``G.encode``) and a discriminator of pairs: D's update
scores ``D(x, E(x))`` as real and ``D(G(z), z)`` as fake, with E held fixed. The generator update
draws a real batch too and minimises ``loss.discriminator_loss(real_scores=D(G(z), z),
fake_scores=D(x, E(x)))``: D's own objective with the pairs' roles swapped, the "inverted" objective
both papers train G and E with (BiGAN section 3.4; ALI's code takes softplus(D(x, E(x))) +
softplus(-D(G(z), z))). Written through ``discriminator_loss`` it holds for any loss plugin and
gives E a gradient (a generator loss sees fake scores only, and E enters only the real pairs): for
the logistic losses it is the non-saturating game (``minimax`` therefore trains as
``nonsaturating`` here), for WGAN ``mean D(x, E(x)) - mean D(G(z), z)``, for RSGAN and RaGAN
exactly their generator losses (E's term included), for LSGAN its generator loss with target b for c
plus E's mirror term, for hinge the hinge on both pairs (not hinge's ``-mean D(G(z))``).
Both updates step G and E together with the generator optimiser (one parameter set: E is part of
G). Unlike both papers' code, which computes the two updates from one batch at once, D and G/E
alternate, each drawing its own batch, as every other architecture here does.

A task whose samples are discrete (``Task.generator_update`` "policy_gradient": text, SeqGAN, Yu et
al. 2017) keeps D's update as it is (D scores token sequences like any samples) and replaces G's: a
maximum-likelihood step on a real batch in the task's pre-training steps (and always for a loss that
declares ``adversarial = False``, the MLE baseline, which never updates D), else the task's policy
objective over G's samples, whose rewards come from D's scores; the task says in which steps D trains.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ganbench.api import Architecture, DataInfo, Loss, Task, Technique
from ganbench.seeding import derive_seed, make_generator
from ganbench.spec import CUDA_GRAPH_COMPILE_MODES

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


# What a generator can be given here (api.GENERATOR_INPUTS names them all): a task whose generator
# takes anything else is refused when the matrix is expanded (runner.task_incompatibility).
# A generator given an image (translation) or a low-resolution image (super-resolution) is given the
# input half of each training pair (``train_inputs``) in place of noise.
GENERATOR_INPUTS = ("noise", "image", "low_resolution")


def prepare_process() -> None:
    """Pay, once per process, the one-off cost of the first training step that is not the run's.

    torch.optim imports ``torch._dynamo`` on the first optimiser it builds (``torch._disable_dynamo``
    wrappers), about 0.8-1.3 s on a 2-core CPU: more than a 300-step MLP run trains. Called before a run's
    clock starts (:func:`ganbench.runner.execute`), it keeps that cost, like ``import torch``, out of
    the first run's ``wall_seconds``; later runs of the process never paid it. Idempotent, cheap after
    the first call."""
    import torch._dynamo  # noqa: F401


def _flag(hparams: Mapping[str, Any], name: str) -> bool:
    value = hparams.get(name, False)
    if value not in (True, False):  # also admits 0 and 1
        raise ValueError(f"hparam {name} must be true or false, not {value!r}")
    return bool(value)


@dataclasses.dataclass
class TrainerStepContext:
    """The trainer's :class:`ganbench.api.StepContext`: what a technique hook sees during one step."""

    _trainer: Trainer
    step: int
    real: torch.Tensor | None
    labels: torch.Tensor | None
    updating: nn.Module | None = None  # the discriminator being updated, when it is not the trainer's D

    @property
    def generator(self) -> nn.Module:
        return self._trainer.G

    @property
    def discriminator(self) -> nn.Module:
        return self.updating if self.updating is not None else self._trainer.D

    @property
    def loss(self) -> Loss:
        return self._trainer.loss

    @property
    def hparams(self) -> Mapping[str, Any]:
        return self._trainer.hparams

    @property
    def rng(self) -> torch.Generator:
        return self._trainer.technique_rng

    @property
    def device(self) -> torch.device:
        return self._trainer.device

    def next_real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._trainer.next_real_batch()

    def as_discriminator_sees(self, x: torch.Tensor) -> torch.Tensor:
        return self._trainer.discriminator_input(x, self)

    def clone_discriminator(self) -> tuple[nn.Module, torch.optim.Optimizer]:
        return self._trainer.clone_discriminator()

    def discriminator_update(self, discriminator: nn.Module, optimizer: torch.optim.Optimizer) -> torch.Tensor:
        return self._trainer.discriminator_update(discriminator, optimizer, self.step)


class Trainer:
    def __init__(self, architecture: Architecture, loss: Loss, techniques: Sequence[Technique], data: DataInfo,
                 train_x: torch.Tensor, train_y: torch.Tensor | None, hparams: Mapping[str, Any], seed: int,
                 device: str = "cpu", precision: str = "fp32", channels_last: bool = False, compile: bool = False,
                 compile_mode: str = "default", ddp_rank: int = 0, ddp_world: int = 1, step_streams: bool | None = None,
                 task: Task | None = None, train_inputs: torch.Tensor | None = None):
        self.hparams = dict(hparams)
        # The benchmark task: what G is given (noise, or the input half of each training pair) and
        # its generator objective (api.Task.generator_objective).
        self.task = task
        self.paired = train_inputs is not None
        self.judges_inputs = self.paired and architecture.discriminator_sees_input
        # Discrete samples: D's scores are the generator's rewards (api.Task.generator_update).
        self.policy_gradient = task is not None and task.generator_update == "policy_gradient"
        self.rank, self.world = int(ddp_rank), int(ddp_world)
        # Streams re-seeded every step (module docstring): always under --ddp; a one-process trainer
        # built with it draws the latents of an N-process run's global batch (tests/test_ddp.py).
        self.step_streams = self.world > 1 if step_streams is None else bool(step_streams)
        self.architecture = architecture
        self.data = data
        self.seed = seed
        self.device = torch.device(device)
        self.loss = loss
        self.techniques = list(techniques)
        self.autocast_dtype = PRECISIONS[precision]
        self.batch_size = int(self.hparams["batch_size"])
        self.n_critic = int(self.hparams.get("n_critic", 1))
        self.z_dim = int(self.hparams.get("z_dim", 0))   # 0: G is given an input, not noise (paired tasks)
        self.reuse_fake_for_generator = _flag(self.hparams, "reuse_fake_for_generator")
        if self.paired and self.reuse_fake_for_generator:
            raise ValueError("reuse_fake_for_generator: a paired task's generator step compares its outputs "
                             "with the targets of its own batch; set it to 0")
        self.penalty_every = int(self.hparams.get("penalty_every", 1))

        # Weights come from the global RNG (that is how nn.Module initialises); seed it from the init stream.
        torch.manual_seed(derive_seed(seed, "init"))
        G, D = architecture.build(data, self.hparams)
        judged = data
        for t in self.techniques:
            judged = t.discriminator_data(judged)
        if judged != data:
            # D sees other samples than G makes (PacGAN's packs): the architecture builds it for those.
            _, D = architecture.build(judged, self.hparams)
        for t in self.techniques:
            G = t.wrap_generator(G, data)
            D = t.wrap_discriminator(D, data)
        memory_format = torch.channels_last if channels_last and data.is_image else torch.contiguous_format
        self.G = G.to(self.device, memory_format=memory_format)
        self.D = D.to(self.device, memory_format=memory_format)
        betas = (float(self.hparams.get("beta1", 0.5)), float(self.hparams.get("beta2", 0.999)))
        self.opt_g = loss.make_optimizer(self.G.parameters(), float(self.hparams["lr_g"]), betas)
        self.opt_d = loss.make_optimizer(self.D.parameters(), float(self.hparams["lr_d"]), betas)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "fp16")
        self._scaling = self.scaler.is_enabled()
        self._g_forward = torch.compile(self.G, mode=compile_mode) if compile else self.G
        self._d_plain = torch.compile(self.D, mode=compile_mode) if compile else self.D
        # CUDA graphs (torch.compile's cudagraph trees) replay a step's graphs into static buffers; a
        # GAN step calls G and D several times, so each step is marked as a new iteration, which is
        # what lets the trees tell a replay from a pass whose outputs are still in use.
        self._marks_cuda_graph_steps = (compile and compile_mode in CUDA_GRAPH_COMPILE_MODES
                                        and self.device.type == "cuda")
        self._d_forward = self._d_plain       # the pass that updates D
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel
            self._g_forward = DistributedDataParallel(self.G)   # broadcasts rank 0's weights and buffers
            self._d_forward = DistributedDataParallel(self.D)

        self.train_x = train_x.to(self.device)
        self.train_inputs = None if train_inputs is None else train_inputs.to(self.device)
        self.batch_inputs: torch.Tensor | None = None   # the inputs of the last real batch drawn (paired)
        # Labels reach the networks only when the data has classes (ring/grid labels are mode ids).
        self.train_y = None if train_y is None or not data.num_classes else train_y.to(self.device)
        self.latent_rng = make_generator(seed, "latent", self.device)
        self.technique_rng = make_generator(seed, "technique", self.device)
        self.penalty_rng = make_generator(seed, "penalty", self.device)
        # Here, not where opt_d is made: a wrapper (DP-SGD's noise) draws from the technique stream.
        for t in self.techniques:
            self.opt_d = t.wrap_discriminator_optimizer(self.opt_d, self.D, self.technique_rng,
                                                        int(self.train_x.shape[0]))
        self.batches_drawn = 0
        self.steps_done = 0
        self._epoch_order: tuple[int, torch.Tensor] | None = None

    # -- data and noise ----------------------------------------------------------------------------
    def next_real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch of the epoch order. Order is a pure function of (seed, epoch): nothing to save."""
        n = self.train_x.shape[0]
        global_batch = self.batch_size * self.world          # this rank's slice of it, under --ddp
        per_epoch = max(n // global_batch, 1)
        epoch, index = divmod(self.batches_drawn, per_epoch)
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, f"data:{epoch}"))
            self._epoch_order = (epoch, torch.randperm(n, generator=gen).to(self.device))
        start = index * global_batch + self.rank * self.batch_size
        idx = self._epoch_order[1][start:start + self.batch_size]
        self.batches_drawn += 1
        if self.paired:
            self.batch_inputs = self.train_inputs[idx]
        return self.train_x[idx], None if self.train_y is None else self.train_y[idx]

    @property
    def images_shown(self) -> int:
        return self.batches_drawn * self.batch_size * self.world

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        gen = generator or self.latent_rng
        # Under --ddp every rank draws the whole global batch's latents from the shared step stream
        # and keeps its slice, so N ranks at batch B see the latents of one process at batch N x B.
        ranks = self.world if gen is self.latent_rng else 1
        drawn = n * ranks
        if self.architecture.samples_latent:
            z = self.G.sample_latent(drawn, gen, self.device)
        else:
            z = torch.randn(drawn, self.z_dim, generator=gen, device=gen.device).to(self.device)
        labels = None
        if self.conditional:
            labels = torch.randint(self.data.num_classes, (drawn,), generator=gen, device=gen.device).to(self.device)
        if ranks > 1:
            mine = slice(self.rank * n, (self.rank + 1) * n)
            z, labels = z[mine], None if labels is None else labels[mine]
        return z, labels

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _generate(self, z, labels):
        with self._autocast():
            return self._g_forward(z, labels).float()

    def _encode(self, x):
        """``E(x)`` of an architecture declaring ``encoder``; a stochastic encoder draws its noise
        from the latent stream (so it is part of the saved state, like every latent)."""
        with self._autocast():
            return self.G.encode(x, self.latent_rng).float()

    @property
    def conditional(self) -> bool:
        """Labels reach G and D: the architecture is declared conditional and the data has classes."""
        return bool(self.data.num_classes) and self.architecture.conditional

    def discriminator_input(self, x: torch.Tensor, ctx: TrainerStepContext) -> torch.Tensor:
        for t in self.techniques:
            x = t.discriminator_input(x, ctx)
        return x

    def _score(self, D: nn.Module, x: torch.Tensor, labels, ctx: TrainerStepContext,
               updating: bool = False) -> torch.Tensor:
        """D's scores of ``x``; ``updating``: in D's own update (the pass DDP all-reduces)."""
        x = self.discriminator_input(x, ctx)
        forward = (self._d_forward if updating else self._d_plain) if D is self.D else D
        with self._autocast():
            # Losses and penalties run in fp32 whatever the network's precision.
            return forward(x, labels).float().reshape(-1)

    # -- one step ----------------------------------------------------------------------------------
    def discriminator_update(self, D: nn.Module, opt: torch.optim.Optimizer, step: int) -> torch.Tensor:
        """One discriminator update of ``D`` on a fresh batch (the step's own, or a look-ahead's)."""
        return self._discriminator_update(D, opt, step)[0]

    def _discriminator_update(self, D: nn.Module, opt: torch.optim.Optimizer, step: int, keep_fake: bool = False):
        """``(loss, kept)``; ``kept`` is ``(z, fake, labels)``, the fake still attached to G's graph, when
        ``keep_fake`` (the generator update then reuses it), else ``None``."""
        real, labels = self.next_real_batch()
        ctx = TrainerStepContext(self, step, real, labels, updating=D)
        # A paired task's generator is given the inputs of the reals it is judged against.
        z, fake_labels = (self.batch_inputs, None) if self.paired else self.sample_latent(real.shape[0])
        if labels is not None and fake_labels is not None:
            fake_labels = labels  # conditional D sees fakes of the same classes as the reals
        kept = None
        if keep_fake:
            generated = self._generate(z, fake_labels)
            kept = (z, generated, fake_labels)
            fake = generated.detach()
        else:
            with torch.no_grad():
                fake = self._generate(z, fake_labels)
        for t in self.techniques:
            fake, fake_labels = t.discriminator_fakes(fake, fake_labels, ctx)
        if self.architecture.encoder:
            # BiGAN/ALI: D judges (x, E(x)) against (G(z), z); E is not trained by D's update.
            with torch.no_grad():
                code = self._encode(real)
            real_scores = self._score(D, real, code, ctx, updating=True)
            fake_scores = self._score(D, fake, z, ctx, updating=True)
        elif self.judges_inputs:
            # pix2pix: D judges (target, input) against (G(input), input)
            real_scores = self._score(D, real, z, ctx, updating=True)
            fake_scores = self._score(D, fake, z, ctx, updating=True)
            labels = z   # what D is given beside a sample, for the penalty too
        else:
            real_scores = self._score(D, real, labels, ctx, updating=True)
            fake_scores = self._score(D, fake, fake_labels, ctx, updating=True)
        loss = self.loss.discriminator_loss(real_scores, fake_scores)
        penalty = self.penalty(D, real, fake, labels, step)
        if penalty is not None:
            loss = loss + penalty
        for t in self.techniques:
            extra = t.discriminator_extra_loss(ctx)
            if extra is not None:
                loss = loss + extra
        opt.zero_grad(set_to_none=True)
        self._backward_and_step(loss, opt)
        self.loss.after_discriminator_step(D)
        return loss.detach(), kept

    def penalty(self, D: nn.Module, real, fake, labels, step: int):
        """The loss's penalty for a D update in training step ``step``: ``None`` between lazy
        regularisation steps (``penalty_every``, module docstring), else ``penalty_every`` times it."""
        if step % self.penalty_every:
            return None
        penalty = self.loss.penalty(D, real, fake, labels, self.penalty_rng)
        return penalty if penalty is None or self.penalty_every == 1 else penalty * self.penalty_every

    def _backward_and_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, inputs=None) -> None:
        if self._scaling:
            self.scaler.scale(loss).backward(inputs=inputs)
            self.scaler.step(opt)
            self.scaler.update()
        else:
            # A disabled GradScaler is the identity (scale returns the loss, step calls opt.step,
            # update returns): skipping its calls changes no operation.
            loss.backward(inputs=inputs)
            opt.step()

    def _generator_parameters(self) -> list[torch.Tensor]:
        return [p for group in self.opt_g.param_groups for p in group["params"] if p.requires_grad]

    def step(self) -> dict[str, torch.Tensor]:
        """One training iteration: ``n_critic`` discriminator updates, then one generator update."""
        self.G.train()
        self.D.train()
        step = self.steps_done
        if self._marks_cuda_graph_steps:
            torch.compiler.cudagraph_mark_step_begin()
        if self.step_streams:
            self._reseed_rank_streams(step)
        if self.architecture.follows_progress:  # progressive growing: the phase of this step
            self.architecture.set_progress(self.G, self.D, self.images_shown)
        kept = None
        loss_d = torch.zeros((), device=self.device)   # a step without a D update logs 0 (mle, pre-training)
        game = self.loss.adversarial and (not self.policy_gradient or self.task.trains_discriminator(step))
        for i in range(self.n_critic if game else 0):
            keep = self.reuse_fake_for_generator and i == self.n_critic - 1
            loss_d, kept = self._discriminator_update(self.D, self.opt_d, step, keep_fake=keep)
        if self.policy_gradient:
            return self._policy_gradient_step(step, loss_d)

        needs_real = self.loss.needs_real_for_generator or self.architecture.encoder or self.paired
        real, labels = self.next_real_batch() if needs_real else (None, None)
        ctx = TrainerStepContext(self, step, real, labels)
        D_for_g = self.D
        for t in self.techniques:
            D_for_g = t.discriminator_for_generator_step(ctx) or D_for_g
        if kept is not None:
            z, fake, fake_labels = kept
        elif self.paired:
            z, fake_labels = self.batch_inputs, None
            fake = self._generate(z, fake_labels)
        else:
            z, fake_labels = self.sample_latent(real.shape[0] if real is not None else self.batch_size)
            fake = self._generate(z, fake_labels)
        loss_g = None
        for t in self.techniques:
            replaced = t.generator_loss(ctx, fake, fake_labels)
            if replaced is not None:
                loss_g = replaced
        if loss_g is None and self.architecture.encoder:
            # BiGAN/ALI: G and E minimise D's loss with real and fake swapped (module docstring).
            fake_scores = self._score(D_for_g, fake, z, ctx)
            real_scores = self._score(D_for_g, real, self._encode(real), ctx)
            loss_g = self.loss.discriminator_loss(fake_scores, real_scores)
        elif loss_g is None:
            if self.judges_inputs:
                fake_labels = labels = z   # D's second argument: the generator's input (pix2pix)
            fake_scores = self._score(D_for_g, fake, fake_labels, ctx)
            # (a paired task draws reals for its objective: D scores them only for a loss that reads them)
            real_scores = self._score(D_for_g, real, labels, ctx) \
                if real is not None and self.loss.needs_real_for_generator else None
            loss_g = self.loss.generator_loss(fake_scores, real_scores)
        if self.task is not None:
            loss_g = self.task.generator_objective(loss_g, fake, real if self.paired else None,
                                                   generate=lambda inputs: self._generate(inputs, None))
        for t in self.techniques:
            extra = t.generator_extra_loss(ctx)
            if extra is not None:
                loss_g = loss_g + extra
        self.opt_g.zero_grad(set_to_none=True)
        if not self.architecture.auxiliary_head:
            # Into G only: D's weight gradients of this pass would be discarded (module docstring).
            self._backward_and_step(loss_g, self.opt_g, inputs=self._generator_parameters() or None)
        else:
            # InfoGAN: the adversarial term may only move G; the mutual-information term trains G,
            # D's shared body and its Q head together (Chen et al. 2016).
            self.opt_d.zero_grad(set_to_none=True)
            info = D_for_g.auxiliary_loss(fake, z)
            g_params = [p for p in self.G.parameters() if p.requires_grad]
            self.scaler.scale(loss_g).backward(inputs=g_params, retain_graph=True)
            self.scaler.scale(info).backward()
            loss_g = loss_g + info.detach()
            self.scaler.step(self.opt_g)
            self.scaler.step(self.opt_d)
            self.scaler.update()
        for t in self.techniques:
            t.after_generator_step(ctx)
        self.steps_done += 1
        if self.world > 1:
            import torch.distributed as dist
            losses = torch.stack([loss_d.float(), loss_g.detach().float()])
            dist.all_reduce(losses)
            loss_d, loss_g = losses / self.world
        return {"loss_d": loss_d, "loss_g": loss_g.detach()}

    def _policy_gradient_step(self, step: int, loss_d: torch.Tensor) -> dict[str, torch.Tensor]:
        """The generator update of a task whose samples are discrete (``Task.generator_update``
        "policy_gradient", SeqGAN): maximum likelihood on a real batch in the task's pre-training
        steps and for a loss without a game, else the task's policy objective, given D's scores and
        the loss plugin's generator loss of each score."""
        ctx = TrainerStepContext(self, step, None, None)
        if not self.loss.adversarial or self.task.likelihood_step(step):
            real, _ = self.next_real_batch()
            loss_g = self.task.likelihood_objective(self.G, real)
        else:
            D_for_g = self.D
            for t in self.techniques:
                D_for_g = t.discriminator_for_generator_step(ctx) or D_for_g
            def judge(x: torch.Tensor) -> torch.Tensor:
                with torch.no_grad():
                    return self._score(D_for_g, x, None, ctx)

            # each sample's own generator loss: the loss plugin's batch loss of that one score
            per_sample = torch.func.vmap(lambda score: self.loss.generator_loss(score.unsqueeze(0)))
            z, _ = self.sample_latent(self.batch_size)
            with torch.no_grad():
                samples = self._generate(z, None)
            loss_g = self.task.policy_objective(self.G, samples, judge, per_sample, self.latent_rng)
        for t in self.techniques:
            extra = t.generator_extra_loss(ctx)
            if extra is not None:
                loss_g = loss_g + extra
        self.opt_g.zero_grad(set_to_none=True)
        self._backward_and_step(loss_g, self.opt_g, inputs=self._generator_parameters() or None)
        for t in self.techniques:
            t.after_generator_step(ctx)
        self.steps_done += 1
        return {"loss_d": loss_d, "loss_g": loss_g.detach()}

    def _reseed_rank_streams(self, step: int) -> None:
        """Under --ddp: the draws for ``step``, from (seed, step) for the latents every rank slices and
        from (seed, rank, step) for the rest (module docstring)."""
        self.latent_rng.manual_seed(derive_seed(self.seed, f"latent:step{step}"))
        for name, gen in (("technique", self.technique_rng), ("penalty", self.penalty_rng)):
            gen.manual_seed(derive_seed(self.seed, f"{name}:rank{self.rank}:step{step}"))
        torch.manual_seed(derive_seed(self.seed, f"global:rank{self.rank}:step{step}"))

    # -- evaluation and state ----------------------------------------------------------------------
    def evaluation_generator(self) -> nn.Module:
        G = self.G
        for t in self.techniques:
            G = t.evaluation_generator(G) or G
        if self.architecture.follows_progress:  # the state at the end of the steps taken so far
            for net in dict.fromkeys((self.G, G)):
                self.architecture.set_progress(net, self.D, self.images_shown)
        return G

    def technique_values(self) -> dict[str, dict[str, Any]]:
        """What the techniques report (``Technique.reports``): name -> value, technique and doc."""
        out: dict[str, dict[str, Any]] = {}
        for t in self.techniques:
            for name, value in t.reported_values().items():
                out[name] = {"value": float(value), "technique": t.name, "doc": t.reports.get(name, "")}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "latent_rng": self.latent_rng.get_state(), "technique_rng": self.technique_rng.get_state(),
            "penalty_rng": self.penalty_rng.get_state(),
            "global_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "batches_drawn": self.batches_drawn, "steps_done": self.steps_done,
            "techniques": [t.state_dict() for t in self.techniques],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler.load_state_dict(state["scaler"])
        self.latent_rng.set_state(state["latent_rng"])
        self.technique_rng.set_state(state["technique_rng"])
        self.penalty_rng.set_state(state["penalty_rng"])
        torch.set_rng_state(state["global_rng"])
        if state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.batches_drawn = int(state["batches_drawn"])
        self.steps_done = int(state["steps_done"])
        for t, s in zip(self.techniques, state["techniques"]):
            t.load_state_dict(s)

    def weights_hash(self) -> str:
        """sha256 over G and D weights and buffers, in a stable order."""
        import hashlib
        h = hashlib.sha256()
        for module in (self.G, self.D):
            for key, tensor in sorted(module.state_dict().items()):
                h.update(key.encode())
                h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        return h.hexdigest()

    def clone_discriminator(self) -> tuple[nn.Module, torch.optim.Optimizer]:
        """A deep copy of D and its optimiser (for look-ahead techniques)."""
        D = copy.deepcopy(self.D)
        opt = type(self.opt_d)(D.parameters(), **self.opt_d.defaults)
        # Deep: load_state_dict keeps the very tensors it is given (moments, step count) where dtype
        # and device already match, and the copy's updates would move the trainer's own D optimiser.
        opt.load_state_dict(copy.deepcopy(self.opt_d.state_dict()))
        return D, opt
