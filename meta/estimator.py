"""``ProtoNetClassifier``: a scikit-learn classifier around a prototypical network.

Snell, Swersky & Zemel (2017), "Prototypical Networks for Few-shot Learning", arXiv:1703.05175.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import os
import threading
import warnings
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from meta.protonet import (
    Dropout,
    Encoder,
    build_encoder,
    class_sums,
    compute_prototypes,
    cross_validated_l2,
    fit_offset_logistic,
    fitted_prior_strength,
    prior_prototypes,
    prototype_head,
    prototype_temperature,
    refine_prototypes,
    shrink_perturb_,
    use_generator,
)
from meta.training import TRAININGS, TrainConfig, train_encoder

__all__ = ["ProtoNetClassifier", "resolve_device"]

_FORMAT = "protolabel.meta.ProtoNetClassifier/1"
_TUPLE_PARAMS = ("hidden_sizes", "conv_channels")
_ARCH_PARAMS = ("encoder", "hidden_sizes", "conv_channels", "embedding_dim", "skip")
_COMMITTEES = ("bootstrap", "independent")
# Streams of the per-fit seed, so that each random consumer is independent of the others.
_MC_STREAM, _BOOTSTRAP_STREAM, _MEMBER_STREAM, _DROPOUT_STREAM, _UNLABELLED_STREAM = 1, 2, 3, 4, 5
_HEAD_CV_STREAM = 6
#: ``linear_l2="cv"``: the penalties cross-validated, the folds (so labels needed per class) and
#: the most labelled rows it uses (a stratified sample beyond), so a retrain on many labels
#: stays bounded.
HEAD_L2_GRID = (1.0, 4.0, 16.0, 64.0)
HEAD_CV_FOLDS = 3
HEAD_CV_MAX_ROWS = 2000


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; anything else as given (checked)."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:i]', got {device!r}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available here")
    return resolved


def _check_finite(chunk: np.ndarray, start: int) -> None:
    """Raise a ValueError naming NaN or infinity and the first bad row."""
    finite = np.isfinite(chunk)
    if finite.all():
        return
    row = start + int(np.flatnonzero(~finite.all(axis=1))[0])
    what = "NaN" if np.isnan(chunk).any() else "infinity"
    raise ValueError(f"Input X contains {what} (first at row {row}).")


def _in_threads(method):
    """Run an inference method with torch on one thread; ``n_threads`` chunk threads run the
    chunks (see the class docstring and ``ProtoNetClassifier._each_chunk``)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with _torch_threads(1):
            return method(self, *args, **kwargs)

    return wrapper


def _usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, as a container's cpuset sets it),
    at most 8: the chunk threads of ``n_threads=None``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


_THREADS_LOCK = threading.Lock()
_threads_held = {"blocks": 0, "before": 0}  # blocks inside _torch_threads, the setting before


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads; the setting is process-wide, so it is
    restored when the last of the blocks running at once ends (several Streamlit sessions or
    chunk threads fit and predict at the same time: saving and restoring per block would leave
    the process on one thread when two blocks overlap)."""
    with _THREADS_LOCK:
        if _threads_held["blocks"] == 0:
            _threads_held["before"] = torch.get_num_threads()
        _threads_held["blocks"] += 1
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _threads_held["blocks"] -= 1
            if _threads_held["blocks"] == 0:
                torch.set_num_threads(_threads_held["before"])


class ProtoNetClassifier(ClassifierMixin, BaseEstimator):
    """Prototypical-network classifier (Snell et al. 2017, arXiv:1703.05175), scikit-learn API.

    An encoder f maps items to embeddings; class c is the mean embedding v_c of its labelled
    examples and p(y=c|x) = softmax_c(-||f(x) - v_c||^2 / t), t = ``temperature_`` (a scale of
    the embedding, see ``prototype_temperature``), plus by default a linear head on the input
    fitted on top of those logits (``linear_l2``). It predicts from a single label per
    class, retrains in well under a second after an annotation round, and gives the query
    strategies probabilities, embeddings, MC-dropout samples and a committee.

    Defaults are the best of ``bench/meta_bench.py`` part (b): digits, nested random labelled
    sets of 10/20/50/100, 5 seeds, mean test accuracy at 10 and 20 labels (the few-shot regime).
    Episodic training, hidden (128,), with the skip: 0.540 / 0.689 (then 0.828 / 0.894 at 50 /
    100); cross-entropy 0.543 / 0.673, ce+episodic 0.542 / 0.676, hidden (256,) 0.534 / 0.687,
    no skip 0.515 / 0.653; LogisticRegression 0.543 / 0.668 (0.834 / 0.889). Warm starts
    scored below a fresh fit (0.883 vs 0.894 at 100 labels) and a fresh retrain is as fast, so
    warm starting is offered, not required;
    shrink 0.6 / perturb 0.1 was the best warm start measured (no shrink-perturb 0.881, shrink
    0.3 0.872).

    Parameters
    ----------
    encoder : {"mlp", "conv"}, default="mlp"
        "mlp" over feature vectors; "conv" over flattened square single-channel images.
    hidden_sizes : tuple of int, default=(128,)
        Hidden widths of the MLP (one hidden layer = two Linear layers).
    embedding_dim : int, default=128
        Output width D of the encoder.
    conv_channels : tuple of int, default=(32, 64)
        Channels of the conv blocks (``encoder="conv"`` only).
    dropout : float, default=0.2
        Dropout rate after each hidden layer (and before the last conv Linear); used by ``mc_proba``.
    skip : bool, default=True
        MLP only: linear skip from the standardised input to the embedding, initialised so that
        the untrained encoder is nearest-class-mean on the features (see ``MLPEncoder``).
    training : {"episodic", "ce", "ce+episodic"}, default="episodic"
        Episodic prototypical loss, plain cross-entropy with a throw-away linear head, or half of
        the step budget each (cross-entropy first).
    n_way, n_shot, n_query : int, default=None, 5, 5
        Episode shape: classes per episode (None = all), support and query examples per class.
        Classes with at most ``n_shot`` examples use leave-one-out prototypes.
    max_steps : int, default=100
        Step budget per fit (0 = keep the initial encoder, only compute prototypes). Chosen on
        the suite's tuning half (``bench/results/learner_tuning_steps*.json``,
        ``suite-quick-tuning-steps*``): ``bench/learner_bench.py --suite tuning --seeds 5``
        gave mean accuracies minus logistic regression's within 0.001 of each other at 100 and
        200 steps at every size (1 to 50 per class, 200 and 500 labels; 0 steps: within
        0.005), and ``bench/label_efficiency.py --suite tuning --quick`` (3 seeds) mean AULC
        0.788 / 0.789 (auto) and 0.784 / 0.784 (margin), its ProtoNet runs taking 483 s
        instead of 590 s in all. A 1,000 x 384-d retrain took 0.33 s with early stop, 1.0 s for 200 steps (part
        a, shared box). With the cross-validated head, 25 steps kept the learner's accuracy
        (``bench/results/learner_tuning_cv_steps*.json``) but cost ``auto`` 0.008 AULC on the
        quick tuning run (``suite-quick-tuning-steps-cv``): its typicality rounds read the
        trained embedding.
    batch_size : int, default=128
        Rows per step of the cross-entropy phase.
    learning_rate, weight_decay : float, default=1e-3, 1e-4
        AdamW.
    tol, n_iter_no_change : float, int, default=0.01, 3
        Early stop when the mean loss of 10 steps has not dropped by a fraction ``tol`` of the best
        for ``n_iter_no_change`` windows.
    shrink, perturb : float, default=0.6, 0.1
        Shrink-and-perturb of a warm start (Ash & Adams 2020, arXiv:1910.08475):
        theta <- shrink * theta_previous + perturb * theta_fresh_init.
    committee : {"bootstrap", "independent"}, default="bootstrap"
        Design of ``committee_proba`` (see there).
    pretrained : bytes or fitted ProtoNetClassifier, default=None
        Encoder to start from (from :func:`meta.pretrain`, saved with ``to_bytes``); its input
        width and architecture must match. Not saved by ``to_bytes`` (its weights are).
    refine_steps : int, default=3
        Semi-supervised prototypes: when ``fit`` is given ``unlabelled`` rows, the prototypes
        are refined by up to this many steps of constrained k-means over them
        (:func:`meta.protonet.refine_prototypes`); 0 turns it off. ``bench/meta_bench.py``
        part b (digits, 20 seeds, random labelled sets, the rest of the pool unlabelled): test
        accuracy 0.488 -> 0.532 at 10 labels, 0.647 -> 0.713 at 20, 0.822 -> 0.863 at 50,
        0.892 -> 0.906 at 100. In a side run with one label per class first (10 seeds), 3 steps
        and 50 steps were within 0.006 of each other.
    max_unlabelled : int, default=20000
        At most this many unlabelled rows (a random sample under ``random_state``) are embedded
        for the refinement, so a 1M-row pool adds a bounded cost to a retrain.
    linear_l2 : float, "cv" or None, default="cv"
        A linear head on the standardised input x~ beside the prototypes: the logits are
        ``w * (-||f(x) - v_c||^2 / t) + a_c . x~ + b_c``, with (a, b) fitted after the encoder by
        multinomial logistic regression that takes the prototype logits as a fixed offset, L2
        penalty ``l2 / 2 ||a||^2`` (:func:`meta.protonet.fit_offset_logistic`). From one
        label per class the prototypes lead; as labels accumulate the linear head corrects
        them, so the classifier keeps up with a logistic regression on the same features.
        A number: that l2. "cv": l2 from ``HEAD_L2_GRID`` (1, 4, 16, 64) by 3-fold
        cross-validated log-loss (:func:`meta.protonet.cross_validated_l2`) once every class
        has 3 labels, 1 before. No single l2 served every set of the tuning half
        (``bench/learner_bench.py --suite tuning --seeds 5``, ``bench/results/learner_tuning_*``;
        worst cell, mean accuracy minus logistic regression's: l2 = 1 -0.042 (fine_foods, 500
        labels), 16 -0.024, 64 -0.036 (shuttle, 500)); "cv" -0.012 with every size's mean
        as good or better than l2 = 1 but at 5 shots (+0.002 against +0.003). Its cost: 12 small
        extra fits per retrain, on at most ``HEAD_CV_MAX_ROWS`` labelled rows (one thread,
        measured before the fits ran in the row space: digits, 500 labels 0.67 -> 0.99 s; 384-d, 20 classes, 500 labels 0.28 -> 1.95 s, 10,000 labels
        2.2 -> 3.6 s).
        None: prototypes only (the classifier of Snell et al.; the default before issue 14).
        With ``priors`` and a class without labels, the head is fitted with each class's
        description row as one more example of it (and the least penalty of the grid, as
        any class with fewer than 3 labels gets). On the suite's tuning half (FOLDOC,
        ``minilm+tfidf``, random labelled sets, 3 seeds) test accuracy at 10 / 20 / 30
        labels was 0.236 / 0.458 / 0.549 without priors, 0.293 / 0.486 / 0.541 with the
        priors and no head until every class had a label, 0.489 / 0.519 / 0.561 with this.
    prototype_weight : float, default=0.25
        ``w`` above (1 without the linear head). Chosen on the tuning half of the suite
        (``bench/learner_bench.py --suite tuning``, 7 sets, 3 seeds, random labelled sets of 1,
        2, 5, 20, 50 per class and of 200 and 500 labels; mean accuracy minus logistic
        regression's, worst over sets and sizes): prototypes only -0.026 at 1 shot, -0.008
        at 50 shots, worst -0.121; w = 1.0: worst -0.055; w = 0.5: worst -0.027; w = 0.25:
        means -0.001 to +0.014, worst -0.022. ``linear_l2`` 0.5 and 2.0 scored as 1.0; the head
        fitted on the unstandardised features scored worse (worst -0.047).
    prior_strength : float or "fitted", default="fitted"
        With ``priors`` (see ``fit``): how many labelled examples a class's prior is worth,
        prototype_c = (sum of its examples' embeddings + k * prior embedding) / (n_c + k).
        "fitted": k from (0.25, 0.5, 1, 2, 4, 8) by the leave-one-out accuracy of the labelled
        items in the untrained encoder's space (:func:`meta.protonet.fitted_prior_strength`),
        so each project learns how far its class descriptions can be trusted. Why fitted and
        not fixed: on the suite's tuning half a fixed k = 2 scored best
        (``bench/zero_shot.py --shrinkage``), but a fixed k fell below the plain means on
        another half's sets where the fitted k held (README, "Features that carry meaning").
    chunk_size : int, default=4096
        Rows per inference chunk, so memory stays bounded on a large pool; the unit of work of
        the chunk threads (a strategy's call of 16,384 rows runs on every core).
    n_threads : int or None, default=None
        CPU threads for inference (``predict_proba``, ``embed``, the committee): the chunks of a
        pool of more than one chunk run on this many threads, each running torch on one thread
        (chunk parallelism; MC dropout stays on one thread so its samples stay reproducible).
        None: one per CPU core this process may use, at most 8. Training always runs torch on
        one thread: its small batches run fastest so (a 1,000-label retrain 0.33 s against
        8.2 s on torch's two threads, OpenMP spin-waiting, ``bench/meta_bench.py`` part (a) on
        the shared 2-core box). Chunk threads do not spin: 1M x 384 ``predict_proba`` on that
        box, idle, took 5.2 s on one thread, 3.2 s on torch's two threads and 2.2 s on two
        chunk threads.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, episodes, dropout, MC samples and the committee.
    device : str, default="auto"
        "auto" -> cuda when available, else cpu.

    Attributes
    ----------
    classes_ : (n_classes,) labels, in the column order of ``predict_proba``.
    encoder_ : meta.protonet.Encoder, the trained encoder (eval mode), (N, d) -> (N, D).
    prototypes_ : (n_classes, D) float32 array.
    linear_ : (weight (n_classes, d), bias (n_classes,)) float32 of the linear head acting on the
        raw input (the standardisation folded in), or None without one.
    linear_l2_ : float or None, the head's penalty this fit used (the one "cv" chose).
    temperature_ : float, divides the squared distances in the softmax (equivalently, the
        embedding is scaled by 1/sqrt(temperature_)), set from the spread of the prototypes by
        :func:`meta.protonet.prototype_temperature` so that probabilities are not one-hot.
    n_features_in_ : int.
    device_ : torch.device.
    loss_curve_ : list of float, one loss per training step.
    n_steps_ : int, steps actually run (early stop may end before ``max_steps``).
    priors_ : (n_classes, d) float32 input rows of the class descriptions, or None (no priors).
    prior_strength_ : float or None, the k this fit used.
    """

    def __init__(
        self,
        *,
        encoder: str = "mlp",
        hidden_sizes: tuple[int, ...] = (128,),
        embedding_dim: int = 128,
        conv_channels: tuple[int, ...] = (32, 64),
        dropout: float = 0.2,
        skip: bool = True,
        training: str = "episodic",
        n_way: int | None = None,
        n_shot: int = 5,
        n_query: int = 5,
        max_steps: int = 100,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        tol: float = 0.01,
        n_iter_no_change: int = 3,
        shrink: float = 0.6,
        perturb: float = 0.1,
        committee: str = "bootstrap",
        refine_steps: int = 3,
        max_unlabelled: int = 20_000,
        linear_l2: float | str | None = "cv",
        prototype_weight: float = 0.25,
        prior_strength: float | str = "fitted",
        pretrained: bytes | ProtoNetClassifier | None = None,
        chunk_size: int = 4096,
        n_threads: int | None = None,
        random_state: int | np.random.RandomState | None = None,
        device: str = "auto",
    ) -> None:
        self.encoder = encoder
        self.hidden_sizes = hidden_sizes
        self.embedding_dim = embedding_dim
        self.conv_channels = conv_channels
        self.dropout = dropout
        self.skip = skip
        self.training = training
        self.n_way = n_way
        self.n_shot = n_shot
        self.n_query = n_query
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shrink = shrink
        self.perturb = perturb
        self.committee = committee
        self.refine_steps = refine_steps
        self.max_unlabelled = max_unlabelled
        self.linear_l2 = linear_l2
        self.prototype_weight = prototype_weight
        self.prior_strength = prior_strength
        self.pretrained = pretrained
        self.chunk_size = chunk_size
        self.n_threads = n_threads
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        X,
        y,
        *,
        priors: Mapping | None = None,
        unlabelled=None,
        warm_start_from: bytes | ProtoNetClassifier | None = None,
    ):
        """Train the encoder on the labelled set and compute the prototypes.

        Parameters
        ----------
        X : (n, d) array-like of floats.
        y : (n,) labels of any type; at least 2 classes (without ``priors``).
        priors : mapping of label -> (d,) row of floats, optional
            Zero-shot prototypes (issue 18; Snell et al. 2017, section 2.3): the features of a
            description of each class (its name, through the featurizer that made X). Its
            labels are the model's classes; every label of y needs one, and X and y may be
            empty (a model from the descriptions alone). Each prototype moves from its prior
            to the mean of its examples as they arrive (``prior_strength``). The encoder trains
            on the labelled rows once two classes have them.
        unlabelled : (m, d) array-like of floats, optional
            Rows without a label (e.g. the pool), used only to refine the prototypes (see
            ``refine_steps``); the encoder is trained on the labelled rows alone.
        warm_start_from : bytes or fitted ProtoNetClassifier, optional
            The previous round's model (e.g. the stored ``to_bytes`` of the last version): its
            encoder, shrunk and perturbed, is the starting point (Ash & Adams 2020). Takes
            precedence over ``pretrained``. Classes may differ between rounds.

        Returns
        -------
        self
        """
        self._check_params()
        if priors is None:
            X, y = validate_data(self, X, y, dtype=np.float32)
            with warnings.catch_warnings():  # one label per class is this learner's normal case
                warnings.filterwarnings(
                    "ignore", "The number of unique classes is greater than 50%"
                )
                check_classification_targets(y)
            classes, codes = np.unique(y, return_inverse=True)
            self.priors_ = None
        else:
            X, classes, codes = self._validate_priors(X, y, priors)
        if len(classes) < 2:
            raise ValueError(
                f"ProtoNetClassifier needs at least 2 classes to fit; got 1 class ({classes[0]!r})."
            )
        self.classes_ = classes
        self.device_ = resolve_device(self.device)
        self._seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        X = np.array(X, dtype=np.float32, order="C")  # own copy: kept as the support set
        unlabelled = self._unlabelled_sample(unlabelled)
        with _torch_threads(1):
            self._train(X, codes, warm_start_from, unlabelled)
        return self

    def _validate_priors(self, X, y, priors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """X checked against the priors' width, the classes (the priors' labels, sorted), the
        codes of y; sets ``priors_`` in the order of the classes."""
        if not isinstance(priors, Mapping) or not priors:
            raise ValueError("priors must map each class label to a row of features")
        classes = np.unique(np.asarray(list(priors)))
        if len(classes) != len(priors):
            raise ValueError("priors has labels that are equal once compared as an array")
        rows = [np.ravel(np.asarray(priors[c], dtype=np.float32)) for c in classes.tolist()]
        if len({len(row) for row in rows}) > 1:
            raise ValueError(f"priors' rows have different numbers of features: "
                             f"{sorted({len(row) for row in rows})}")  # fmt: skip
        rows = np.stack(rows)
        self.priors_ = validate_data(self, rows, dtype=np.float32)  # sets n_features_in_
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D, got shape {y.shape}")
        if len(y):
            X = validate_data(self, X, reset=False, dtype=np.float32)
            if len(X) != len(y):
                raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
        else:
            X = np.empty((0, self.n_features_in_), dtype=np.float32)
        unknown = sorted(set(y.tolist()) - set(classes.tolist()), key=str)
        if unknown:
            raise ValueError(
                f"labels without a prior: {unknown[:5]}; priors has {classes.tolist()}"
            )
        return X, classes, np.searchsorted(classes, y).astype(np.int64)

    def _unlabelled_sample(self, unlabelled) -> np.ndarray | None:
        """Checked float32 rows for the refinement (at most ``max_unlabelled``), or None."""
        if unlabelled is None or int(self.refine_steps) == 0:
            return None
        U = validate_data(self, unlabelled, reset=False, dtype=np.float32)
        if len(U) > int(self.max_unlabelled):
            rng = np.random.default_rng([self._seed, _UNLABELLED_STREAM])
            U = U[np.sort(rng.choice(len(U), int(self.max_unlabelled), replace=False))]
        return np.ascontiguousarray(U) if len(U) else None

    def _train(self, X: np.ndarray, codes: np.ndarray, warm_start_from, unlabelled) -> None:
        torch_gen = torch.Generator().manual_seed(self._seed)
        encoder = self._initial_encoder(X, warm_start_from, torch_gen)
        self.encoder_ = encoder
        self.prior_strength_ = self._prior_strength(X, codes)  # before training: see there
        present, dense = np.unique(codes, return_inverse=True)
        self.loss_curve_ = []
        if len(present) >= 2:  # with priors, classes without labels sit out the episodes
            self.loss_curve_ = train_encoder(
                encoder,
                torch.from_numpy(X).to(self.device_),
                dense.astype(np.int64),
                self._train_config(),
                rng=np.random.default_rng(self._seed),
                torch_gen=torch_gen,
                dropout_gen=self._generator(_DROPOUT_STREAM),
            )
        self.n_steps_ = len(self.loss_curve_)
        self._set_support(X, codes, unlabelled)

    def _prior_strength(self, X: np.ndarray, codes: np.ndarray) -> float | None:
        """``prior_strength`` as a number (None without priors). "fitted" scores the labelled
        items in the encoder's space before it trains on them: after training they sit on
        their class means, and every strength would look needless."""
        if self.priors_ is None:
            return None
        if self.prior_strength != "fitted":
            return float(self.prior_strength)
        return fitted_prior_strength(
            torch.from_numpy(self._embed_array(X)),
            torch.from_numpy(codes),
            torch.from_numpy(self._embed_array(self.priors_)),
        )

    def _check_params(self) -> None:
        if self.training not in TRAININGS:
            raise ValueError(f"training must be one of {TRAININGS}, got {self.training!r}")
        if self.committee not in _COMMITTEES:
            raise ValueError(f"committee must be one of {_COMMITTEES}, got {self.committee!r}")
        if self.linear_l2 not in (None, "cv") and not _positive_number(self.linear_l2):
            raise ValueError(f"linear_l2 must be > 0, 'cv' or None, got {self.linear_l2!r}")
        if self.prior_strength != "fitted" and not _positive_number(self.prior_strength):
            raise ValueError(f"prior_strength must be > 0 or 'fitted', got {self.prior_strength!r}")
        if not float(self.prototype_weight) > 0.0:
            raise ValueError(f"prototype_weight must be > 0, got {self.prototype_weight}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("max_steps", "n_iter_no_change", "refine_steps"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.n_threads is not None and int(self.n_threads) < 1:
            raise ValueError(f"n_threads must be >= 1 or None, got {self.n_threads}")
        for name in (
            "embedding_dim",
            "n_shot",
            "n_query",
            "batch_size",
            "chunk_size",
            "max_unlabelled",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def _train_config(self) -> TrainConfig:
        return TrainConfig(
            training=self.training,
            max_steps=int(self.max_steps),
            n_way=self.n_way,
            n_shot=int(self.n_shot),
            n_query=int(self.n_query),
            batch_size=int(self.batch_size),
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            tol=float(self.tol),
            n_iter_no_change=int(self.n_iter_no_change),
        )

    def _new_encoder(self, n_features: int, generator: torch.Generator) -> Encoder:
        return build_encoder(
            self.encoder,
            n_features,
            hidden_sizes=tuple(self.hidden_sizes),
            conv_channels=tuple(self.conv_channels),
            embedding_dim=int(self.embedding_dim),
            dropout=float(self.dropout),
            skip=bool(self.skip),
            generator=generator,
        )

    def _initial_encoder(self, X, warm_start_from, torch_gen) -> Encoder:
        """Fresh, pretrained, or warm-started (shrink-and-perturb) encoder on ``device_``."""
        encoder = self._new_encoder(X.shape[1], torch_gen)
        role, source = "warm_start_from", warm_start_from
        if source is None:
            role, source = "pretrained", self.pretrained
        if source is None:  # with priors, fitted on them too: X may be empty
            rows = X if self.priors_ is None else np.concatenate([X, self.priors_])
            encoder.standardize.fit_(torch.from_numpy(rows))
            return encoder.to(self.device_)
        source = _as_fitted(source, role)
        if source.n_features_in_ != X.shape[1]:
            raise ValueError(
                f"{role} model expects {source.n_features_in_} features but X has {X.shape[1]}."
            )
        fresh = copy.deepcopy(encoder)
        try:
            encoder.load_state_dict(source.encoder_.state_dict())
        except RuntimeError as err:
            mine = {k: getattr(self, k) for k in _ARCH_PARAMS}
            theirs = {k: getattr(source, k) for k in _ARCH_PARAMS}
            raise ValueError(
                f"{role} model has another encoder architecture: {theirs}; this classifier: {mine}."
            ) from err
        if role == "warm_start_from":
            shrink_perturb_(encoder, fresh, float(self.shrink), float(self.perturb))
        return encoder.to(self.device_)

    def _set_support(self, X: np.ndarray, codes: np.ndarray, unlabelled=None) -> None:
        """Keep the labelled set (for committees); set ``prototypes_`` and ``temperature_``,
        refined with the ``unlabelled`` rows when given."""
        self._support_X = X
        self._support_codes = codes.astype(np.int64)
        self._unlabelled_X = unlabelled  # in memory only, for independent committee members
        self._unlabelled_sums = self._unlabelled_counts = None
        self._members: list[tuple[Encoder, np.ndarray, float]] = []
        embeddings = torch.from_numpy(self._embed_array(X))
        labels = torch.from_numpy(self._support_codes)
        n_way, priors = len(self.classes_), self._prior_embeddings()
        if unlabelled is None and priors is None:
            prototypes = compute_prototypes(embeddings, labels, n_way)
        elif unlabelled is None:
            prototypes = prior_prototypes(embeddings, labels, priors, self.prior_strength_)
        else:
            prototypes, sums, counts = refine_prototypes(
                embeddings,
                labels,
                torch.from_numpy(self._embed_array(unlabelled)),
                n_way,
                int(self.refine_steps),
                priors=priors,
                strength=self.prior_strength_ or 0.0,
            )
            self._unlabelled_sums, self._unlabelled_counts = sums.numpy(), counts.numpy()
        self.prototypes_ = prototypes.numpy()
        self.temperature_ = prototype_temperature(prototypes)
        X, embeddings, labels = self._head_rows(X, embeddings, labels, priors)
        self.linear_l2_ = self._head_penalty(X, embeddings, labels)
        self.linear_ = self._fit_linear(X, embeddings, labels)

    def _head_rows(self, X, embeddings, labels, priors):
        """The head's training rows: with priors and a class without labels, each class's
        description joins as one example of it (else the head would learn never to predict
        the classes it has not seen); otherwise the labelled rows as they are."""
        n_way = len(self.classes_)
        if priors is None or torch.bincount(labels, minlength=n_way).min() > 0:
            return X, embeddings, labels
        return (
            np.concatenate([X, self.priors_]),
            torch.cat([embeddings, priors]),
            torch.cat([labels, torch.arange(n_way)]),
        )

    def _prior_embeddings(self) -> torch.Tensor | None:
        """The priors through the encoder, (n_classes, D); None without priors."""
        return None if self.priors_ is None else torch.from_numpy(self._embed_array(self.priors_))

    def _prior_map(self) -> dict | None:
        """``priors_`` as ``fit`` takes them."""
        if self.priors_ is None:
            return None
        return dict(zip(self.classes_.tolist(), self.priors_, strict=True))

    def _prototype_scale(self) -> float:
        """The weight of the prototype logits: ``prototype_weight`` beside a linear head, else 1."""
        return 1.0 if self.linear_l2 is None else float(self.prototype_weight)

    def _head_input(self, X: np.ndarray) -> torch.Tensor:
        """The linear head's input: X in the encoder's own standardisation, on the CPU."""
        mean = self.encoder_.standardize.mean.detach().cpu()
        scale = self.encoder_.standardize.scale.detach().cpu()
        return (torch.from_numpy(X) - mean) / scale

    def _head_penalty(self, X: np.ndarray, embeddings, labels) -> float | None:
        """``linear_l2`` as a number: for ``"cv"``, the value of ``HEAD_L2_GRID`` with the least
        held-out log-loss (:func:`meta.protonet.cross_validated_l2`, on at most
        ``HEAD_CV_MAX_ROWS`` labelled rows) once every class has ``HEAD_CV_FOLDS`` labels,
        before that the grid's first (least) penalty."""
        if self.linear_l2 != "cv":
            return None if self.linear_l2 is None else float(self.linear_l2)
        codes = labels.numpy()
        if np.bincount(codes, minlength=len(self.classes_)).min() < HEAD_CV_FOLDS:
            return HEAD_L2_GRID[0]
        rows = self._head_cv_rows(codes)
        penalty, _ = cross_validated_l2(
            self._head_input(X[rows]), labels[rows], embeddings[rows], HEAD_L2_GRID,
            float(self.prototype_weight), folds=HEAD_CV_FOLDS, seed=self._seed,
        )  # fmt: skip
        return penalty

    def _head_cv_rows(self, codes: np.ndarray) -> np.ndarray:
        """All labelled rows, or beyond ``HEAD_CV_MAX_ROWS`` a seeded sample of each class in
        proportion (at least ``HEAD_CV_FOLDS`` of each)."""
        if len(codes) <= HEAD_CV_MAX_ROWS:
            return np.arange(len(codes))
        rng = np.random.default_rng([self._seed, _HEAD_CV_STREAM])
        share = HEAD_CV_MAX_ROWS / len(codes)
        picks = []
        for c in range(len(self.classes_)):
            rows = np.flatnonzero(codes == c)
            keep = max(HEAD_CV_FOLDS, round(share * len(rows)))
            picks.append(rng.choice(rows, size=keep, replace=False))
        return np.sort(np.concatenate(picks))

    def _fit_linear(
        self, X: np.ndarray, embeddings, labels, prototypes=None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The linear head on the input, fitted on top of the logits of ``prototypes`` (default
        ``prototypes_``) with the penalty ``linear_l2_``; (weight, bias) acting on the raw input,
        or None when off."""
        if self.linear_l2_ is None:
            return None
        prototypes = torch.from_numpy(self.prototypes_) if prototypes is None else prototypes
        weight, bias = prototype_head(prototypes, self.temperature_)
        offset = self._prototype_scale() * (embeddings @ weight.T + bias)
        scale = self.encoder_.standardize.scale.detach().cpu()
        mean = self.encoder_.standardize.mean.detach().cpu()
        weight, bias = fit_offset_logistic(self._head_input(X), labels, offset, self.linear_l2_)
        raw_weight = weight / scale  # W (x - m) / s + b = (W / s) x + (b - (W / s) m)
        return raw_weight.numpy(), (bias - raw_weight @ mean).numpy()

    def _head(self, prototypes, temperature) -> tuple[torch.Tensor, torch.Tensor]:
        """The prototype head on ``device_``, scaled by the prototype weight."""
        weight, bias = prototype_head(torch.from_numpy(prototypes).to(self.device_), temperature)
        scale = self._prototype_scale()
        return weight * scale, bias * scale

    def _linear_logits(self, xb: torch.Tensor, linear) -> torch.Tensor | float:
        """(rows, C) logits of the linear head on a raw-input chunk; 0.0 without one."""
        if linear is None:
            return 0.0
        weight, bias = (torch.from_numpy(a).to(xb.device) for a in linear)
        return F.linear(xb, weight, bias)

    # ------------------------------------------------------------ inference
    def _generator(self, stream: int) -> np.random.Generator | torch.Generator:
        """Generator for dropout masks, seeded by the fit seed and a stream id."""
        if self.device_.type == "cuda":
            seed = int(np.random.SeedSequence([self._seed, stream]).generate_state(1)[0])
            return torch.Generator(device=self.device_).manual_seed(seed)
        return np.random.default_rng([self._seed, stream])

    def _validate_inference(self, X) -> np.ndarray:
        """Check fitted, 2-D, width (expected vs got); no dtype copy of the whole array."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite=False)
        self.encoder_.eval()
        return X

    def _chunk(self, X: np.ndarray, start: int, rows: int) -> torch.Tensor:
        """Rows ``start:start + rows`` as a float32 tensor on device_, checked for NaN/inf."""
        chunk = np.asarray(X[start : start + rows], dtype=np.float32)
        _check_finite(chunk, start)
        if not (chunk.flags.writeable and chunk.flags.c_contiguous):
            chunk = np.array(chunk, order="C")
        return torch.from_numpy(chunk).to(self.device_)

    def _chunk_threads(self, n_chunks: int) -> int:
        if self.device_.type != "cpu" or n_chunks < 2:
            return 1
        wanted = _usable_cores() if self.n_threads is None else int(self.n_threads)
        return max(1, min(wanted, n_chunks))

    def _each_chunk(self, X: np.ndarray, rows: int, fn, *, parallel: bool = True) -> None:
        """Call ``fn(start, chunk)`` for each chunk of ``rows`` rows of X, in inference mode.

        On CPU the chunks run on ``n_threads`` threads (``parallel``; each chunk is read and
        converted by the thread that runs it, so at most that many chunks are in memory). A
        failing chunk (NaN, say) raises the error of the first such chunk in row order."""
        starts = range(0, len(X), rows)

        def run(start: int) -> None:
            with torch.inference_mode():  # thread-local: entered by the thread that runs
                fn(start, self._chunk(X, start, rows))

        threads = self._chunk_threads(len(starts)) if parallel else 1
        if threads == 1:
            for start in starts:
                run(start)
            return
        pool = ThreadPoolExecutor(threads, thread_name_prefix="protonet-chunk")
        try:
            for _ in pool.map(run, starts):
                pass
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _embed_array(self, X: np.ndarray) -> np.ndarray:
        encoder = self.encoder_.eval()
        with torch.inference_mode():
            width = encoder(torch.zeros(1, X.shape[1], device=self.device_)).shape[1]
        out = np.empty((len(X), width), dtype=np.float32)

        def embed(start: int, xb: torch.Tensor) -> None:
            out[start : start + len(xb)] = encoder(xb).cpu().numpy()

        self._each_chunk(X, int(self.chunk_size), embed)
        return out

    def _proba_array(
        self, X, encoder=None, prototypes=None, temperature=None, linear=False, T=1
    ) -> np.ndarray:
        """(T, N, C) probabilities (T dropout samples when Dropout layers are in train mode);
        ``linear``: the linear head, False for this model's."""
        encoder = self.encoder_ if encoder is None else encoder
        prototypes = self.prototypes_ if prototypes is None else prototypes
        temperature = self.temperature_ if temperature is None else temperature
        linear = self.linear_ if linear is False else linear
        head = self._head(prototypes, temperature)
        out = np.empty((T, len(X), len(prototypes)), dtype=np.float32)

        def proba(start: int, xb: torch.Tensor) -> None:
            logits = encoder.tail_logits(encoder.stem(xb), T, head).view(T, len(xb), -1)
            p = torch.softmax(logits + self._linear_logits(xb, linear), dim=2)
            out[:, start : start + len(xb)] = p.cpu().numpy()

        # Dropout in train mode (MC samples) draws from one seeded stream: chunks in order.
        sampling = any(m.training for m in encoder.modules() if isinstance(m, Dropout))
        self._each_chunk(X, max(1, int(self.chunk_size) // T), proba, parallel=not sampling)
        return out

    @_in_threads
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities softmax(-w ||f(x) - v_c||^2 / t + a_c x + b_c) (see the class
        docstring); (N, d) -> (N, n_classes) float32, columns in the order of ``classes_``."""
        return self._proba_array(self._validate_inference(X))[0]

    def predict(self, X) -> np.ndarray:
        """Most probable label; (N, d) -> (N,) values from ``classes_``."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    @_in_threads
    def embed(self, X) -> np.ndarray:
        """Encoder output in eval mode; (N, d) -> (N, embedding_dim) float32."""
        return self._embed_array(self._validate_inference(X))

    @_in_threads
    def mc_proba(self, X, T: int = 20) -> np.ndarray:
        """Monte-Carlo dropout probabilities (Gal & Ghahramani 2016, arXiv:1506.02142).

        The deterministic layers before the first dropout run once per chunk; only the rest of
        the encoder runs T times, batched as a (T * rows, ...) tensor (baal's MC caching).
        Dropout is active, every other layer (normalisation included) stays in eval mode.
        Samples are seeded by ``random_state``: repeated calls return the same array (for a
        given ``chunk_size``). With ``dropout=0`` all T samples are identical.

        Returns
        -------
        (T, N, n_classes) float32.
        """
        X = self._validate_inference(X)
        T = _positive_int(T, "T")
        encoder = self.encoder_.eval()
        dropouts = [m for m in encoder.modules() if isinstance(m, Dropout)]
        with use_generator(encoder, self._generator(_MC_STREAM)):
            for m in dropouts:
                m.train()
            try:
                return self._proba_array(X, T=T)
            finally:
                for m in dropouts:
                    m.eval()

    # ------------------------------------------------------------ committee
    @_in_threads
    def committee_proba(self, X, M: int = 5) -> np.ndarray:
        """Probabilities of an M-member committee, for query-by-committee; (M, N, n_classes).

        ``committee="bootstrap"`` (default): members share the encoder and differ in their
        prototypes, each the class means of a stratified bootstrap resample of the labelled set
        (bagging, Breiman 1996, applied to the prototypes). One encoder pass over the pool
        serves all members (their prototype heads are stacked into one matrix product). A class
        with one label has the same prototype in every member, so early disagreement comes from
        the classes with several labels.

        ``committee="independent"``: this model and M - 1 encoders trained from other seeds on
        the labelled set (a deep ensemble, Lakshminarayanan et al. 2017, arXiv:1612.01474),
        trained on the first call and cached until the next ``fit``: M - 1 trainings, then M
        encoder passes over the pool.

        Why the default: bench/meta_bench.py part (d) (digits, 5 seeds, AUROC of the mean KL of
        members to their consensus for the model's errors at 10/20/50/100 labels; time over a
        1M x 384 pool after a 1,000-label fit). Independent members disagree more usefully
        (AUROC 0.815 / 0.809 / 0.857 / 0.871 against 0.720 / 0.763 / 0.785 / 0.845) but took
        6.1 predict_proba passes over the pool (15.7 s) against 2.0 (5.1 s). The issue asks for
        a committee that stays cheap on a large pool, so the default is the one within two
        forward passes; use ``committee="independent"`` on small pools.

        Returns
        -------
        (M, N, n_classes) float32.
        """
        X = self._validate_inference(X)
        M = _positive_int(M, "M")
        if self._support_X is None:
            raise ValueError(
                "committee_proba needs the labelled set, and this model was saved without it "
                "(to_bytes(include_support=False)); refit or save with the support."
            )
        if self.committee == "bootstrap":
            return self._bootstrap_committee(X, M)
        members = self._independent_members(M)
        return np.concatenate([self._proba_array(X, *member) for member in members])

    def _bootstrap_members(self, M: int) -> tuple[torch.Tensor, list | None]:
        """M stratified bootstrap resamples of the support: their prototypes (M, n_classes, D),
        class means with the unlabelled items the refinement assigned to each class (shared by
        all), and their linear heads, each refitted on its resample (None without a head)."""
        rng = np.random.default_rng([self._seed, _BOOTSTRAP_STREAM])
        codes = self._support_codes
        by_class = [np.flatnonzero(codes == c) for c in range(len(self.classes_))]
        support = torch.from_numpy(self._embed_array(self._support_X))
        priors = self._prior_embeddings()
        members, heads = [], []
        for _ in range(M):
            rows = np.concatenate([rng.choice(r, size=len(r), replace=True) for r in by_class])
            labels = torch.from_numpy(codes[rows])
            sums, counts = class_sums(support[rows], labels, len(by_class))
            if priors is not None:
                sums, counts = sums + self.prior_strength_ * priors, counts + self.prior_strength_
            if self._unlabelled_sums is not None:
                sums = sums + torch.from_numpy(self._unlabelled_sums)
                counts = counts + torch.from_numpy(self._unlabelled_counts)
            members.append(sums / counts.unsqueeze(1))
            head_rows = self._head_rows(self._support_X[rows], support[rows], labels, priors)
            heads.append(self._fit_linear(*head_rows, members[-1]))
        if self.linear_ is None:
            return torch.stack(members), None
        return torch.stack(members), heads

    def _bootstrap_committee(self, X: np.ndarray, M: int) -> np.ndarray:
        P, heads = self._bootstrap_members(M)
        P = P.to(self.device_)  # (M, C, D)
        weight, bias = prototype_head(P.flatten(0, 1), self.temperature_)  # all members at once
        linear = None
        if heads is not None:  # (M * C, d), (M * C,): every member's own head in one product
            linear = (np.concatenate([h[0] for h in heads]), np.concatenate([h[1] for h in heads]))
        scale = self._prototype_scale()
        out = np.empty((M, len(X), P.shape[1]), dtype=np.float32)
        encoder = self.encoder_.eval()

        def proba(start: int, xb: torch.Tensor) -> None:
            logits = encoder.tail_logits(encoder.stem(xb), 1, (weight * scale, bias * scale))
            logits = logits.view(len(xb), M, -1)  # (rows, M, C)
            if linear is not None:
                logits = logits + self._linear_logits(xb, linear).view(len(xb), M, -1)
            p = torch.softmax(logits, dim=2).transpose(0, 1)
            out[:, start : start + len(xb)] = p.cpu().numpy()

        self._each_chunk(X, int(self.chunk_size), proba)
        return out

    def _independent_members(self, M: int) -> list[tuple]:
        """Member 0 is this model; members 1..M-1 are trained with their own seeds, cached."""
        members = self._members or [
            (self.encoder_, self.prototypes_, self.temperature_, self.linear_)
        ]
        y = self.classes_[self._support_codes]
        for m in range(len(members), M):
            seed = int(np.random.SeedSequence([self._seed, _MEMBER_STREAM, m]).generate_state(1)[0])
            member = clone(self).set_params(random_state=seed)
            member.fit(self._support_X, y, priors=self._prior_map(), unlabelled=self._unlabelled_X)
            members.append(
                (member.encoder_, member.prototypes_, member.temperature_, member.linear_)
            )
        self._members = members
        return members[:M]

    # ---------------------------------------------------------- persistence
    def to_bytes(self, *, include_support: bool = True) -> bytes:
        """Serialise to bytes: parameters and classes as JSON, tensors via ``torch.save``.

        Loadable with ``torch.load(weights_only=True)``: no pickled Python objects. The labelled
        set (``include_support``) is needed by ``committee_proba`` after loading; leave it out for
        a pretrained encoder on a large base set. ``pretrained`` is not stored (its weights are).
        """
        check_is_fitted(self)
        params = {k: v for k, v in self.get_params().items() if k != "pretrained"}
        if not isinstance(params["random_state"], int | None):
            params["random_state"] = None
        header = {
            "format": _FORMAT,
            "params": params,
            "classes": self.classes_.tolist(),
            "classes_dtype": self.classes_.dtype.str,
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": getattr(self, "feature_names_in_", np.array([])).tolist(),
            "seed": self._seed,
            "temperature": self.temperature_,
            "linear_l2": self.linear_l2_,
            "loss_curve": self.loss_curve_,
            "prior_strength": self.prior_strength_,
        }
        try:
            header_json = json.dumps(header)
        except TypeError as err:
            raise ValueError(
                f"to_bytes supports JSON-representable labels and params: {err}"
            ) from err
        payload = {
            "header": header_json,
            "encoder": {k: v.detach().cpu() for k, v in self.encoder_.state_dict().items()},
            "prototypes": torch.from_numpy(self.prototypes_),
        }
        if include_support:
            payload["support_X"] = torch.from_numpy(self._support_X)
            payload["support_codes"] = torch.from_numpy(self._support_codes)
        if self.linear_ is not None:
            payload["linear_weight"], payload["linear_bias"] = map(torch.from_numpy, self.linear_)
        if self.priors_ is not None:
            payload["priors"] = torch.from_numpy(self.priors_)
        if self._unlabelled_sums is not None:
            payload["unlabelled_sums"] = torch.from_numpy(self._unlabelled_sums)
            payload["unlabelled_counts"] = torch.from_numpy(self._unlabelled_counts)
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, device: str | None = None) -> ProtoNetClassifier:
        """Rebuild a fitted classifier from :meth:`to_bytes` output (``weights_only`` load).

        ``device`` overrides the stored ``device`` parameter.
        """
        try:
            payload = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
            header = json.loads(payload["header"])
        except Exception as err:  # noqa: BLE001 - any failure means: not our format
            raise ValueError(f"not a serialised ProtoNetClassifier: {err}") from err
        if header.get("format") != _FORMAT:
            raise ValueError(f"unknown format {header.get('format')!r}, expected {_FORMAT!r}")
        params = {k: v for k, v in header["params"].items() if k in cls._get_param_names()}
        if "linear_l2" not in params:  # saved before the linear head existed: prototypes only
            params["linear_l2"] = None
        params.update({k: tuple(params[k]) for k in _TUPLE_PARAMS if k in params})
        if device is not None:
            params["device"] = device
        model = cls(**params)
        model.device_ = resolve_device(model.device)
        model.classes_ = np.array(header["classes"], dtype=np.dtype(header["classes_dtype"]))
        model.n_features_in_ = header["n_features_in"]
        if header["feature_names_in"]:
            model.feature_names_in_ = np.array(header["feature_names_in"], dtype=object)
        model._seed = header["seed"]
        model.temperature_ = header["temperature"]
        fixed = None if params["linear_l2"] in (None, "cv") else float(params["linear_l2"])
        model.linear_l2_ = header.get("linear_l2", fixed)  # saved before "cv": the setting
        model.loss_curve_ = header["loss_curve"]
        model.n_steps_ = len(model.loss_curve_)
        encoder = model._new_encoder(model.n_features_in_, torch.Generator().manual_seed(0))
        encoder.load_state_dict(payload["encoder"])
        model.encoder_ = encoder.to(model.device_).eval()
        model.prototypes_ = payload["prototypes"].numpy()
        model.priors_ = payload["priors"].numpy() if "priors" in payload else None
        model.prior_strength_ = header.get("prior_strength")
        model.linear_ = None
        if "linear_weight" in payload:
            model.linear_ = (payload["linear_weight"].numpy(), payload["linear_bias"].numpy())
        model._support_X = payload["support_X"].numpy() if "support_X" in payload else None
        model._support_codes = (
            payload["support_codes"].numpy() if "support_codes" in payload else None
        )
        model._members = []
        model._unlabelled_X = None
        model._unlabelled_sums = model._unlabelled_counts = None
        if "unlabelled_sums" in payload:
            model._unlabelled_sums = payload["unlabelled_sums"].numpy()
            model._unlabelled_counts = payload["unlabelled_counts"].numpy()
        return model


def _positive_number(value) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool) and value > 0


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _as_fitted(source, role: str) -> ProtoNetClassifier:
    """A fitted ProtoNetClassifier from bytes or an instance."""
    if isinstance(source, bytes | bytearray | memoryview):
        return ProtoNetClassifier.from_bytes(bytes(source), device="cpu")
    if not isinstance(source, ProtoNetClassifier):
        raise TypeError(
            f"{role} must be bytes or a ProtoNetClassifier, got {type(source).__name__}"
        )
    check_is_fitted(source, msg=f"{role} model is not fitted")
    return source
