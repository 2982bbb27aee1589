"""ModelView: lazy, cached model outputs over the rows of one feature matrix.

A strategy asks the view for the rows it needs (``view.predict_proba(rows)``), so margin pays for
one forward pass over the pool, BALD for MC samples of its candidates only, and core-set for
embeddings only. Outputs are computed in batches, cached per row for the view's model version and
checked for NaN/inf. The view also takes arrays computed elsewhere (the app computes probabilities
once per model version; the benchmark passes precomputed arrays), which are read, not copied.
"""

from __future__ import annotations

import numpy as np

from strategies.base import check_finite, chunks

#: Rows per model call when the view computes outputs itself: large enough that the
#: prototypical network spreads a call's chunks over its threads (1M x 384 margin scores on the
#: 2-core box: 4.8 s in calls of 4,096 rows, 2.8 s in calls of 65,536), small enough that a
#: call's rows (gathered from a memory-mapped matrix) stay at a few hundred MB.
BATCH_ROWS = 65_536


class _RowCache:
    """Rows of one model output, computed once each, stored in the order they were computed.

    ``slot[i]`` is where row ``i`` lives in ``values`` (-1: not computed). ``values`` is allocated
    for all rows but never touched beyond what was computed, so resident memory follows use.
    """

    def __init__(self, n_rows: int):
        self.slot = np.full(n_rows, -1, dtype=np.int64)
        self.values: np.ndarray | None = None
        self.filled = 0

    def get(self, rows: np.ndarray, compute) -> np.ndarray:
        """Return outputs for ``rows`` (shape (len(rows), ...)), calling ``compute`` on misses:
        with a slice where they are a run of consecutive rows (read in place, not gathered),
        else with their sorted row numbers."""
        missing = rows[self.slot[rows] < 0]
        if missing.size:
            if not np.all(missing[1:] > missing[:-1]):
                missing = np.unique(missing)
            for start, stop in chunks(missing.size, BATCH_ROWS):
                part = missing[start:stop]
                lo, hi = int(part[0]), int(part[-1]) + 1
                out = compute(slice(lo, hi) if hi - lo == part.size else part)
                if self.values is None:
                    self.values = np.empty((self.slot.size, *out.shape[1:]), dtype=out.dtype)
                self.values[self.filled : self.filled + out.shape[0]] = out
                self.slot[missing[start:stop]] = np.arange(self.filled, self.filled + out.shape[0])
                self.filled += out.shape[0]
        return self.values[self.slot[rows]]


def _align_columns(proba: np.ndarray, member_classes, classes: np.ndarray) -> np.ndarray:
    """Put the columns of ``proba`` (n, len(member_classes)) in the order of ``classes``."""
    member_classes = np.asarray(member_classes)
    if member_classes.shape == classes.shape and np.array_equal(member_classes, classes):
        return proba
    column = {label: i for i, label in enumerate(classes.tolist())}
    out = np.zeros((proba.shape[0], classes.size), dtype=proba.dtype)
    out[:, [column[label] for label in member_classes.tolist()]] = proba
    return out


class ModelView:
    """What a query strategy may ask of a model, over the rows of one feature matrix.

    Works with the prototypical network (``predict_proba``, ``embed``, ``mc_proba``,
    ``committee_proba``, ``classes_``) and with any fitted scikit-learn classifier with
    ``predict_proba``. For such a classifier, MC and committee samples come from a bagged committee
    (Breiman 1996): clones fit on stratified bootstrap resamples of ``(X[train_idx], y_train)``,
    seeded from ``random_state``; ``mc_proba(rows, T)`` uses its first ``T`` members, as a deep
    ensemble stands in for posterior samples (Beluch et al. 2018). A model without ``embed`` is
    embedded by its raw features.

    Parameters
    ----------
    model : object or None
        The fitted model; None when every output a strategy needs is precomputed.
    X : array-like of shape (n_rows, n_features) or None
        Feature matrix (float32, may be a ``np.memmap``); ``pool_idx``/``labelled_idx`` index it.
    proba, embeddings : ndarray of shape (n_rows, n_classes) / (n_rows, n_dims), optional
        Precomputed ``predict_proba`` / ``embed`` outputs for every row.
    mc_samples, committee : ndarray of shape (T, n_rows, n_classes) / (M, n_rows, n_classes), optional
        Precomputed MC-dropout samples / committee members' probabilities for every row.
    classes : array-like of shape (n_classes,), optional
        Class labels (columns of the probabilities); default ``model.classes_``.
    train_idx, y_train : array-like of shape (n_train,), optional
        Rows of ``X`` the model was fit on and their labels: needed only to bag a committee.
    n_samples, n_members : int
        Default ``T`` for ``mc_proba`` and ``M`` for ``committee_proba``.
    random_state : int
        Seed of the bootstrap resamples.
    version : hashable
        Label of the model version the cached outputs belong to (see :meth:`update`).
    """

    def __init__(
        self,
        model=None,
        X=None,
        *,
        proba=None,
        embeddings=None,
        mc_samples=None,
        committee=None,
        classes=None,
        train_idx=None,
        y_train=None,
        n_samples: int = 20,
        n_members: int = 5,
        random_state: int = 0,
        version=0,
    ):
        self.X = X
        self.train_idx = train_idx
        self.y_train = y_train
        self.n_samples = n_samples
        self.n_members = n_members
        self.random_state = random_state
        self.update(
            model,
            proba=proba,
            embeddings=embeddings,
            mc_samples=mc_samples,
            committee=committee,
            classes=classes,
            version=version,
        )

    def update(
        self,
        model=None,
        *,
        proba=None,
        embeddings=None,
        mc_samples=None,
        committee=None,
        classes=None,
        version=None,
    ) -> ModelView:
        """Switch to a new model version: drop every cached output and bagged member.

        ``version`` None: the number of updates so far (0 for the view as built).
        """
        self.model = model
        self.proba, self.embeddings = proba, embeddings
        self.mc_samples, self.committee = mc_samples, committee
        self._n_updates = getattr(self, "_n_updates", -1) + 1
        self.version = version if version is not None else self._n_updates
        self.n_rows = self._count_rows()
        self.classes_ = self._find_classes(classes)
        self._cache: dict[tuple, _RowCache] = {}
        self._members: list = []
        return self

    def _count_rows(self) -> int:
        sizes = {
            name: array.shape[axis]
            for name, array, axis in [
                ("X", self.X, 0),
                ("proba", self.proba, 0),
                ("embeddings", self.embeddings, 0),
                ("mc_samples", self.mc_samples, 1),
                ("committee", self.committee, 1),
            ]
            if array is not None
        }
        if not sizes:
            raise ValueError("ModelView needs X or a precomputed array to know the rows")
        if len(set(sizes.values())) > 1:
            raise ValueError(f"row counts disagree: {sizes}")
        return next(iter(sizes.values()))

    def _find_classes(self, classes) -> np.ndarray | None:
        if classes is None and hasattr(self.model, "classes_"):
            classes = self.model.classes_
        widths = {
            a.shape[-1] for a in (self.proba, self.mc_samples, self.committee) if a is not None
        }
        if classes is None and widths:
            classes = np.arange(max(widths))
        if classes is not None and widths - {len(classes)}:
            raise ValueError(f"probability widths {sorted(widths)} != {len(classes)} classes")
        return None if classes is None else np.asarray(classes)

    @property
    def n_classes(self) -> int:
        """Number of classes C (columns of the probabilities)."""
        if self.classes_ is None:
            raise ValueError("the view knows no classes: pass classes= or a model with classes_")
        return len(self.classes_)

    # -- public outputs -------------------------------------------------------------------------

    def predict_proba(self, rows) -> np.ndarray:
        """Class probabilities of ``rows`` (int array or slice), shape (n, C)."""
        key, rows = self._rows(rows)
        if self.proba is not None:
            out = np.asarray(self.proba[key])
        else:
            out = self._cached(("proba",), rows, self._model_proba)
        check_finite(out, "probabilities (predict_proba)", rows)
        return out

    def embed(self, rows) -> np.ndarray:
        """Embeddings of ``rows``, shape (n, D): ``model.embed``, else the raw features."""
        key, rows = self._rows(rows)
        matrix = self.embedding_matrix()
        if matrix is not None:
            out = np.asarray(matrix[key])
        else:
            out = self._cached(("embed",), rows, lambda r: self._call("embed", self._rows_of_X(r)))
        what = "features" if matrix is self.X else "embeddings"
        check_finite(out, what, rows)
        return out

    def embedding_matrix(self):
        """The (n_rows, D) embedding array when it exists without computing anything, else None.

        Precomputed embeddings, or ``X`` itself for a model without ``embed``; strategies that
        sweep the whole pool (core-set) read it in slices instead of copying rows.
        """
        if self.embeddings is not None:
            return self.embeddings
        if self.model is None or not hasattr(self.model, "embed"):
            return self._need_X()
        return None

    def embedding_source(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """``(array, positions)`` with ``array[positions]`` the embeddings of ``rows``.

        The embedding matrix itself and ``rows`` when there is one (read in slices, never copied
        whole), else ``(self.embed(rows), arange(len(rows)))``.
        """
        matrix = self.embedding_matrix()
        if matrix is not None:
            return matrix, np.asarray(rows, dtype=np.int64)
        return self.embed(rows), np.arange(len(rows))

    def mc_proba(self, rows, T: int | None = None) -> np.ndarray:
        """``T`` MC-dropout samples of the probabilities of ``rows`` (array or slice), (T, n, C).

        ``T`` None: all precomputed samples, else ``n_samples``.
        """
        return self._samples("mc", self.mc_samples, "mc_proba", rows, T)

    def committee_proba(self, rows, M: int | None = None) -> np.ndarray:
        """Probabilities of ``rows`` from ``M`` committee members, shape (M, n, C).

        ``M`` None: all precomputed members, else ``n_members``.
        """
        return self._samples("committee", self.committee, "committee_proba", rows, M)

    # -- computing ------------------------------------------------------------------------------

    def _samples(self, kind: str, given, method: str, rows, count: int | None) -> np.ndarray:
        key, rows = self._rows(rows)
        if given is not None:
            count = count or given.shape[0]
            if given.shape[0] < count:
                raise ValueError(f"{count} {kind} samples asked, {given.shape[0]} precomputed")
            out = np.asarray(given[:count, key])
        else:
            count = count or (self.n_samples if kind == "mc" else self.n_members)
            # Cached row-major, (n, count, C), so a row is contiguous; returned as (count, n, C).
            out = self._cached(
                (kind, count), rows, lambda r: self._model_samples(method, r, count).swapaxes(0, 1)
            ).swapaxes(0, 1)
        check_finite(out, f"probabilities ({method})", rows)
        return out

    def _rows(self, rows) -> tuple[slice | np.ndarray, np.ndarray]:
        """``rows`` as an index into full arrays (a slice stays a slice) and as an int64 array."""
        if isinstance(rows, slice):
            return rows, np.arange(*rows.indices(self.n_rows))
        rows = np.asarray(rows, dtype=np.int64)
        return rows, rows

    def _cached(self, key: tuple, rows: np.ndarray, compute) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = _RowCache(self.n_rows)
        return self._cache[key].get(rows, compute)

    def _need_X(self):
        if self.X is None:
            raise ValueError("this output is not precomputed and the view has no features X")
        return self.X

    def _rows_of_X(self, rows: np.ndarray | slice) -> np.ndarray:
        return np.asarray(self._need_X()[rows])

    def _call(self, method: str, *args) -> np.ndarray:
        if self.model is None:
            raise ValueError(f"{method} is not precomputed and the view has no model")
        return np.asarray(getattr(self.model, method)(*args), dtype=np.float32)

    def _model_proba(self, rows: np.ndarray) -> np.ndarray:
        proba = self._call("predict_proba", self._rows_of_X(rows))
        if self.classes_ is None or not hasattr(self.model, "classes_"):
            return proba
        return _align_columns(proba, self.model.classes_, self.classes_)

    def _model_samples(self, method: str, rows: np.ndarray, count: int) -> np.ndarray:
        if hasattr(self.model, method):
            return self._call(method, self._rows_of_X(rows), count)
        X = self._rows_of_X(rows)
        members = self._bagged_members(count)
        return np.stack(
            [_align_columns(m.predict_proba(X), m.classes_, self.classes_) for m in members]
        ).astype(np.float32)

    def _bagged_members(self, count: int) -> list:
        """The first ``count`` members of the bagged committee, fitting the missing ones."""
        from sklearn.base import clone

        if self.train_idx is None or self.y_train is None:
            raise ValueError(
                f"{type(self.model).__name__} has no mc_proba/committee_proba: pass train_idx "
                "and y_train to ModelView to bag a committee of its clones"
            )
        train_idx = np.asarray(self.train_idx, dtype=np.int64)
        y = np.asarray(self.y_train)
        X = self._rows_of_X(train_idx)
        while len(self._members) < count:
            rng = np.random.default_rng([self.random_state, len(self._members)])
            sample = _stratified_bootstrap(y, rng)
            self._members.append(clone(self.model).fit(X[sample], y[sample]))
        return self._members[:count]


def _stratified_bootstrap(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of a bootstrap resample of ``y`` drawn within each class (every class kept)."""
    parts = [rng.choice(np.flatnonzero(y == c), np.sum(y == c)) for c in np.unique(y)]
    return np.sort(np.concatenate(parts))
