"""Training loops: episodic prototypical training and a plain cross-entropy phase.

Episodic training follows Snell et al. (2017, arXiv:1703.05175). The cross-entropy phase trains
the encoder with a throw-away linear head over all labelled classes, the non-episodic recipe that
Chen et al. (2019, arXiv:1904.04232), Tian et al. (2020, arXiv:2003.11539) and Laenen & Bertinetto
(2021, arXiv:2012.09831) found as good as or better than episodes. Each phase has a fixed step
budget and stops early when the loss plateaus.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from meta.episodes import EpisodeSampler, episode_loss
from meta.protonet import linear, use_generator

__all__ = ["PlateauStopper", "TrainConfig", "train_encoder"]

TRAININGS = ("episodic", "ce", "ce+episodic")


@dataclass
class PlateauStopper:
    """Stop when the mean loss over ``window`` steps has not fallen below (1 - tol) x best for
    ``patience`` windows in a row, or has fallen under ``floor``."""

    tol: float
    patience: int
    window: int = 10
    floor: float = 1e-3
    best: float = float("inf")
    bad_windows: int = 0
    losses: list[float] = field(default_factory=list)

    def update(self, loss: float) -> bool:
        """Record one step's loss; True when training should stop."""
        self.losses.append(loss)
        if len(self.losses) % self.window:
            return False
        mean = float(np.mean(self.losses[-self.window :]))
        if mean < self.floor:
            return True
        if mean < (1.0 - self.tol) * self.best:
            self.best, self.bad_windows = mean, 0
        else:
            self.bad_windows += 1
        return self.bad_windows >= self.patience


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train_encoder` (see ``ProtoNetClassifier`` for their meaning)."""

    training: str
    max_steps: int
    n_way: int | None
    n_shot: int
    n_query: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    tol: float
    n_iter_no_change: int


def _adamw(params, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW updating all parameters in one multi-tensor call (``foreach``, torch's default on
    GPU only): on CPU the per-parameter Python loop was a third of a retrain's time (digits,
    500 labels: 1.22 s -> 0.74 s per fit, same steps and accuracy)."""
    return torch.optim.AdamW(
        params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, foreach=True
    )


def _ce_phase(encoder, X, y, n_classes, steps, cfg, rng, torch_gen, stopper) -> None:
    """Cross-entropy with a linear head over all classes, class-balanced, minibatches of rows."""
    embedding_dim = [m for m in encoder.modules() if isinstance(m, nn.Linear)][-1].out_features
    head = linear(embedding_dim, n_classes, torch_gen).to(X.device)
    params = list(encoder.parameters()) + list(head.parameters())
    optim = _adamw(params, cfg)
    counts = torch.bincount(y, minlength=n_classes).to(X.dtype)
    weights = counts.sum() / (n_classes * counts)
    batch = min(cfg.batch_size, len(y))
    for _ in range(steps):
        rows = torch.as_tensor(rng.choice(len(y), size=batch, replace=False), device=X.device)
        loss = F.cross_entropy(head(encoder(X[rows])), y[rows], weight=weights)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if stopper.update(loss.item()):
            return


def _episodic_phase(encoder, X, y_codes, steps, cfg, rng, stopper) -> None:
    """Prototypical loss on N-way K-shot episodes drawn from the labelled set."""
    sampler = EpisodeSampler(
        y_codes, n_way=cfg.n_way, n_shot=cfg.n_shot, n_query=cfg.n_query, rng=rng
    )
    optim = _adamw(encoder.parameters(), cfg)
    if not sampler.has_queries:
        return  # one example per class: nothing to learn from (see meta.episodes)
    for _ in range(steps):
        episode = sampler.sample()
        if episode.empty:
            continue  # only single-example classes drawn (n_way < number of classes)
        rows = np.concatenate([episode.support_idx, episode.query_idx])
        loss = episode_loss(encoder(X[torch.as_tensor(rows, device=X.device)]), episode)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if stopper.update(loss.item()):
            return


def train_encoder(
    encoder: nn.Module,
    X: torch.Tensor,
    y_codes: np.ndarray,
    cfg: TrainConfig,
    *,
    rng: np.random.Generator,
    torch_gen: torch.Generator,
    dropout_gen: np.random.Generator | torch.Generator,
) -> list[float]:
    """Train ``encoder`` in place on X (n, d) with class codes y_codes (n,); returns the losses.

    ``cfg.training``: "episodic", "ce" or "ce+episodic" (half the step budget each).
    """
    if cfg.training not in TRAININGS:
        raise ValueError(f"training must be one of {TRAININGS}, got {cfg.training!r}")
    n_classes = int(y_codes.max()) + 1
    y = torch.as_tensor(y_codes, device=X.device)
    ce_steps = {"episodic": 0, "ce": cfg.max_steps, "ce+episodic": cfg.max_steps // 2}[cfg.training]
    losses: list[float] = []
    encoder.train()
    with use_generator(encoder, dropout_gen):
        if ce_steps:
            stopper = PlateauStopper(cfg.tol, cfg.n_iter_no_change)
            _ce_phase(encoder, X, y, n_classes, ce_steps, cfg, rng, torch_gen, stopper)
            losses += stopper.losses
        if cfg.max_steps - ce_steps:
            stopper = PlateauStopper(cfg.tol, cfg.n_iter_no_change)
            _episodic_phase(encoder, X, y_codes, cfg.max_steps - ce_steps, cfg, rng, stopper)
            losses += stopper.losses
    encoder.eval()
    return losses
