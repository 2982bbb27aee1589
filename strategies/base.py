"""What every query strategy shares: input checks, rng tie-breaking, the base class, the registry.

A strategy answers one question, ``select(k, pool_idx, labelled_idx, view, rng)``: which ``k`` rows
of the pool should a person label next. ``pool_idx`` and ``labelled_idx`` index rows of the feature
matrix behind ``view`` (a :class:`strategies.view.ModelView`); the caller owns the split.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from numbers import Integral
from typing import ClassVar

import numpy as np

#: Pool rows per chunk when a strategy streams over probabilities (16,384 x C floats stay in L2).
CHUNK_ROWS = 16_384


class EmptyPoolError(ValueError):
    """There is nothing left to select from: the pool is empty."""


def chunks(n: int, size: int = CHUNK_ROWS) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` bounds that cover ``range(n)`` in pieces of at most ``size``."""
    for start in range(0, n, size):
        yield start, min(start + size, n)


def pool_blocks(
    pool_idx: np.ndarray, size: int = CHUNK_ROWS
) -> Iterator[tuple[int, int, slice | np.ndarray, np.ndarray | None]]:
    """Cover ``pool_idx`` in chunks, reading contiguous rows as slices (no copy) where possible.

    Yields ``(start, stop, block, take)``: ``block`` is ``slice(lo, hi)`` when the sorted rows
    ``pool_idx[start:stop]`` fill at least 80% of ``[lo, hi)``, else those rows themselves;
    ``take`` picks ``pool_idx[start:stop]`` out of a slice's rows (None: the block is exactly them).
    A pool that is "every row but the labelled ones" is then read without a gather.
    """
    for start, stop in chunks(pool_idx.size, size):
        rows = pool_idx[start:stop]
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        if hi - lo <= 1.25 * rows.size and np.all(rows[1:] > rows[:-1]):
            yield start, stop, slice(lo, hi), (None if hi - lo == rows.size else rows - lo)
        else:
            yield start, stop, rows, None


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_blas_thread():
    """Context manager: numpy's BLAS on one thread, for loops of many small products.

    Threads only wait on each other there: on this busy 2-core box a (4096 x 384) matrix-vector
    product took 4 ms on two BLAS threads and 0.25 ms on one.
    """
    return _blas_controller().limit(limits=1, user_api="blas")


def check_finite(values: np.ndarray, what: str, rows: np.ndarray | slice | None = None) -> None:
    """Raise ``ValueError`` naming ``what`` and the first bad row if ``values`` holds NaN or inf.

    ``values`` has rows on axis 0, or on axis 1 for samples of shape (T, n, C); ``rows`` maps
    positions to row numbers in the message (an index array or a slice).
    """
    finite = np.isfinite(values)
    if finite.all():
        return
    row_axis = 1 if values.ndim == 3 else 0
    other = tuple(a for a in range(values.ndim) if a != row_axis)
    first = int(np.flatnonzero(~finite.all(axis=other) if other else ~finite)[0])
    if isinstance(rows, slice):
        first += rows.start or 0
    elif rows is not None:
        first = int(rows[first])
    raise ValueError(f"{what} contain NaN or inf (row {first}); fix the input or the model")


def as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    """Return ``rng`` itself, or a fresh ``np.random.default_rng(rng)`` for an integer seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}"
    )


def _as_index(idx, name: str, n_rows: int) -> np.ndarray:
    idx = np.asarray([] if idx is None else idx)
    if idx.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {idx.shape}")
    if idx.size == 0:
        return idx.astype(np.int64)
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{name} must hold integer row indices, got dtype {idx.dtype}")
    if idx.min() < 0 or idx.max() >= n_rows:
        raise ValueError(f"{name} has rows outside [0, {n_rows}): min {idx.min()}, max {idx.max()}")
    return idx.astype(np.int64, copy=False)


def check_query(k, pool_idx, labelled_idx, n_rows: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Validate one query; return ``(k, pool_idx, labelled_idx)`` as an int and int64 arrays.

    Raises ``ValueError`` for ``k <= 0`` or rows outside ``[0, n_rows)``, and
    :class:`EmptyPoolError` for an empty pool. Indices are trusted to be unique and disjoint
    (checking that would cost a sort of the pool on every query).
    """
    if not isinstance(k, Integral) or isinstance(k, bool) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    pool_idx = _as_index(pool_idx, "pool_idx", n_rows)
    if pool_idx.size == 0:
        raise EmptyPoolError("the pool is empty: every item is labelled or skipped")
    return int(k), pool_idx, _as_index(labelled_idx, "labelled_idx", n_rows)


def top_k(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the ``k`` largest ``scores``, best first; ties broken by ``rng``.

    Deterministic for a given generator state. O(n): one ``argpartition``, then random order
    among equal scores (at the cut and inside the chosen set). ``scores``: (n,), no NaN.
    """
    n = scores.shape[0]
    k = min(k, n)
    if k < n:
        kth = scores[np.argpartition(scores, n - k)[n - k]]
        above = np.flatnonzero(scores > kth)
        tied = np.flatnonzero(scores == kth)
        tied = rng.choice(tied, k - above.size, replace=False) if tied.size else tied
        chosen = np.concatenate([above, tied])
    else:
        chosen = np.arange(n)
    order = np.lexsort((rng.random(chosen.size), -scores[chosen]))
    return chosen[order]


class QueryStrategy:
    """Base of every query strategy (template method, as small-text's ``QueryStrategy``).

    Subclasses write ``_select`` only; ``select`` checks the input, returns the whole pool when
    ``k >= len(pool_idx)`` (nothing to choose, the model is not called) and keeps the scores of
    the last query in ``scores_``. Parameters are keyword-only and stored unchanged.
    """

    #: The registry name, set by :func:`register`.
    name: ClassVar[str] = ""
    #: The view's outputs the strategy reads (of :data:`OUTPUTS`), set by :func:`register`.
    needs: ClassVar[tuple[str, ...]] = ()
    #: Whether it runs before there is a model (a project's first round), set by :func:`register`.
    cold_start: ClassVar[bool] = False
    #: Its place in the lists people see (the app, ``protolabel simulate``), set by :func:`register`.
    listed: ClassVar[int] = 0

    def select(
        self, k: int, pool_idx, labelled_idx, view, rng: np.random.Generator | int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Choose ``k`` rows of the pool to label next.

        Parameters
        ----------
        k : int
            Batch size, > 0.
        pool_idx : array of int, shape (n_pool,)
            Unlabelled rows of the feature matrix to choose from (unique).
        labelled_idx : array of int, shape (n_labelled,), or None
            Rows already labelled (disjoint from the pool).
        view : ModelView
            Lazy access to the model's outputs over the feature matrix.
        rng : numpy.random.Generator or int
            Source of every random choice and tie-break; never the global state.

        Returns
        -------
        chosen : ndarray of int64, shape (min(k, n_pool),)
            Rows (values of ``pool_idx``), best first.
        scores : ndarray of float, shape (n_pool,)
            Utility of each pool row (higher = asked earlier), aligned with ``pool_idx``;
            NaN where the strategy did not score a row (outside its candidate set).
        """
        k, pool_idx, labelled_idx = check_query(k, pool_idx, labelled_idx, view.n_rows)
        rng = as_generator(rng)
        if k >= pool_idx.size:
            positions, scores = np.arange(pool_idx.size), np.full(pool_idx.size, np.nan)
        else:
            positions, scores = self._select(k, pool_idx, labelled_idx, view, rng)
        self.scores_ = scores
        return pool_idx[positions], scores

    def _select(
        self, k: int, pool_idx: np.ndarray, labelled_idx: np.ndarray, view, rng
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(positions into pool_idx, scores)``; ``0 < k < len(pool_idx)``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(
            f"{key}={value!r}" for key, value in vars(self).items() if key[-1] != "_"
        )
        return f"{type(self).__name__}({params})"


#: Registry: strategy name -> class. Filled by :func:`register` when the modules are imported.
STRATEGIES: dict[str, type[QueryStrategy]] = {}

#: What a strategy may read of a :class:`~strategies.view.ModelView`: class probabilities,
#: MC-dropout samples, committee members' probabilities (all three need a model), and the
#: features or the model's embedding of them (the raw features without a model).
OUTPUTS = ("proba", "mc", "committee", "features")


def register(
    name: str, *, needs: tuple[str, ...], listed: int, cold_start: bool = False
) -> Callable[[type[QueryStrategy]], type[QueryStrategy]]:
    """Class decorator: record ``cls`` under ``name`` in :data:`STRATEGIES`, with the outputs it
    reads (``needs``), its place in the lists people see (``listed``) and whether it runs
    without a model (``cold_start``: it may read ``"features"`` only). Everything else that
    lists strategies (``strategies.NAMES``, the planner's cold start, the simulation's record
    of pool strategies, the benchmarks) reads these, so a new strategy is its module and one
    import in ``strategies/__init__.py``."""
    unknown = set(needs) - set(OUTPUTS)
    if unknown:
        raise ValueError(f"strategy {name!r} needs unknown outputs {sorted(unknown)}")
    if cold_start and set(needs) - {"features"}:
        raise ValueError(f"strategy {name!r} cannot start cold: it reads {needs}")

    def decorate(cls: type[QueryStrategy]) -> type[QueryStrategy]:
        if name in STRATEGIES and STRATEGIES[name] is not cls:
            raise ValueError(f"two strategies are registered as {name!r}")
        cls.name, cls.needs, cls.listed, cls.cold_start = name, tuple(needs), listed, cold_start
        STRATEGIES[name] = cls
        return cls

    return decorate


def get_strategy(name: str, **params) -> QueryStrategy:
    """Build the strategy registered as ``name`` with keyword ``params``."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; choose one of {sorted(STRATEGIES)}") from None
    return cls(**params)
