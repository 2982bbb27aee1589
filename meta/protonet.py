"""Prototypical networks: encoders and stateless tensor helpers.

A class is represented by the mean embedding of its examples (its prototype) and an item is
classified by a softmax over negative squared Euclidean distances to the prototypes
(Snell, Swersky & Zemel 2017, "Prototypical Networks for Few-shot Learning", arXiv:1703.05175).

Dropout draws its masks from an explicit generator (never the global torch RNG), so that training
and Monte-Carlo dropout (Gal & Ghahramani 2016, arXiv:1506.02142) are reproducible under a seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from scipy import optimize, special
from threadpoolctl import threadpool_limits
from torch import nn

__all__ = [
    "ConvEncoder",
    "Dropout",
    "Encoder",
    "MLPEncoder",
    "Standardize",
    "build_encoder",
    "class_sums",
    "compute_prototypes",
    "fit_offset_logistic",
    "fitted_prior_strength",
    "init_parameters",
    "leave_one_out_prior_accuracy",
    "linear",
    "prototype_head",
    "prototype_logits",
    "prototype_temperature",
    "prior_prototypes",
    "refine_prototypes",
    "shrink_perturb_",
    "squared_euclidean_distances",
    "use_generator",
]


def class_sums(
    embeddings: torch.Tensor, labels: torch.Tensor, n_way: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class sum (n_way, D) and count (n_way,) of the embeddings, in their dtype."""
    one_hot = F.one_hot(labels, n_way).to(embeddings.dtype)
    return one_hot.T @ embeddings, one_hot.sum(dim=0)


def compute_prototypes(
    support_embeddings: torch.Tensor, support_labels: torch.Tensor, n_way: int
) -> torch.Tensor:
    """Mean embedding of each class.

    Parameters
    ----------
    support_embeddings : (n_support, D) float tensor.
    support_labels : (n_support,) int64 tensor with values in 0..n_way-1.
    n_way : number of classes; every class must have at least one support example.

    Returns
    -------
    (n_way, D) tensor of prototypes.
    """
    counts = torch.bincount(support_labels, minlength=n_way)
    if bool((counts == 0).any()):
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(f"classes {missing} have no support example")
    sums, counts = class_sums(support_embeddings, support_labels, n_way)
    return sums / counts.unsqueeze(1)


def prior_prototypes(
    support_embeddings: torch.Tensor,
    support_labels: torch.Tensor,
    priors: torch.Tensor,
    strength: float,
) -> torch.Tensor:
    """Prototypes shrunk towards a prior: (sum of class c's embeddings + strength * prior_c) /
    (n_c + strength), so a class with no example is its prior and one with many examples
    moves to their mean. The prior is the embedding of a description of the class (Snell et
    al. 2017, section 2.3: zero-shot prototypes from class metadata); the mix is the posterior
    mean of a Gaussian class mean under a prior worth ``strength`` examples.

    Parameters
    ----------
    support_embeddings : (n_support, D); support_labels : (n_support,) in 0..n_way-1 (may be
    empty); priors : (n_way, D), one per class; strength : > 0, examples the prior is worth.
    """
    if not strength > 0:
        raise ValueError(f"strength must be > 0, got {strength!r}")
    n_way = priors.shape[0]
    sums, counts = class_sums(support_embeddings, support_labels, n_way)
    return (sums + strength * priors) / (counts + strength).unsqueeze(1)


def leave_one_out_prior_accuracy(
    support_embeddings: torch.Tensor,
    support_labels: torch.Tensor,
    priors: torch.Tensor,
    strength: float,
) -> float:
    """Accuracy of :func:`prior_prototypes` on the labelled items, each classified with its
    own class's prototype computed without it: (sum_c - x_i + strength * prior_c) /
    (n_c - 1 + strength). A class's only example is thus classified by the prior alone, so
    the score says how far the priors can be trusted on this project; 0.0 with no example."""
    n = support_embeddings.shape[0]
    if n == 0:
        return 0.0
    n_way = priors.shape[0]
    sums, counts = class_sums(support_embeddings, support_labels, n_way)
    prototypes = (sums + strength * priors) / (counts + strength).unsqueeze(1)
    distances = squared_euclidean_distances(support_embeddings, prototypes)
    own = support_labels
    without = (sums[own] - support_embeddings + strength * priors[own]) / (
        counts[own] - 1 + strength
    ).unsqueeze(1)
    distances[torch.arange(n), own] = (support_embeddings - without).pow(2).sum(dim=1)
    return float((distances.argmin(dim=1) == own).double().mean())


def fitted_prior_strength(
    support_embeddings: torch.Tensor,
    support_labels: torch.Tensor,
    priors: torch.Tensor,
    grid: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
) -> float:
    """The strength of ``grid`` with the best :func:`leave_one_out_prior_accuracy`, the
    smallest on a tie (the examples over the prior); the largest with no example."""
    if support_embeddings.shape[0] == 0:
        return max(grid)
    scores = [
        leave_one_out_prior_accuracy(support_embeddings, support_labels, priors, k)
        for k in sorted(grid)
    ]
    return sorted(grid)[int(np.argmax(scores))]


def squared_euclidean_distances(query: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances, (n_query, D) x (n_way, D) -> (n_query, n_way).

    Uses ||q||^2 - 2 q.p + ||p||^2 (one matrix product, so a large pool stays fast) and clamps
    the rounding error below zero.
    """
    cross = query @ prototypes.T
    q_sq = query.pow(2).sum(dim=1, keepdim=True)
    p_sq = prototypes.pow(2).sum(dim=1)
    return (q_sq - 2.0 * cross + p_sq).clamp_min_(0.0)


def prototype_logits(
    query: torch.Tensor, prototypes: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Logits -d(f(x), v_c) / temperature of Snell et al. (2017); (n_query, D), (n_way, D) ->
    (n_query, n_way). A temperature is the same as scaling the embedding by 1/sqrt(temperature)."""
    return squared_euclidean_distances(query, prototypes).div_(-temperature)


def prototype_head(
    prototypes: torch.Tensor, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Affine head (weight (n_way, D), bias (n_way,)) whose logits z @ weight.T + bias equal
    -||z - v_c||^2 / temperature up to the per-row constant ||z||^2 / temperature, so they give
    the same softmax. Being affine in z, it folds into the encoder's last Linear."""
    return 2.0 * prototypes / temperature, -prototypes.pow(2).sum(dim=1) / temperature


def fit_offset_logistic(
    x: torch.Tensor,
    labels: torch.Tensor,
    offset: torch.Tensor,
    l2: float,
    max_iter: int = 100,
    initial: tuple[torch.Tensor, torch.Tensor] | None = None,
    ftol: float = 2.2e-9,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression with a fixed offset per item and class (a GLM offset).

    Minimises sum_i CE(x_i W^T + b + offset_i, y_i) + l2 / 2 ||W||^2 (bias unpenalised) by
    scipy's L-BFGS-B in float64 on the CPU, with the analytic gradient (P - Y)^T x + l2 W; with a
    zero offset it is scikit-learn's ``LogisticRegression(C=1 / l2)``. x (n, d), labels (n,) in
    [0, C), offset (n, C) -> weight (C, d), bias (C,) float32 on the device of ``x``.
    ``initial``: a (weight, bias) to start from (a neighbouring penalty's solution), else zeros;
    ``ftol``: L-BFGS-B's relative tolerance on the objective (scipy's default).
    With fewer rows than columns the fit runs in the row space of x (:class:`_RowSpace`).
    Hand-written because no library fits a logistic regression with an offset (the prototype
    logits here). scipy, not ``torch.optim.LBFGS``: on a small labelled set torch's per-call
    overhead dominates (digits, 500 labels, cProfile on an idle box: 0.25 s per fit with torch,
    0.06 s with scipy; a whole retrain 0.97 s -> 0.74 s).
    """
    space = _RowSpace(x.detach().cpu().double().numpy())
    y = labels.detach().cpu().numpy().astype(np.int64)
    start = None
    if initial is not None:
        weight, bias = (t.detach().cpu().double().numpy() for t in initial)
        start = (space.reduce(weight), bias)
    B, bias = _solve_offset_logistic(space.Z, y, _shifted(offset), l2, start, max_iter, ftol)
    weight = torch.from_numpy(space.expand_weight(B)).float().to(x.device)
    return weight, torch.from_numpy(bias).float().to(x.device)


class _RowSpace:
    """The head's input in the coordinates of its row space, when it has fewer rows than
    columns (a few hundred labels of 784 pixels, say).

    With x = U S V^T (thin SVD, rank r < d), every W = B V^T + W_perp has x W^T = x V B^T and
    ||W||^2 = ||B||^2 + ||W_perp||^2, so the penalised optimum has W_perp = 0 and the fit can
    run over B (C, r) on Z = x V instead of W (C, d): the same optimum (L-BFGS is invariant to
    the rotation, and a start in the row space keeps it there) for a fraction of the work. A
    simulation of the rendered letters (784 pixels, 26 classes, 26 -> 500 labels, cProfile)
    spent 98 s in the head's fits before, 61 s with it, ending at the same accuracy (0.464).
    Without fewer rows than columns it is the identity.
    """

    def __init__(self, X: np.ndarray) -> None:
        n, d = X.shape
        self.V = None
        self.Z = X
        if n < d:
            _, s, vt = np.linalg.svd(X, full_matrices=False)
            keep = s > (s[0] if s.size else 0.0) * 1e-12
            self.V = vt[keep].T  # (d, r), orthonormal columns
            self.Z = X @ self.V

    def reduce(self, rows: np.ndarray) -> np.ndarray:
        """Rows of d values in these coordinates: other inputs (held-out ones, whose logits are
        x W^T = (x V) B^T for any W in the row space) or a weight in the row space (B = W V)."""
        return rows if self.V is None else rows @ self.V

    def expand_weight(self, B: np.ndarray) -> np.ndarray:
        return B if self.V is None else B @ self.V.T


def _shifted(offset: torch.Tensor) -> np.ndarray:
    """The offset as float64 on the CPU, shifted by its row maxima: the softmax, the loss and
    the optimum do not move, but they keep their precision when the prototype logits are large
    and nearly equal across classes (a temperature near 0 makes them about 1e12)."""
    fixed = offset.detach().cpu().double().numpy()
    return fixed - fixed.max(axis=1, keepdims=True)


def _solve_offset_logistic(
    Z: np.ndarray,
    y: np.ndarray,
    fixed: np.ndarray,
    l2: float,
    start: tuple[np.ndarray, np.ndarray] | None,
    max_iter: int,
    ftol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The L-BFGS-B fit of :func:`fit_offset_logistic` on float64 arrays (the offset from
    :func:`_shifted`) -> (W, b)."""
    n, d = Z.shape
    n_way = fixed.shape[1]
    rows = np.arange(n)

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = theta[: n_way * d].reshape(n_way, d), theta[n_way * d :]
        logits = Z @ W.T + b + fixed
        log_norm = special.logsumexp(logits, axis=1)
        loss = log_norm.sum() - logits[rows, y].sum() + 0.5 * l2 * np.dot(W.ravel(), W.ravel())
        residual = np.exp(logits - log_norm[:, None])
        residual[rows, y] -= 1.0  # P - Y
        gradient = np.concatenate([(residual.T @ Z + l2 * W).ravel(), residual.sum(axis=0)])
        return float(loss), gradient

    theta = np.zeros(n_way * (d + 1))
    if start is not None:
        theta = np.concatenate([start[0].ravel(), start[1].ravel()])
    with threadpool_limits(1, user_api="blas"):  # small matrices: BLAS threads only spin
        theta = optimize.minimize(
            loss_and_gradient,
            theta,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": int(max_iter), "gtol": 1e-6, "ftol": ftol},
        ).x
    return theta[: n_way * d].reshape(n_way, d), theta[n_way * d :]


#: Relative tolerance of the cross-validation's fits: the held-out losses of penalties 4x apart
#: differ far more than a looser fit moves them.
CV_FTOL = 1e-5


def cross_validated_l2(
    x: torch.Tensor,
    labels: torch.Tensor,
    embeddings: torch.Tensor,
    grid: tuple[float, ...],
    prototype_weight: float,
    *,
    folds: int = 3,
    seed: int = 0,
) -> tuple[float, np.ndarray]:
    """The penalty of :func:`fit_offset_logistic` among ``grid`` with the least held-out
    log-loss, by stratified ``folds``-fold cross-validation; -> (penalty, summed loss per grid
    value).

    Each fold recomputes the prototypes (and their temperature) from its training rows'
    ``embeddings`` alone, so the offset a held-out row gets does not contain its own label;
    x (n, d) is the head's input, labels (n,) in [0, C). Ties go to the first value in ``grid``.
    Each fold's fits run in its training rows' row space (:class:`_RowSpace`, one SVD per fold).
    Hand-written: scikit-learn's ``LogisticRegressionCV`` (with log-loss scoring) makes the same
    choice but cannot take the offset.
    Needs ``folds`` labels in every class (``ValueError`` otherwise).
    """
    from sklearn.model_selection import StratifiedKFold

    codes = labels.detach().cpu().numpy().astype(np.int64)
    n_way = int(codes.max()) + 1
    if np.bincount(codes, minlength=n_way).min() < folds:
        raise ValueError(f"cross-validating the head needs {folds} labels in every class")
    X = x.detach().cpu().double().numpy()
    losses = np.zeros(len(grid))
    order = np.argsort(grid)[::-1]  # strongest penalty first, each fit warm-starts the next
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for train, held in splitter.split(np.zeros(len(codes)), codes):
        prototypes = compute_prototypes(embeddings[train], labels[train], n_way)
        weight, bias = prototype_head(prototypes, prototype_temperature(prototypes))
        offset = _shifted(prototype_weight * (embeddings @ weight.T + bias))
        space = _RowSpace(X[train])
        Z_held = space.reduce(X[held])
        head = None
        for i in order:
            head = _solve_offset_logistic(
                space.Z, codes[train], offset[train], grid[i], head, 100, CV_FTOL
            )
            logits = Z_held @ head[0].T + head[1] + offset[held]
            log_norm = special.logsumexp(logits, axis=1)
            losses[i] += float(np.sum(log_norm - logits[np.arange(len(held)), codes[held]]))
    return float(grid[int(np.argmin(losses))]), losses


def refine_prototypes(
    support_embeddings: torch.Tensor,
    support_labels: torch.Tensor,
    unlabelled_embeddings: torch.Tensor,
    n_way: int,
    steps: int,
    *,
    priors: torch.Tensor | None = None,
    strength: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Prototypes refined with unlabelled items by constrained k-means.

    Constrained k-means (Basu, Banerjee & Mooney 2002, "Semi-supervised clustering by seeding"),
    the hard-assignment form of the semi-supervised prototypes of Ren et al. 2018
    (arXiv:1803.00676): start from the class means of the labelled items; at each step assign
    every unlabelled item to its nearest prototype and recompute each prototype as the mean of
    its labelled items (which never change class) and the unlabelled items assigned to it; stop
    after ``steps`` steps or when no assignment changes. Hand-written because scikit-learn's
    KMeans cannot hold the labelled items in their classes. With ``priors`` (n_way, D), each
    class also holds its prior as ``strength`` labelled items (:func:`prior_prototypes`), so a
    class without labels starts from its prior.

    Returns
    -------
    prototypes : (n_way, D); unlabelled_sums : (n_way, D) and unlabelled_counts : (n_way,), the
    sum and number of the unlabelled embeddings assigned to each class at the end, so that
    prototypes = (labelled sums + unlabelled_sums) / (labelled counts + unlabelled_counts)
    (the labelled ones with the priors' share).
    """
    labelled_sums, labelled_counts = class_sums(support_embeddings, support_labels, n_way)
    if priors is None:
        prototypes = compute_prototypes(support_embeddings, support_labels, n_way)
    else:
        prototypes = prior_prototypes(support_embeddings, support_labels, priors, strength)
        labelled_sums = labelled_sums + strength * priors
        labelled_counts = labelled_counts + strength
    sums = torch.zeros_like(labelled_sums)
    counts = torch.zeros_like(labelled_counts)
    assigned = None
    for _ in range(steps):
        nearest = squared_euclidean_distances(unlabelled_embeddings, prototypes).argmin(dim=1)
        if assigned is not None and torch.equal(nearest, assigned):
            break
        assigned = nearest
        sums, counts = class_sums(unlabelled_embeddings, nearest, n_way)
        prototypes = (labelled_sums + sums) / (labelled_counts + counts).unsqueeze(1)
    return prototypes, sums, counts


def prototype_temperature(prototypes: torch.Tensor) -> float:
    """Softmax temperature from the spread of the prototypes; (n_way, D) -> float.

    t = m / (2 log(n_way + 1)), m the median squared distance from a prototype to its nearest
    other prototype: an item on its prototype has odds of about (n_way + 1)^2 against the nearest
    other class, whatever the scale of the embedding. Leave-one-out temperature scaling on the
    labelled set cannot be used after training (the encoder has memorised it and the fitted
    temperature collapses); on digits (10 to 200 labels) this rule was within a factor 2 of the
    test-set optimum, where a temperature of 1 gives one-hot probabilities.
    """
    if len(prototypes) < 2:
        return 1.0
    dist = squared_euclidean_distances(prototypes, prototypes)
    dist.fill_diagonal_(float("inf"))
    nearest = float(dist.min(dim=1).values.median())
    return max(nearest, 1e-12) / (2.0 * math.log(len(prototypes) + 1))


class Standardize(nn.Module):
    """(x - mean) / scale with a per-feature mean and one global scale, stored as buffers.

    Part of the encoder so that a saved, warm-started or pretrained encoder carries the input
    statistics it was trained with.
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale

    @torch.no_grad()
    def reset_parameters(self) -> None:
        self.mean.zero_()
        self.scale.fill_(1.0)

    @torch.no_grad()
    def fit_(self, x: torch.Tensor) -> Standardize:
        """Set mean and scale from data x of shape (n, n_features)."""
        self.mean.copy_(x.mean(dim=0))
        rms = (x - self.mean).pow(2).mean().sqrt()
        self.scale.copy_(rms if float(rms) > 1e-12 else torch.ones(()))
        return self


class Dropout(nn.Module):
    """Inverted dropout whose masks come from an explicit generator.

    On CPU masks come from a numpy ``Generator`` (16 random bits per unit, so the drop rate is p
    rounded to 1/65536): about 20x faster than torch's CPU generator, which matters for
    Monte-Carlo dropout over a large pool. On CUDA they come from a ``torch.Generator``.
    Set the generator with :func:`use_generator`; without one the layer refuses to run in train mode.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = float(p)
        self.generator: np.random.Generator | torch.Generator | None = None

    @property
    def scale(self) -> float:
        """1 / keep probability, with the drop rate as the masks realise it."""
        return 1.0 / (1.0 - round(self.p * 65536) / 65536)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def keep_mask(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """Boolean keep mask of the given shape (True = kept)."""
        if self.generator is None:
            raise RuntimeError("Dropout in train mode needs a generator: use use_generator()")
        if isinstance(self.generator, torch.Generator):
            return torch.rand(shape, device=device, generator=self.generator) >= self.p
        n = math.prod(shape)
        bits = self.generator.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n]
        return torch.from_numpy(bits.reshape(shape) >= round(self.p * 65536)).to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.repeat(x, 1)

    def repeat(self, x: torch.Tensor, T: int) -> torch.Tensor:
        """T dropout samples of x (n, ...) in one go, sample-major: (T * n, ...).

        The scale is applied to x once and the mask drawn for (T, n, ...) at once, so the repeat
        costs one pass over the (T * n, ...) output.
        """
        if not self.training or self.p == 0.0:
            return x if T == 1 else x.repeat(T, *([1] * (x.dim() - 1)))
        mask = self.keep_mask((T, *x.shape), x.device)
        return ((x * self.scale).unsqueeze(0) * mask).reshape(T * x.shape[0], *x.shape[1:])

    def __getstate__(self) -> dict:
        state = super().__getstate__().copy()
        state["generator"] = None
        return state


@contextmanager
def use_generator(
    module: nn.Module, generator: np.random.Generator | torch.Generator
) -> Iterator[None]:
    """Let every :class:`Dropout` in ``module`` draw from ``generator`` inside the block."""
    layers = [m for m in module.modules() if isinstance(m, Dropout)]
    for layer in layers:
        layer.generator = generator
    try:
        yield
    finally:
        for layer in layers:
            layer.generator = None


# Expected squared norm of the skip's output at initialisation, so that squared distances start
# around 2 x 16 whatever the input width. With distances ~2d instead (a plain isometry) the
# episodic loss on 784-d Fashion-MNIST pixels started near 20 and was unstable; on digits every
# value from 2 to 64 gave the same accuracy (within 0.005).
SKIP_SQUARED_NORM = 16.0


class Encoder(nn.Module):
    """Base encoder, (N, d) -> (N, D), split for Monte-Carlo dropout caching.

    ``stem(x)`` runs the deterministic layers before the first dropout and returns a tuple of
    tensors; ``tail(state, T)`` runs the rest on T dropout samples of that state at once and
    returns (T * N, D) (sample-major). ``forward(x) == tail(stem(x), 1)``. The MC path therefore
    computes the stem once and repeats only the tail, as baal's MC caching does.

    ``tail_logits(state, T, head)`` applies an affine head (weight (C, D), bias (C,)) after the
    tail, folded into the last Linear: the repeated part then ends in a (C, H) product instead
    of (D, H) plus the head (see :func:`prototype_head`).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.stem(x), 1)

    def stem(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def tail(self, state: tuple[torch.Tensor, ...], T: int) -> torch.Tensor:
        raise NotImplementedError

    def tail_logits(
        self, state: tuple[torch.Tensor, ...], T: int, head: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        """(T * N, C) = tail(state, T) @ head_weight.T + head_bias."""
        return F.linear(self.tail(state, T), *head)

    @property
    def standardize(self) -> Standardize:
        return self.layers[0]


class MLPEncoder(Encoder):
    """Standardize -> [Linear -> ReLU -> Dropout] per hidden size -> Linear, plus a linear skip.

    The skip maps the standardised input straight to the embedding. It starts as a scaled
    distance-preserving projection (orthonormal; a random projection when d > D) and the last
    Linear of the MLP starts at zero (as zero-initialised residual branches, Goyal et al. 2017,
    arXiv:1706.02677), so the untrained encoder is the nearest-class-mean classifier on the
    standardised features and training learns a correction. (N, d) -> (N, D).
    """

    def __init__(
        self,
        n_features: int,
        hidden_sizes: tuple[int, ...],
        embedding_dim: int,
        dropout: float,
        skip: bool = True,
    ) -> None:
        super().__init__()
        if not hidden_sizes:
            raise ValueError("hidden_sizes needs at least one width")
        layers: list[nn.Module] = [Standardize(n_features)]
        width = n_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, embedding_dim))
        self.layers = nn.Sequential(*layers)
        self.skip = nn.Linear(n_features, embedding_dim, bias=False) if skip else None

    def _on_raw_input(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        """(weight, bias) of a linear map of the standardised input, rewritten to act on the
        raw input: W (x - m) / s + b = (W / s) x + (b - (W / s) m). Saves two passes over a
        large pool; costs float32 precision only for features with offsets far beyond their
        spread (|m| / s of 1e3 -> ~1e-4 relative error)."""
        std = self.layers[0]
        weight = weight / std.scale
        shift = -(weight @ std.mean)
        return weight, shift if bias is None else bias + shift

    def stem(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        first = self.layers[1]
        h = self.layers[2](F.linear(x, *self._on_raw_input(first.weight, first.bias)))
        return h, x  # (N, H) first hidden layer, (N, d) raw input for the skip

    def _repeated_hidden(self, state: tuple[torch.Tensor, ...], T: int) -> torch.Tensor:
        """(T * N, H_last): the dropout samples of the last hidden layer."""
        return self.layers[4:-1](self.layers[3].repeat(state[0], T))

    def _add_once(self, repeated: torch.Tensor, once: torch.Tensor, T: int) -> torch.Tensor:
        """(T * N, k) + (N, k) broadcast over the T samples."""
        return (repeated.view(T, once.shape[0], -1) + once).view(-1, once.shape[1])

    def tail(self, state: tuple[torch.Tensor, ...], T: int) -> torch.Tensor:
        z = self.layers[-1](self._repeated_hidden(state, T))
        if self.skip is None:
            return z
        return self._add_once(z, F.linear(state[1], *self._on_raw_input(self.skip.weight)), T)

    def tail_logits(
        self, state: tuple[torch.Tensor, ...], T: int, head: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        weight, bias = head
        last = self.layers[-1]
        logits = F.linear(
            self._repeated_hidden(state, T), weight @ last.weight, weight @ last.bias + bias
        )
        if self.skip is None:
            return logits
        skip = F.linear(state[1], *self._on_raw_input(weight @ self.skip.weight))  # (N, C), once
        return self._add_once(logits, skip, T)

    @torch.no_grad()
    def init_skip_(self, generator: torch.Generator) -> MLPEncoder:
        """Skip <- distance-preserving projection, last MLP Linear <- 0 (see the class docstring)."""
        if self.skip is None:
            return self
        out_dim, in_dim = self.skip.weight.shape
        gauss = torch.randn(max(out_dim, in_dim), min(out_dim, in_dim), generator=generator)
        q = torch.linalg.qr(gauss).Q  # orthonormal columns
        weight = q if out_dim >= in_dim else q.T
        self.skip.weight.copy_(weight * math.sqrt(SKIP_SQUARED_NORM / min(in_dim, out_dim)))
        self.layers[-1].weight.zero_()
        self.layers[-1].bias.zero_()
        return self


class ConvEncoder(Encoder):
    """Small conv net for flattened single-channel square images; (N, s*s) -> (N, D).

    Standardize -> [Conv3x3 -> BatchNorm -> ReLU -> MaxPool2] per channel count -> Flatten ->
    Dropout -> Linear, in the spirit of the Conv-4 backbone of Snell et al. (2017).
    """

    def __init__(
        self, n_features: int, channels: tuple[int, ...], embedding_dim: int, dropout: float
    ) -> None:
        super().__init__()
        side = math.isqrt(n_features)
        if side * side != n_features or not channels:
            raise ValueError(
                f"encoder='conv' needs flattened square single-channel images and at least one "
                f"conv channel count; got {n_features} features, conv_channels={channels}"
            )
        layers: list[nn.Module] = [Standardize(n_features), nn.Unflatten(1, (1, side, side))]
        in_channels = 1
        for out_channels in channels:
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            in_channels = out_channels
            side = math.ceil(side / 2)
        layers.append(nn.Flatten())
        self.layers = nn.Sequential(*layers)
        self.dropout = Dropout(dropout)
        self.out = nn.Linear(in_channels * side * side, embedding_dim)

    def stem(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self.layers(x),)

    def tail(self, state: tuple[torch.Tensor, ...], T: int) -> torch.Tensor:
        return self.out(self.dropout.repeat(state[0], T))

    def tail_logits(
        self, state: tuple[torch.Tensor, ...], T: int, head: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        weight, bias = head
        folded = (weight @ self.out.weight, weight @ self.out.bias + bias)
        return F.linear(self.dropout.repeat(state[0], T), *folded)


def build_encoder(
    kind: str,
    n_features: int,
    *,
    hidden_sizes: tuple[int, ...],
    conv_channels: tuple[int, ...],
    embedding_dim: int,
    dropout: float,
    skip: bool = True,
    generator: torch.Generator,
) -> Encoder:
    """Encoder by name, ``"mlp"`` over feature vectors or ``"conv"`` over raw square images,
    on the CPU and initialised from ``generator`` (modules are built on the meta device first,
    so the global torch RNG is never drawn from)."""
    if kind not in ("mlp", "conv"):
        raise ValueError(f"encoder must be 'mlp' or 'conv', got {kind!r}")
    with torch.device("meta"):
        if kind == "mlp":
            encoder = MLPEncoder(n_features, tuple(hidden_sizes), embedding_dim, dropout, skip)
        else:
            encoder = ConvEncoder(n_features, tuple(conv_channels), embedding_dim, dropout)
    return init_parameters(encoder.to_empty(device="cpu"), generator)


def linear(in_features: int, out_features: int, generator: torch.Generator) -> nn.Linear:
    """nn.Linear initialised from ``generator`` without drawing from the global torch RNG."""
    with torch.device("meta"):
        layer = nn.Linear(in_features, out_features)
    return init_parameters(layer.to_empty(device="cpu"), generator)


@torch.no_grad()
def init_parameters(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """PyTorch's default Linear/Conv initialisation drawn from ``generator`` (reproducible);
    normalisation layers and :class:`Standardize` reset; the MLP skip as in ``init_skip_``."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            if layer.bias is not None:
                bound = 1.0 / math.sqrt(layer.weight[0].numel())
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        elif isinstance(layer, nn.BatchNorm2d | Standardize):
            layer.reset_parameters()
    if isinstance(module, MLPEncoder):
        module.init_skip_(generator)
    return module


@torch.no_grad()
def shrink_perturb_(
    module: nn.Module, fresh: nn.Module, shrink: float, perturb: float
) -> nn.Module:
    """Shrink-and-perturb warm start, in place: theta <- shrink * theta + perturb * theta_fresh.

    ``fresh`` is a newly initialised copy of the same architecture, so the noise follows the
    initialisation distribution (Ash & Adams 2020, "On Warm-Starting Neural Network Training",
    arXiv:1910.08475). Only parameters change; buffers (input statistics, BatchNorm running
    statistics) are kept.
    """
    for param, noise in zip(module.parameters(), fresh.parameters(), strict=True):
        param.mul_(shrink).add_(noise, alpha=perturb)
    return module
