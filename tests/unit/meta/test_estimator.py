"""ProtoNetClassifier: the contract the app and the query strategies rely on."""

import functools
import io
import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from meta import ProtoNetClassifier, pretrain
from meta.estimator import resolve_device

FAST = dict(max_steps=40, hidden_sizes=(32,), embedding_dim=16)


@pytest.fixture(scope="module")
def blobs():
    """4 Gaussian classes in 12-d: (X_train (80, 12), y_train, X_test (200, 12), y_test)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(4, 12))

    def draw(n):
        y = np.repeat(np.arange(4), n)
        return (centres[y] + rng.normal(size=(len(y), 12))).astype(np.float32), y

    X, y = draw(20)
    X_test, y_test = draw(50)
    return X, y, X_test, y_test


@pytest.fixture(scope="module")
def fitted(blobs):
    X, y, _, _ = blobs
    return ProtoNetClassifier(random_state=0, **FAST).fit(X, y)


def test_predict_proba_is_a_distribution_over_classes(fitted, blobs):
    _, _, X_test, y_test = blobs
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (200, 4) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(fitted.predict(X_test), fitted.classes_[proba.argmax(axis=1)])
    assert fitted.score(X_test, y_test) > 0.9
    assert fitted.n_features_in_ == 12 and 0 < fitted.n_steps_ <= 40
    assert fitted.prototypes_.shape == (4, 16) and fitted.temperature_ > 0


def test_string_labels_and_column_order(blobs):
    X, y, X_test, y_test = blobs
    names = np.array(["zebra", "ant", "moth", "cat"])
    model = ProtoNetClassifier(random_state=0, **FAST).fit(X, names[y])
    np.testing.assert_array_equal(model.classes_, ["ant", "cat", "moth", "zebra"])
    pred = model.predict(X_test)
    assert pred.dtype.kind == "U" and np.mean(pred == names[y_test]) > 0.9
    proba = model.predict_proba(X_test)
    column = {c: i for i, c in enumerate(model.classes_)}
    true_col = np.array([column[n] for n in names[y_test]])
    assert np.mean(proba.argmax(axis=1) == true_col) > 0.9


def test_single_example_classes_and_unbalanced_classes(blobs):
    X, y, X_test, y_test = blobs
    keep = np.concatenate(
        [
            np.flatnonzero(y == 0),
            np.flatnonzero(y == 1)[:1],
            np.flatnonzero(y == 2)[:1],
            np.flatnonzero(y == 3)[:3],
        ]
    )
    model = ProtoNetClassifier(random_state=0, **FAST).fit(X[keep], y[keep])
    np.testing.assert_array_equal(model.classes_, [0, 1, 2, 3])
    assert model.score(X_test, y_test) > 0.8
    one_shot = ProtoNetClassifier(random_state=0, **FAST).fit(
        X[[0, 20, 40, 60]], y[[0, 20, 40, 60]]
    )
    np.testing.assert_array_equal(one_shot.predict(X[[0, 20, 40, 60]]), [0, 1, 2, 3])
    assert one_shot.n_steps_ == 0  # one example per class: no query, nothing to train on
    assert one_shot.score(X_test, y_test) > 0.8


def test_same_seed_same_model_other_seed_other_model(blobs):
    X, y, X_test, _ = blobs
    a = ProtoNetClassifier(random_state=7, **FAST).fit(X, y).predict_proba(X_test)
    b = ProtoNetClassifier(random_state=7, **FAST).fit(X, y).predict_proba(X_test)
    c = ProtoNetClassifier(random_state=8, **FAST).fit(X, y).predict_proba(X_test)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("training", ["episodic", "ce"])
def test_fit_does_not_touch_global_random_state(blobs, training):
    X, y, _, _ = blobs
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002 - the legacy global state is the point
    ProtoNetClassifier(training=training, random_state=0, **FAST).fit(X, y).mc_proba(X, T=2)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002


@pytest.mark.parametrize("training", ["episodic", "ce", "ce+episodic"])
def test_each_training_mode_learns(blobs, training):
    X, y, X_test, y_test = blobs
    model = ProtoNetClassifier(training=training, random_state=0, **FAST).fit(X, y)
    assert model.score(X_test, y_test) > 0.9


@pytest.mark.parametrize("linear_l2", [None, 1.0])
def test_mc_samples_vary_with_dropout_and_are_reproducible(blobs, linear_l2):
    X, y, X_test, _ = blobs
    model = ProtoNetClassifier(linear_l2=linear_l2, random_state=0, **FAST).fit(X, y)
    mc = model.mc_proba(X_test, T=8)
    assert mc.shape == (8, 200, 4) and mc.dtype == np.float32
    np.testing.assert_allclose(mc.sum(axis=2), 1.0, rtol=1e-5)
    # the linear head is deterministic and confident on these blobs: smaller, not zero
    assert np.abs(mc - mc[0]).max() > (1e-4 if linear_l2 is None else 1e-6)
    np.testing.assert_array_equal(model.mc_proba(X_test, T=8), mc)
    assert np.abs(mc.mean(axis=0) - model.predict_proba(X_test)).mean() < 0.05


def test_mc_samples_identical_without_dropout(blobs):
    X, y, X_test, _ = blobs
    model = ProtoNetClassifier(dropout=0.0, random_state=0, **FAST).fit(X, y)
    mc = model.mc_proba(X_test, T=5)
    for sample in mc:
        np.testing.assert_array_equal(sample, mc[0])
    np.testing.assert_allclose(mc[0], model.predict_proba(X_test), atol=1e-6)


def test_mc_keeps_batchnorm_in_eval_mode():
    X, y = load_digits(return_X_y=True)
    X, y = X[:120], y[:120]
    model = ProtoNetClassifier(
        encoder="conv",
        conv_channels=(4, 8),
        embedding_dim=16,
        dropout=0.0,
        max_steps=10,
        random_state=0,
    )
    model.fit(X, y)
    # BatchNorm in train mode would normalise with the statistics of each chunk
    mc = model.mc_proba(X[:30], T=3)
    np.testing.assert_allclose(mc[1], model.predict_proba(X[:30]), atol=1e-6)
    assert model.embed(X[:5]).shape == (5, 16)
    loaded = ProtoNetClassifier.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(loaded.predict_proba(X[:30]), model.predict_proba(X[:30]))


@pytest.mark.parametrize(
    ("committee", "linear_l2"), [("bootstrap", None), ("bootstrap", 1.0), ("independent", None)]
)
def test_committee_members_differ(blobs, committee, linear_l2):
    X, y, X_test, _ = blobs
    model = ProtoNetClassifier(committee=committee, linear_l2=linear_l2, random_state=0, **FAST)
    votes = model.fit(X, y).committee_proba(X_test, M=3)
    assert votes.shape == (3, 200, 4) and votes.dtype == np.float32
    np.testing.assert_allclose(votes.sum(axis=2), 1.0, rtol=1e-5)
    assert np.abs(votes[1] - votes[0]).max() > 1e-3 and np.abs(votes[2] - votes[1]).max() > 1e-3
    np.testing.assert_array_equal(model.committee_proba(X_test, M=3), votes)


def test_round_trip_through_bytes_gives_identical_outputs(fitted, blobs):
    _, _, X_test, _ = blobs
    data = fitted.to_bytes()
    payload = torch.load(io.BytesIO(data), weights_only=True)
    assert set(payload) >= {"header", "encoder", "prototypes"}
    loaded = ProtoNetClassifier.from_bytes(data)
    np.testing.assert_array_equal(loaded.predict_proba(X_test), fitted.predict_proba(X_test))
    np.testing.assert_array_equal(loaded.mc_proba(X_test, T=4), fitted.mc_proba(X_test, T=4))
    np.testing.assert_array_equal(
        loaded.committee_proba(X_test, M=3), fitted.committee_proba(X_test, M=3)
    )
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)


def test_round_trip_keeps_string_labels_and_support_is_optional(blobs):
    X, y, X_test, _ = blobs
    model = ProtoNetClassifier(random_state=0, **FAST).fit(X, np.array(["a", "b", "c", "d"])[y])
    loaded = ProtoNetClassifier.from_bytes(model.to_bytes(include_support=False))
    np.testing.assert_array_equal(loaded.predict(X_test), model.predict(X_test))
    with pytest.raises(ValueError, match="labelled set"):
        loaded.committee_proba(X_test)
    with pytest.raises(ValueError, match="not a serialised ProtoNetClassifier"):
        ProtoNetClassifier.from_bytes(b"not a model")


def test_warm_start_from_previous_round(blobs):
    X, y, X_test, y_test = blobs
    first = ProtoNetClassifier(random_state=0, **FAST).fit(X[y < 3][:30], y[y < 3][:30])
    # the next round brings more labels and a new class; the app passes the stored bytes
    warm = ProtoNetClassifier(random_state=0, **FAST).fit(X, y, warm_start_from=first.to_bytes())
    assert warm.score(X_test, y_test) > 0.9
    fresh = ProtoNetClassifier(random_state=0, **FAST).fit(X, y)
    assert not np.array_equal(warm.predict_proba(X_test), fresh.predict_proba(X_test))


def test_warm_start_is_shrink_and_perturb_of_the_previous_encoder(fitted, blobs):
    X, y, _, _ = blobs
    keep = ProtoNetClassifier(
        shrink=1.0,
        perturb=0.0,
        max_steps=0,
        random_state=1,
        **{k: v for k, v in FAST.items() if k != "max_steps"},
    )
    keep.fit(X, y, warm_start_from=fitted)
    np.testing.assert_array_equal(keep.embed(X), fitted.embed(X))
    shrunk = clone(keep).set_params(shrink=0.5).fit(X, y, warm_start_from=fitted)
    for a, b in zip(shrunk.encoder_.parameters(), fitted.encoder_.parameters(), strict=True):
        torch.testing.assert_close(a, 0.5 * b)


def test_warm_start_checks_width_and_architecture(fitted, blobs):
    X, y, _, _ = blobs
    with pytest.raises(ValueError, match="expects 12 features but X has 11"):
        ProtoNetClassifier(**FAST).fit(X[:, :11], y, warm_start_from=fitted)
    with pytest.raises(ValueError, match="another encoder architecture"):
        ProtoNetClassifier(**(FAST | {"embedding_dim": 8})).fit(X, y, warm_start_from=fitted)
    with pytest.raises(TypeError, match="bytes or a ProtoNetClassifier"):
        ProtoNetClassifier(**FAST).fit(X, y, warm_start_from="model.bin")


def test_pretrain_then_attach_to_a_new_project(blobs):
    X, y, X_test, y_test = blobs
    base = pretrain(
        X[y < 2], y[y < 2], max_steps=40, random_state=0, hidden_sizes=(32,), embedding_dim=16
    )
    data = base.to_bytes(include_support=False)
    # max_steps=0: the project's classifier uses the pretrained metric as is
    attached = ProtoNetClassifier(
        pretrained=data, max_steps=0, hidden_sizes=(32,), embedding_dim=16
    )
    attached.fit(X[y >= 2], y[y >= 2])
    np.testing.assert_array_equal(attached.embed(X_test), base.embed(X_test))
    np.testing.assert_array_equal(attached.classes_, [2, 3])
    tuned = clone(attached).set_params(max_steps=20).fit(X[y >= 2], y[y >= 2])
    assert tuned.score(X_test[y_test >= 2], y_test[y_test >= 2]) > 0.9
    with pytest.raises(ValueError, match="pretrained model expects 12 features but X has 6"):
        clone(attached).fit(X[:, :6], y)


def test_chunked_inference_equals_unchunked(fitted, blobs):
    _, _, X_test, _ = blobs
    small = clone(fitted).set_params(chunk_size=7)
    small.__dict__.update(
        {k: v for k, v in fitted.__dict__.items() if k.endswith("_") or k.startswith("_")}
    )
    np.testing.assert_allclose(
        small.predict_proba(X_test), fitted.predict_proba(X_test), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(small.embed(X_test), fitted.embed(X_test), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        small.committee_proba(X_test, M=2),
        fitted.committee_proba(X_test, M=2),
        rtol=1e-5,
        atol=1e-6,
    )


def _copy_fitted(fitted, **params):
    model = clone(fitted).set_params(**params)
    model.__dict__.update(
        {k: v for k, v in fitted.__dict__.items() if k.endswith("_") or k.startswith("_")}
    )
    return model


def test_chunk_threads_give_the_one_thread_result(fitted, blobs):
    _, _, X_test, _ = blobs
    one = _copy_fitted(fitted, chunk_size=7, n_threads=1)
    many = _copy_fitted(fitted, chunk_size=7, n_threads=3)
    same = functools.partial(np.testing.assert_allclose, rtol=1e-6, atol=1e-7)  # float32 ulps
    same(many.predict_proba(X_test), one.predict_proba(X_test))
    same(many.embed(X_test), one.embed(X_test))
    same(many.committee_proba(X_test, M=3), one.committee_proba(X_test, M=3))
    # MC samples come from one seeded stream: the same with any number of chunk threads.
    same(many.mc_proba(X_test, T=3), one.mc_proba(X_test, T=3))
    bad = X_test.copy()
    bad[[60, 190], 0] = [np.nan, np.inf]  # two bad chunks: the first in row order is named
    with pytest.raises(ValueError, match=r"NaN \(first at row 60\)"):
        many.predict_proba(bad)


def test_float64_and_readonly_input(fitted, blobs):
    _, _, X_test, _ = blobs
    readonly = X_test.astype(np.float64)
    readonly.flags.writeable = False
    np.testing.assert_allclose(
        fitted.predict_proba(readonly), fitted.predict_proba(X_test), atol=1e-6
    )


def test_bad_input_gives_clear_errors(fitted, blobs):
    X, y, X_test, _ = blobs
    nan = X.copy()
    nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ProtoNetClassifier(**FAST).fit(nan, y)
    inf = X_test.copy()
    inf[150, 0] = np.inf
    with pytest.raises(ValueError, match=r"infinity \(first at row 150\)"):
        fitted.predict_proba(inf)
    with pytest.raises(
        ValueError, match="X has 11 features, but ProtoNetClassifier is expecting 12"
    ):
        fitted.predict(X_test[:, :11])
    with pytest.raises(ValueError, match="at least 2 classes"):
        ProtoNetClassifier(**FAST).fit(X[:5], np.zeros(5))
    with pytest.raises(ValueError, match="0 sample"):
        fitted.predict_proba(np.empty((0, 12)))
    with pytest.raises(ValueError, match="Unknown label type"):
        ProtoNetClassifier(**FAST).fit(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="T must be a positive integer"):
        fitted.mc_proba(X_test, T=0)
    with pytest.raises(ValueError, match="training must be one of"):
        ProtoNetClassifier(training="adam").fit(X, y)
    with pytest.raises(ValueError, match="square"):
        ProtoNetClassifier(encoder="conv").fit(X, y)


def test_torch_threads_are_restored(blobs):
    X, y, _, _ = blobs
    before = torch.get_num_threads()
    model = ProtoNetClassifier(n_threads=1, **FAST).fit(X, y)
    model.mc_proba(X, T=2)
    assert torch.get_num_threads() == before


def test_overlapping_thread_blocks_restore_the_setting_once_the_last_ends():
    """Two sessions' fits overlapping: A enters, B enters, A leaves, B leaves. Saving and
    restoring per block left the process on B's saved setting (1 thread) for good."""
    from meta.estimator import _torch_threads

    original = torch.get_num_threads()
    torch.set_num_threads(3)  # whatever the machine's default, more than the blocks' one
    try:
        first, second = _torch_threads(1), _torch_threads(1)
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert torch.get_num_threads() == 1  # B is still running on one thread
        second.__exit__(None, None, None)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(original)


def test_device_resolution():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_works_inside_a_pipeline(blobs):
    X, y, X_test, y_test = blobs
    pipe = make_pipeline(
        FunctionTransformer(lambda a: a * 2.0), ProtoNetClassifier(random_state=0, **FAST)
    )
    assert pipe.fit(X, y).score(X_test, y_test) > 0.9


# ------------------------------------------------------------ semi-supervised prototypes
@pytest.fixture(scope="module")
def one_shot(blobs):
    """One label per class, the other 76 training rows as unlabelled."""
    X, y, X_test, y_test = blobs
    first = np.array([np.flatnonzero(y == c)[0] for c in range(4)])
    rest = np.setdiff1d(np.arange(len(y)), first)
    return X[first], y[first], X[rest], X_test, y_test


def test_unlabelled_rows_refine_the_prototypes(one_shot):
    X_l, y_l, U, X_test, y_test = one_shot
    plain = ProtoNetClassifier(random_state=0, **FAST).fit(X_l, y_l)
    refined = ProtoNetClassifier(random_state=0, **FAST).fit(X_l, y_l, unlabelled=U)
    # Same encoder (training never sees the unlabelled rows), other prototypes.
    np.testing.assert_allclose(refined.embed(X_test), plain.embed(X_test))
    assert not np.allclose(refined.prototypes_, plain.prototypes_)
    assert refined.score(X_test, y_test) >= plain.score(X_test, y_test)
    assert refined.score(X_test, y_test) > 0.9


def test_refined_prototypes_are_the_means_of_labelled_and_assigned_rows(one_shot):
    X_l, y_l, U, _, _ = one_shot
    model = ProtoNetClassifier(random_state=0, refine_steps=1, **FAST).fit(X_l, y_l, unlabelled=U)
    plain = ProtoNetClassifier(random_state=0, refine_steps=0, **FAST).fit(X_l, y_l, unlabelled=U)
    E_l, E_u = model.embed(X_l), model.embed(U)
    nearest = ((E_u[:, None] - plain.prototypes_[None]) ** 2).sum(-1).argmin(1)
    expected = [np.vstack([E_l[y_l == c], E_u[nearest == c]]).mean(0) for c in range(4)]
    np.testing.assert_allclose(model.prototypes_, expected, rtol=1e-4, atol=1e-4)


def test_refinement_survives_bytes_and_feeds_the_bootstrap_committee(one_shot):
    X_l, y_l, U, X_test, _ = one_shot
    model = ProtoNetClassifier(random_state=0, **FAST).fit(X_l, y_l, unlabelled=U)
    loaded = ProtoNetClassifier.from_bytes(model.to_bytes())
    np.testing.assert_allclose(loaded.predict_proba(X_test), model.predict_proba(X_test))
    np.testing.assert_allclose(loaded.committee_proba(X_test, 3), model.committee_proba(X_test, 3))
    # One label per class: every bootstrap member has the refined prototypes.
    members = model._bootstrap_members(3)[0].numpy()
    np.testing.assert_allclose(members, np.repeat(model.prototypes_[None], 3, 0), rtol=1e-5)


def test_unlabelled_sample_is_capped_and_seeded(one_shot):
    X_l, y_l, U, X_test, _ = one_shot
    fit = lambda: ProtoNetClassifier(random_state=1, max_unlabelled=10, **FAST).fit(  # noqa: E731
        X_l, y_l, unlabelled=U
    )
    a, b = fit(), fit()
    assert len(a._unlabelled_X) == 10
    np.testing.assert_array_equal(a._unlabelled_X, b._unlabelled_X)
    np.testing.assert_allclose(a.predict_proba(X_test), b.predict_proba(X_test))


def test_bad_unlabelled_rows_are_refused(one_shot):
    X_l, y_l, U, _, _ = one_shot
    model = ProtoNetClassifier(random_state=0, **FAST)
    with pytest.raises(ValueError, match="12 features"):
        model.fit(X_l, y_l, unlabelled=U[:, :5])
    bad = U.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X_l, y_l, unlabelled=bad)
    with pytest.raises(ValueError, match="refine_steps"):
        ProtoNetClassifier(refine_steps=-1).fit(X_l, y_l, unlabelled=U)


# ------------------------------------------------------------------------ the linear head


def test_offset_logistic_without_offset_is_scikit_learns_logistic_regression(blobs):
    from sklearn.linear_model import LogisticRegression

    from meta.protonet import fit_offset_logistic

    X, y, X_test, _ = blobs
    for l2 in (0.5, 4.0):
        weight, bias = fit_offset_logistic(
            torch.from_numpy(X), torch.from_numpy(y), torch.zeros(len(y), 4), l2
        )
        ours = torch.softmax(torch.from_numpy(X_test) @ weight.T + bias, dim=1).numpy()
        reference = LogisticRegression(C=1 / l2, max_iter=5000, tol=1e-10).fit(X, y)
        np.testing.assert_allclose(ours, reference.predict_proba(X_test), atol=2e-3)


@pytest.mark.parametrize("columns", [5, 80])
def test_offset_logistic_solves_its_optimality_conditions(columns):
    """At the optimum of sum CE(x W^T + b + o, y) + l2/2 |W|^2: X^T (P - Y) + l2 W^T = 0 and
    sum (P - Y) = 0 (bias unpenalised), checked by hand on a small problem with an offset; with
    80 columns for 30 rows the fit runs in the row space and must still solve them in all 80."""
    from meta.protonet import fit_offset_logistic

    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, columns))
    y = rng.integers(0, 3, size=30)
    offset = rng.normal(scale=2.0, size=(30, 3))
    weight, bias = fit_offset_logistic(
        torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(offset), 2.0, max_iter=500
    )
    W, b = weight.double().numpy(), bias.double().numpy()
    logits = X @ W.T + b + offset
    P = np.exp(logits - logits.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    residual = P - np.eye(3)[y]
    np.testing.assert_allclose(X.T @ residual + 2.0 * W.T, 0, atol=1e-3)
    np.testing.assert_allclose(residual.sum(0), 0, atol=1e-3)


def test_predict_proba_is_the_weighted_prototype_logits_plus_the_linear_head(fitted, blobs):
    _, _, X_test, _ = blobs
    assert fitted.linear_ is not None
    z = fitted.embed(X_test).astype(np.float64)
    dist = ((z[:, None] - fitted.prototypes_[None]) ** 2).sum(-1)
    weight, bias = fitted.linear_
    logits = -fitted.prototype_weight * dist / fitted.temperature_ + X_test @ weight.T + bias
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(fitted.predict_proba(X_test), expected, atol=1e-4)


def test_without_the_linear_head_it_is_the_plain_prototype_classifier(blobs):
    X, y, X_test, _ = blobs
    model = ProtoNetClassifier(linear_l2=None, prototype_weight=0.3, random_state=0, **FAST)
    model.fit(X, y)
    assert model.linear_ is None
    z = model.embed(X_test).astype(np.float64)
    logits = -((z[:, None] - model.prototypes_[None]) ** 2).sum(-1) / model.temperature_
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(X_test), expected, atol=1e-4)


def test_the_linear_head_learns_what_the_prototypes_cannot():
    """Two long parallel clusters: the class means differ along x0, the spread runs along
    (1, 1). Nearest-class-mean splits at x0 = 1 (barely better than chance); the best boundary
    is x0 - x1 = 1, which a linear head finds."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=800)
    t = rng.normal(scale=3.0, size=800)
    X = np.column_stack([t + 2.0 * y, t]) + rng.normal(scale=0.2, size=(800, 2))
    X = X.astype(np.float32)
    X_train, y_train, X_test, y_test = X[:400], y[:400], X[400:], y[400:]
    plain = ProtoNetClassifier(linear_l2=None, max_steps=0, random_state=0).fit(X_train, y_train)
    headed = ProtoNetClassifier(max_steps=0, random_state=0).fit(X_train, y_train)
    assert plain.score(X_test, y_test) < 0.75
    assert headed.score(X_test, y_test) > 0.95


def test_models_saved_before_the_linear_head_load_as_prototype_classifiers(blobs):
    X, y, X_test, _ = blobs
    old = ProtoNetClassifier(linear_l2=None, random_state=0, **FAST).fit(X, y)
    payload = torch.load(io.BytesIO(old.to_bytes()), weights_only=True)
    header = json.loads(payload["header"])
    for key in ("linear_l2", "prototype_weight"):
        del header["params"][key]
    payload["header"] = json.dumps(header)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    loaded = ProtoNetClassifier.from_bytes(buffer.getvalue())
    assert loaded.linear_l2 is None and loaded.linear_ is None
    np.testing.assert_array_equal(loaded.predict_proba(X_test), old.predict_proba(X_test))


def test_bad_linear_settings_are_refused(blobs):
    X, y, _, _ = blobs
    for params, message in (
        ({"linear_l2": 0.0}, "linear_l2"),
        ({"linear_l2": "auto"}, "linear_l2"),
        ({"prototype_weight": -1}, "prototype_weight"),
    ):
        with pytest.raises(ValueError, match=message):
            ProtoNetClassifier(**params, **FAST).fit(X, y)


def test_bootstrap_members_refit_the_linear_head_on_their_resample(one_shot):
    """One label per class: every resample is the support itself, so every member, head
    included, is the model; with more labels the heads differ."""
    X_l, y_l, _, X_test, _ = one_shot
    model = ProtoNetClassifier(random_state=0, **FAST).fit(X_l, y_l)
    votes = model.committee_proba(X_test, M=3)
    for member in votes:
        np.testing.assert_allclose(member, model.predict_proba(X_test), atol=1e-4)
    _, heads = model._bootstrap_members(3)
    assert len(heads) == 3 and heads[0][0].shape == model.linear_[0].shape


def test_the_head_penalty_is_cross_validated_once_every_class_has_three_labels(blobs, one_shot):
    """Default ``linear_l2="cv"``: from the grid by the held-out loss of
    :func:`meta.protonet.cross_validated_l2` on the fitted encoder's embeddings; with fewer
    labels, the grid's least penalty. A fixed number is used as given."""
    from meta.estimator import HEAD_L2_GRID
    from meta.protonet import cross_validated_l2

    X, y, _, _ = blobs
    model = ProtoNetClassifier(random_state=0, **FAST).fit(X, y)
    embeddings = torch.from_numpy(model.embed(X))
    expected, _ = cross_validated_l2(
        model._head_input(X), torch.from_numpy(y), embeddings, HEAD_L2_GRID,
        model.prototype_weight, seed=model._seed,
    )  # fmt: skip
    assert model.linear_l2_ == expected
    X_l, y_l, _, _, _ = one_shot
    assert ProtoNetClassifier(random_state=0, **FAST).fit(X_l, y_l).linear_l2_ == HEAD_L2_GRID[0]
    fixed = ProtoNetClassifier(linear_l2=2.5, random_state=0, **FAST).fit(X, y)
    assert fixed.linear_l2_ == 2.5


def test_the_chosen_head_penalty_survives_saving(blobs):
    """A loaded model's committee refits its members' heads with the penalty the fit chose."""
    X, y, X_test, _ = blobs
    model = ProtoNetClassifier(random_state=0, **FAST).fit(X, y)
    loaded = ProtoNetClassifier.from_bytes(model.to_bytes())
    assert loaded.linear_l2 == "cv" and loaded.linear_l2_ == model.linear_l2_
    np.testing.assert_allclose(
        loaded.committee_proba(X_test, M=3), model.committee_proba(X_test, M=3), atol=1e-5
    )


def test_the_head_cross_validates_on_a_stratified_sample_of_many_labels(blobs, monkeypatch):
    """Beyond ``HEAD_CV_MAX_ROWS`` labels each class is sampled in proportion, never below the
    folds, with the fit's seed: the chosen penalty is the cross-validation of that sample."""
    import meta.estimator as estimator
    from meta.protonet import cross_validated_l2

    X, y, _, _ = blobs
    keep = np.concatenate([np.flatnonzero(y == c)[: 20 if c else 4] for c in range(4)])
    X, y = X[keep], y[keep]  # classes of 4, 20, 20, 20
    monkeypatch.setattr(estimator, "HEAD_CV_MAX_ROWS", 32)
    model = ProtoNetClassifier(random_state=0, **FAST).fit(X, y)
    rows = model._head_cv_rows(y)
    np.testing.assert_array_equal(np.bincount(y[rows]), [3, 10, 10, 10])  # half, at least 3
    np.testing.assert_array_equal(rows, model._head_cv_rows(y))
    expected, _ = cross_validated_l2(
        model._head_input(X[rows]), torch.from_numpy(y[rows]),
        torch.from_numpy(model.embed(X[rows])), estimator.HEAD_L2_GRID,
        model.prototype_weight, seed=model._seed,
    )  # fmt: skip
    assert model.linear_l2_ == expected


def test_one_label_per_class_fits_without_scikit_learns_regression_warning(recwarn):
    """scikit-learn warns from 21 rows on (26 letters, one label each, say)."""
    X = np.random.default_rng(0).normal(size=(26, 3)).astype(np.float32)
    ProtoNetClassifier(max_steps=0, device="cpu").fit(X, np.arange(26))
    assert not [w for w in recwarn if "unique classes" in str(w.message)]


# ------------------------------------------------------------ zero-shot priors (issue 18)


@pytest.fixture(scope="module")
def described(blobs):
    """Priors near each class centre: (X, y, X_test, y_test, priors {label: row})."""
    X, y, X_test, y_test = blobs
    rng = np.random.default_rng(1)
    centres = np.array([X[y == c].mean(axis=0) for c in range(4)])
    noisy = centres + rng.normal(scale=0.5, size=centres.shape)
    return X, y, X_test, y_test, {c: noisy[c] for c in range(4)}


def test_a_model_from_priors_alone(described):
    """No label: the prototypes are the descriptions' embeddings and the head is fitted on the
    descriptions, one example per class; checked against the formula computed by hand."""
    X, _, X_test, y_test, priors = described
    model = ProtoNetClassifier(random_state=0, **FAST).fit(np.empty((0, 12)), [], priors=priors)
    assert model.n_steps_ == 0 and model.linear_l2_ == 1.0 and model.linear_ is not None
    rows = np.stack([priors[c] for c in range(4)]).astype(np.float32)
    np.testing.assert_allclose(model.prototypes_, model.embed(rows), rtol=1e-5, atol=1e-5)
    emb = model.embed(X_test)
    squared = ((emb[:, None, :] - model.prototypes_[None]) ** 2).sum(axis=2)
    weight, bias = model.linear_
    logits = -0.25 * squared / model.temperature_ + X_test @ weight.T + bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(X_test), expected, rtol=1e-4, atol=1e-5)
    assert (model.predict(rows) == model.classes_).all()
    assert (model.predict(X_test) == y_test).mean() > 0.9


def test_priors_shrink_each_prototype_by_the_strength(described):
    X, y, _, _, priors = described
    rows = np.array([0, 1, 20, 40])  # class 3 has no label
    model = ProtoNetClassifier(random_state=0, prior_strength=2.0, **FAST)
    model.fit(X[rows], y[rows], priors=priors)
    assert model.prior_strength_ == 2.0 and model.n_steps_ > 0
    assert model.linear_ is not None and model.linear_l2_ == 1.0  # class 3: its description
    emb, prior_emb = model.embed(X[rows]), model.embed(model.priors_)
    for c in range(4):
        own = emb[y[rows] == c]
        expected = (own.sum(axis=0) + 2.0 * prior_emb[c]) / (len(own) + 2.0)
        np.testing.assert_allclose(model.prototypes_[c], expected, rtol=1e-4, atol=1e-5)
    full = ProtoNetClassifier(random_state=0, **FAST).fit(X, y, priors=priors)
    assert full.linear_ is not None and full.prior_strength_ in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def test_fitted_strength_follows_how_good_the_priors_are():
    """Overlapping classes, 3 labels each: priors on the true centres earn more weight than
    priors on the wrong classes, which get the least."""
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=0.7, size=(4, 12))
    y = np.repeat(np.arange(4), 3)
    X = (centres[y] + rng.normal(size=(12, 12))).astype(np.float32)
    good = ProtoNetClassifier(random_state=0, **FAST)
    good.fit(X, y, priors={c: centres[c] for c in range(4)})
    wrong = ProtoNetClassifier(random_state=0, **FAST)
    wrong.fit(X, y, priors={c: centres[(c + 1) % 4] for c in range(4)})
    assert wrong.prior_strength_ == 0.25
    assert good.prior_strength_ >= 2.0


def test_priors_survive_to_bytes_and_feed_the_committee(described):
    X, y, X_test, y_test, priors = described
    rows = np.array([0, 20, 21, 40])
    model = ProtoNetClassifier(random_state=0, **FAST).fit(X[rows], y[rows], priors=priors)
    again = ProtoNetClassifier.from_bytes(model.to_bytes())
    np.testing.assert_allclose(again.predict_proba(X_test), model.predict_proba(X_test))
    np.testing.assert_array_equal(again.priors_, model.priors_)
    assert again.prior_strength_ == model.prior_strength_
    committee = again.committee_proba(X_test, M=3)
    assert committee.shape == (3, len(X_test), 4)
    np.testing.assert_allclose(committee.sum(axis=2), 1.0, rtol=1e-5)
    # Class 3 has no label: every member's head learnt it from its description too.
    unseen = again.committee_proba(X_test[y_test == 3], M=3).argmax(axis=2)
    assert (unseen == 3).mean() > 0.9
    independent = clone(model).set_params(committee="independent")
    independent.fit(X[rows], y[rows], priors=priors)
    assert independent.committee_proba(X_test, M=2).shape == (2, len(X_test), 4)


def test_priors_are_checked(described):
    X, y, _, _, priors = described
    model = ProtoNetClassifier(**FAST)
    with pytest.raises(ValueError, match=r"labels without a prior: \[7\]"):
        model.fit(X[:2], [0, 7], priors=priors)
    with pytest.raises(ValueError, match="features"):
        model.fit(X, y, priors={0: np.zeros(12), 1: np.zeros(5)})
    with pytest.raises(ValueError, match="12 features"):
        model.fit(X[:, :5], y, priors=priors)
    with pytest.raises(ValueError, match="at least 2 classes"):
        model.fit(np.empty((0, 12)), [], priors={0: priors[0]})
    with pytest.raises(ValueError, match="prior_strength"):
        ProtoNetClassifier(prior_strength=0).fit(X, y, priors=priors)
    with pytest.raises(ValueError, match="map each class"):
        model.fit(X, y, priors=[priors[0], priors[1]])
