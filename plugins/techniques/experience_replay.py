"""Technique plugin: experience replay of past fakes."""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import Technique


class ExperienceReplay(Technique):
    """Experience replay: the discriminator also trains on fakes from earlier generators.

    Pfau and Vinyals (2016), "Connecting Generative Adversarial Networks and Actor-Critic Methods",
    NIPS workshop; Shrivastava, Pfister, Tuzel, Susskind, Wang and Webb (2017), "Learning from
    Simulated and Unsupervised Images through Adversarial Training", CVPR, section 2.3. A
    discriminator that only sees the current generator forgets the regions it rejected earlier,
    and the generator can return to them.

    As in Shrivastava et al., a fraction ``replay_fraction`` (one half) of each fake batch the
    discriminator trains on is drawn from a buffer of past fakes, and after each draw as many buffer
    slots are overwritten with fresh fakes; until the buffer is full, fresh fakes are appended. The
    buffer holds ``replay_buffer_size`` samples (the paper fixes no size). Indices come from the
    technique stream ``ctx.rng``; the buffer is saved in the technique state. For conditional
    architectures each fake is kept with the class label it was generated for, and a replayed fake is
    scored with its own label, not the current batch's.
    """

    name = "experience_replay"
    paper = ("Pfau, Vinyals (2016). Connecting Generative Adversarial Networks and Actor-Critic "
             "Methods. NIPS Workshop on Adversarial Training. / Shrivastava, Pfister, Tuzel, Susskind, "
             "Wang, Webb (2017). Learning from Simulated and Unsupervised Images through Adversarial "
             "Training. CVPR.")
    defaults = {"replay_buffer_size": 1024, "replay_fraction": 0.5}
    hparam_docs = {
        "replay_buffer_size": "past fakes kept in the replay buffer",
        "replay_fraction": "fraction of each fake batch D trains on that is drawn from the buffer",
    }
    hparam_limits = {
        "replay_buffer_size": {"low": 1},
        "replay_fraction": {"low": 0, "high": 1},
    }

    def __init__(self, hparams):
        super().__init__(hparams)
        self.buffer: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None   # conditional runs: the label of each buffered fake
        self.size = 0  # filled slots

    def discriminator_fakes(self, fake, labels, ctx):
        fresh = fake.detach()
        B, capacity = fresh.shape[0], int(self.hparams["replay_buffer_size"])
        gen = ctx.rng
        if self.buffer is None:
            self.buffer = fresh.new_zeros((capacity, *fresh.shape[1:]))
            if labels is not None:
                self.labels = labels.new_zeros((capacity,))
        old = min(int(round(float(self.hparams["replay_fraction"]) * B)), self.size)
        mixed, mixed_labels = fresh, labels
        if old:
            picked = torch.randint(self.size, (old,), generator=gen, device=gen.device).to(fresh.device)
            mixed = torch.cat([fresh[:B - old], self.buffer[picked]])
            if labels is not None:
                mixed_labels = torch.cat([labels[:B - old], self.labels[picked]])
        free = capacity - self.size
        if free > 0:
            take = min(free, B)
            self._keep(slice(self.size, self.size + take), fresh[:take], labels, slice(0, take))
            self.size += take
        elif old:
            slots = torch.randperm(capacity, generator=gen, device=gen.device)[:old].to(fresh.device)
            self._keep(slots, fresh[B - old:], labels, slice(B - old, B))
        return mixed, mixed_labels

    def _keep(self, slots, samples, labels, which) -> None:
        self.buffer[slots] = samples
        if labels is not None:
            self.labels[slots] = labels[which]

    def state_dict(self):
        filled = lambda t: None if t is None else t[:self.size].clone()  # noqa: E731
        return {"buffer": filled(self.buffer), "labels": filled(self.labels), "size": self.size}

    def load_state_dict(self, state):
        self.size = int(state["size"])
        capacity = max(int(self.hparams["replay_buffer_size"]), self.size)
        self.buffer = self.labels = None
        for name in ("buffer", "labels"):
            stored = state.get(name)
            if stored is not None:
                kept = stored.new_zeros((capacity, *stored.shape[1:]))
                kept[:self.size] = stored
                setattr(self, name, kept)


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(ExperienceReplay)
