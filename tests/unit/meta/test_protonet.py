"""Math of prototypes, distances, episodes and encoders, against hand-computed values."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from meta.episodes import Episode, EpisodeSampler, episode_loss, leave_one_out_distances
from meta.protonet import (
    SKIP_SQUARED_NORM,
    Dropout,
    MLPEncoder,
    build_encoder,
    compute_prototypes,
    fitted_prior_strength,
    leave_one_out_prior_accuracy,
    prior_prototypes,
    prototype_head,
    prototype_logits,
    prototype_temperature,
    refine_prototypes,
    shrink_perturb_,
    squared_euclidean_distances,
    use_generator,
)
from meta.training import PlateauStopper


def test_prototypes_are_class_means_hand_example():
    support = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0], [4.0, 4.0], [0.0, 2.0]])
    labels = torch.tensor([0, 0, 1, 2, 2])
    expected = torch.tensor([[1.0, 0.0], [1.0, 3.0], [2.0, 3.0]])
    torch.testing.assert_close(compute_prototypes(support, labels, 3), expected)


def test_prototypes_refuse_a_class_without_support():
    with pytest.raises(ValueError, match=r"classes \[1\] have no support"):
        compute_prototypes(torch.zeros(2, 3), torch.tensor([0, 2]), 3)


def test_prior_prototypes_hand_example():
    support = torch.tensor([[2.0, 0.0], [4.0, 0.0], [0.0, 6.0]])
    labels = torch.tensor([0, 0, 1])
    priors = torch.tensor([[0.0, 3.0], [0.0, 0.0], [9.0, 9.0]])
    expected = torch.tensor([
        [(6.0 + 0.0) / 3.0, (0.0 + 3.0) / 3.0],  # two examples and a prior worth one
        [0.0, 6.0 / 2.0],
        [9.0, 9.0],  # no example: the prior itself
    ])  # fmt: skip
    torch.testing.assert_close(prior_prototypes(support, labels, priors, 1.0), expected)
    empty = prior_prototypes(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), priors, 2.0)
    torch.testing.assert_close(empty, priors)
    with pytest.raises(ValueError, match="strength must be > 0"):
        prior_prototypes(support, labels, priors, 0.0)


@pytest.mark.parametrize("seed", range(5))
def test_prior_prototypes_match_the_loop_and_the_limits(seed):
    rng = np.random.default_rng(seed)
    n_way, dim, n = 4, 3, 11
    support = rng.normal(size=(n, dim))
    # every class but the last has an example
    labels = np.concatenate([np.arange(n_way - 1), rng.integers(0, n_way - 1, size=n - n_way + 1)])
    priors = rng.normal(size=(n_way, dim))
    k = float(rng.uniform(0.5, 4.0))
    got = prior_prototypes(torch.tensor(support), torch.tensor(labels), torch.tensor(priors), k)
    for c in range(n_way):
        members = support[labels == c]
        want = (members.sum(axis=0) + k * priors[c]) / (len(members) + k)
        np.testing.assert_allclose(got[c].numpy(), want, rtol=1e-12)
    weak = prior_prototypes(torch.tensor(support), torch.tensor(labels), torch.tensor(priors), 1e-9)
    seen = np.unique(labels)
    np.testing.assert_allclose(
        weak[seen].numpy(),
        compute_prototypes(torch.tensor(support), torch.tensor(labels), n_way - 1)[seen].numpy(),
        atol=1e-7,
    )


def _loo_by_hand(support, labels, priors, k):
    hits = 0
    for i in range(len(support)):
        keep = np.arange(len(support)) != i
        protos = []
        for c in range(len(priors)):
            members = support[keep & (labels == c)]
            protos.append((members.sum(axis=0) + k * priors[c]) / (len(members) + k))
        distances = ((np.array(protos) - support[i]) ** 2).sum(axis=1)
        hits += int(np.argmin(distances) == labels[i])
    return hits / len(support)


@pytest.mark.parametrize("seed", range(6))
def test_leave_one_out_prior_accuracy_matches_the_loop(seed):
    rng = np.random.default_rng(seed)
    n_way, dim = 3, 4
    labels = rng.integers(0, n_way, size=int(rng.integers(1, 12)))
    priors = rng.normal(size=(n_way, dim))
    support = priors[labels] * rng.uniform(0, 2) + rng.normal(size=(len(labels), dim))
    for k in (0.25, 1.0, 8.0):
        got = leave_one_out_prior_accuracy(
            torch.tensor(support), torch.tensor(labels), torch.tensor(priors), k
        )
        assert got == pytest.approx(_loo_by_hand(support, labels, priors, k))


def test_fitted_prior_strength_trusts_good_priors_and_doubts_bad_ones():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 8))
    labels = torch.tensor(np.repeat(np.arange(4), 3))
    support = torch.tensor(centres[labels.numpy()] + rng.normal(size=(12, 8)))  # noisy
    good, bad = torch.tensor(centres), torch.tensor(centres[[1, 2, 3, 0]])  # bad: shifted
    # good: leave-one-out 0.92 up to k = 1, 1.0 from k = 2 (the smallest of the tie wins)
    assert fitted_prior_strength(support, labels, good) == 2.0
    assert fitted_prior_strength(support, labels, bad) == 0.25  # 0.83, then falling
    assert fitted_prior_strength(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long), good) == 8.0
    assert fitted_prior_strength(support, labels, good, grid=(8.0, 2.0, 1.0)) == 2.0


def test_squared_distances_and_softmax_hand_example():
    query = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    prototypes = torch.tensor([[1.0, 0.0], [1.0, 3.0]])
    dist = squared_euclidean_distances(query, prototypes)
    torch.testing.assert_close(dist, torch.tensor([[1.0, 4.0], [1.0, 10.0]]))
    proba = torch.softmax(prototype_logits(query, prototypes), dim=1)
    p0 = math.exp(-1) / (math.exp(-1) + math.exp(-4))
    torch.testing.assert_close(proba[0], torch.tensor([p0, 1 - p0]))
    torch.testing.assert_close(prototype_logits(query, prototypes, 2.0), -dist / 2)


def test_prototype_head_gives_the_softmax_of_negative_distances():
    query = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    prototypes = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    weight, bias = prototype_head(prototypes, 2.5)
    torch.testing.assert_close(
        torch.softmax(query @ weight.T + bias, dim=1),
        torch.softmax(-squared_euclidean_distances(query, prototypes) / 2.5, dim=1),
    )


def test_tail_logits_fold_the_head_into_the_last_layer():
    for kind, n_features in (("mlp", 8), ("conv", 16)):
        encoder = _encoder(kind=kind, n_features=n_features).eval()
        with torch.no_grad():
            for p in encoder.parameters():
                p.normal_()
        x = torch.randn(5, n_features)
        head = prototype_head(torch.randn(3, 12), 1.5)
        expected = torch.nn.functional.linear(encoder(x), *head)
        torch.testing.assert_close(
            encoder.tail_logits(encoder.stem(x), 1, head), expected, rtol=1e-4, atol=1e-4
        )


@settings(max_examples=40, deadline=None)
@given(
    n_way=st.integers(2, 5),
    extra=st.integers(0, 12),
    dim=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    temperature=st.floats(0.1, 10.0),
)
def test_prototypes_and_head_match_numpy_on_random_episodes(n_way, extra, dim, seed, temperature):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.arange(n_way), rng.integers(0, n_way, extra)])
    support = rng.normal(size=(len(labels), dim))
    query = rng.normal(size=(7, dim))
    expected = np.stack([support[labels == c].mean(axis=0) for c in range(n_way)])
    prototypes = compute_prototypes(torch.tensor(support), torch.tensor(labels), n_way)
    np.testing.assert_allclose(prototypes.numpy(), expected, rtol=1e-10, atol=1e-12)
    dist = ((query[:, None, :] - expected[None]) ** 2).sum(axis=2)
    logits = -dist / temperature
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    weight, bias = prototype_head(prototypes, temperature)
    proba = torch.softmax(torch.tensor(query) @ weight.T + bias, dim=1).numpy()
    np.testing.assert_allclose(proba, softmax, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_distances_are_never_negative_from_rounding():
    x = torch.full((3, 8), 1e4) + torch.arange(3.0).unsqueeze(1) * 1e-3
    assert bool((squared_euclidean_distances(x, x) >= 0).all())


def test_temperature_follows_the_scale_of_the_embedding():
    prototypes = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    # nearest other prototype: 9, 9, 16 -> median 9; t = 9 / (2 log 4)
    assert prototype_temperature(prototypes) == pytest.approx(9 / (2 * math.log(4)))
    assert prototype_temperature(10 * prototypes) == pytest.approx(
        100 * prototype_temperature(prototypes)
    )


def test_leave_one_out_distance_removes_the_query_from_its_prototype():
    support = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0], [10.0, 10.0]])
    labels = torch.tensor([0, 0, 0, 1])
    prototypes = compute_prototypes(support, labels, 2)
    dist = leave_one_out_distances(support[:3], support, labels, prototypes, torch.arange(3))
    # row 0 vs mean of rows 1, 2 = (1.5, 1.5): 4.5; row 1 vs (0, 1.5): 9 + 2.25
    # row 2 vs (1.5, 0): 2.25 + 9
    torch.testing.assert_close(dist, torch.tensor([4.5, 11.25, 11.25]))
    with pytest.raises(ValueError, match="at least 2 support rows"):
        leave_one_out_distances(support[3:], support, labels, prototypes, torch.tensor([3]))


def test_episode_loss_equals_hand_computed_cross_entropy():
    embeddings = torch.tensor([[0.0, 0.0], [4.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    episode = Episode(
        support_idx=np.array([0, 1]),
        support_labels=np.array([0, 1]),
        query_idx=np.array([2, 3]),
        query_labels=np.array([0, 1]),
        query_loo=np.array([-1, -1]),
    )
    # query 0 at distances (1, 9) and query 1 at (9, 1): both have logit gap 8 in their favour
    expected = F.cross_entropy(torch.tensor([[-1.0, -9.0], [-9.0, -1.0]]), torch.tensor([0, 1]))
    torch.testing.assert_close(episode_loss(embeddings, episode), expected)


def test_sampler_splits_large_classes_and_keeps_small_ones_whole():
    y = np.array([0] * 20 + [1] * 3 + [2])
    sampler = EpisodeSampler(y, n_way=None, n_shot=4, n_query=5, rng=np.random.default_rng(0))
    for _ in range(20):
        ep = sampler.sample()
        big = ep.support_labels[np.isin(ep.support_idx, np.flatnonzero(y == 0))]
        way = big[0]
        assert len(big) == 4
        big_queries = ep.query_idx[ep.query_labels == way]
        assert len(big_queries) == 5 and not set(big_queries) & set(ep.support_idx)
        assert np.all(ep.query_loo[ep.query_labels == way] == -1)
        three = np.flatnonzero(y == 1)  # 3 rows <= n_shot: all support, all leave-one-out queries
        is_three = np.isin(ep.query_idx, three)
        assert is_three.sum() == 3 and np.isin(three, ep.support_idx).all()
        np.testing.assert_array_equal(
            ep.support_idx[ep.query_loo[is_three]], ep.query_idx[is_three]
        )
        single = np.flatnonzero(y == 2)  # 1 row: support only, never a query
        assert np.isin(single, ep.support_idx).all() and not np.isin(single, ep.query_idx).any()
        assert ep.n_way == 3


def test_sampler_draws_uniformly_without_replacement():
    """Every class is drawn with probability n_way / C and, when drawn, every row of a large class
    lands in the support with probability n_shot / n_c and among the queries with n_query / n_c;
    rows never repeat within an episode and each way holds rows of one class."""
    y = np.array([0] * 12 + [1] * 3 + [2] + [3] * 7)
    sampler = EpisodeSampler(y, n_way=2, n_shot=2, n_query=3, rng=np.random.default_rng(5))
    n = 20_000
    support_hits, query_hits = np.zeros(len(y)), np.zeros(len(y))
    for _ in range(n):
        ep = sampler.sample()
        rows = np.concatenate([ep.support_idx, ep.query_idx[ep.query_loo < 0]])
        assert len(set(rows)) == len(rows)
        for way in range(ep.n_way):
            assert len(set(y[ep.support_idx[ep.support_labels == way]])) == 1
            assert set(y[ep.query_idx[ep.query_labels == way]]) <= set(
                y[ep.support_idx[ep.support_labels == way]]
            )
        support_hits[ep.support_idx] += 1
        query_hits[ep.query_idx] += 1
    drawn = 2 / 4  # n_way / number of classes
    for c, n_c in ((0, 12), (3, 7), (1, 3)):
        rows = y == c
        n_query = min(3, n_c - 2)
        np.testing.assert_allclose(support_hits[rows] / n, drawn * 2 / n_c, rtol=0.1)
        np.testing.assert_allclose(query_hits[rows] / n, drawn * n_query / n_c, rtol=0.1)
    assert support_hits[y == 2] / n == pytest.approx(drawn, rel=0.05)  # a single row: support
    assert query_hits[y == 2].sum() == 0


def test_sampler_with_only_single_examples_has_no_queries():
    sampler = EpisodeSampler(
        np.arange(4), n_way=None, n_shot=5, n_query=5, rng=np.random.default_rng(0)
    )
    assert not sampler.has_queries
    episode = sampler.sample()
    assert episode.empty and len(episode.support_idx) == 4


def test_sampler_caps_n_way_and_refuses_one_class():
    y = np.repeat(np.arange(6), 3)
    ep = EpisodeSampler(y, n_way=4, n_shot=1, n_query=1, rng=np.random.default_rng(1)).sample()
    assert ep.n_way == 4 and len(np.unique(y[ep.support_idx])) == 4
    with pytest.raises(ValueError, match="n_way >= 2"):
        EpisodeSampler(
            np.zeros(4, int), n_way=None, n_shot=1, n_query=1, rng=np.random.default_rng(0)
        )


def test_dropout_needs_a_generator_and_is_reproducible_with_one():
    layer = Dropout(0.5).train()
    x = torch.ones(1000, 8)
    with pytest.raises(RuntimeError, match="generator"):
        layer(x)
    with use_generator(layer, np.random.default_rng(3)):
        a = layer(x)
    with use_generator(layer, np.random.default_rng(3)):
        b = layer(x)
    torch.testing.assert_close(a, b)
    assert set(a.unique().tolist()) == {0.0, 2.0}
    assert abs(float(a.mean()) - 1.0) < 0.05
    assert layer.generator is None
    torch.testing.assert_close(layer.eval()(x), x)


def test_dropout_repeat_draws_independent_masks_per_sample():
    layer = Dropout(0.3).train()
    x = torch.arange(1.0, 65.0).view(2, 32)
    with use_generator(layer, np.random.default_rng(0)):
        z = layer.repeat(x, 50).view(50, 2, 32)
    kept = z != 0
    torch.testing.assert_close(z[kept], (x * layer.scale).expand(50, 2, 32)[kept])
    assert len({tuple(m.flatten().tolist()) for m in kept}) == 50  # 2^64 patterns: no repeats
    assert abs(float(kept.float().mean()) - 0.7) < 0.03
    torch.testing.assert_close(Dropout(0.0).train().repeat(x, 3), x.repeat(3, 1))


def _encoder(**kw):
    params = dict(hidden_sizes=(16,), conv_channels=(4,), embedding_dim=12, dropout=0.2) | kw
    kind = params.pop("kind", "mlp")
    n_features = params.pop("n_features", 8)
    return build_encoder(kind, n_features, generator=torch.Generator().manual_seed(0), **params)


def test_untrained_mlp_encoder_preserves_distances_up_to_scale():
    # skip = scaled orthonormal map, last MLP layer = 0: when D >= d the embedding is a scaled
    # isometry of the standardised input, so nearest-class-mean on the features is the start point
    encoder = _encoder().eval()
    x = torch.randn(20, 8, generator=torch.Generator().manual_seed(1))
    encoder.standardize.fit_(x)
    z = encoder(x)
    xs = encoder.standardize(x)
    scale = math.sqrt(SKIP_SQUARED_NORM / 8)
    torch.testing.assert_close(torch.cdist(z, z), scale * torch.cdist(xs, xs), atol=1e-4, rtol=1e-4)


def test_stem_tail_split_matches_forward():
    for kind, n_features in (("mlp", 8), ("conv", 16)):
        encoder = _encoder(kind=kind, n_features=n_features, hidden_sizes=(16, 8)).eval()
        with torch.no_grad():
            for p in encoder.parameters():
                p.normal_()  # make the MLP branch (zero at init) non-zero
        x = torch.randn(5, n_features)
        torch.testing.assert_close(encoder.tail(encoder.stem(x), 1), encoder(x))
        torch.testing.assert_close(encoder.tail(encoder.stem(x), 3), encoder(x).repeat(3, 1))


def test_conv_encoder_refuses_non_square_width():
    with pytest.raises(ValueError, match="square"):
        _encoder(kind="conv", n_features=10)


def test_shrink_perturb_is_a_weighted_sum_of_old_and_fresh_parameters():
    old, fresh = _encoder(), _encoder()
    for p in fresh.parameters():
        torch.nn.init.normal_(p)
    expected = [
        0.4 * p + 0.1 * q for p, q in zip(old.parameters(), fresh.parameters(), strict=True)
    ]
    mean_before = old.standardize.mean.clone()
    shrink_perturb_(old, fresh, 0.4, 0.1)
    for p, e in zip(old.parameters(), expected, strict=True):
        torch.testing.assert_close(p, e)
    torch.testing.assert_close(old.standardize.mean, mean_before)


def test_mlp_encoder_without_skip_has_no_skip_layer():
    encoder = _encoder(skip=False)
    assert isinstance(encoder, MLPEncoder) and encoder.skip is None
    assert encoder.eval()(torch.randn(3, 8)).shape == (3, 12)


def test_plateau_stopper_stops_on_flat_loss_only():
    flat = PlateauStopper(tol=0.01, patience=2, window=5)
    assert any(flat.update(1.0) for _ in range(15))
    decreasing = PlateauStopper(tol=0.01, patience=2, window=5)
    assert not any(decreasing.update(1.0 * 0.9**i) for i in range(50))
    tiny = PlateauStopper(tol=0.01, patience=99, window=5)
    assert [tiny.update(1e-5) for _ in range(5)][-1]


def _constrained_kmeans_reference(S, s_labels, U, n_way, steps):
    """Loop-by-loop constrained k-means (Basu et al. 2002), float64, for the test only."""
    protos = np.array([S[s_labels == c].mean(axis=0) for c in range(n_way)])
    assigned = None
    for _ in range(steps):
        nearest = np.array([np.argmin([((u - p) ** 2).sum() for p in protos]) for u in U])
        if assigned is not None and (nearest == assigned).all():
            break
        assigned = nearest
        protos = np.array(
            [np.vstack([S[s_labels == c], U[nearest == c]]).mean(axis=0) for c in range(n_way)]
        )
    return protos


def test_refine_prototypes_hand_example():
    # Labelled: class 0 at 0, class 1 at 10 (1-d). Unlabelled 1, 2 go to class 0, 9 to class 1.
    S = torch.tensor([[0.0], [10.0]])
    U = torch.tensor([[1.0], [2.0], [9.0]])
    protos, sums, counts = refine_prototypes(S, torch.tensor([0, 1]), U, 2, steps=5)
    np.testing.assert_allclose(protos.numpy(), [[1.0], [9.5]])  # (0+1+2)/3, (10+9)/2
    np.testing.assert_allclose(sums.numpy(), [[3.0], [9.0]])
    np.testing.assert_allclose(counts.numpy(), [2.0, 1.0])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("steps", [0, 1, 3, 50])
def test_refine_prototypes_matches_the_loop_reference(seed, steps):
    rng = np.random.default_rng(seed)
    n_way, dim = 4, 3
    centres = rng.normal(scale=2.5, size=(n_way, dim))
    s_labels = np.concatenate([np.arange(n_way), rng.integers(n_way, size=4)])
    S = centres[s_labels] + rng.normal(size=(len(s_labels), dim))
    U = centres[rng.integers(n_way, size=60)] + rng.normal(size=(60, dim))
    protos, sums, counts = refine_prototypes(
        torch.from_numpy(S), torch.from_numpy(s_labels), torch.from_numpy(U), n_way, steps
    )
    expected = _constrained_kmeans_reference(S, s_labels, U, n_way, steps)
    np.testing.assert_allclose(protos.numpy(), expected, atol=1e-9)
    labelled_sums = np.array([S[s_labels == c].sum(axis=0) for c in range(n_way)])
    labelled_counts = np.bincount(s_labels, minlength=n_way)
    recombined = (labelled_sums + sums.numpy()) / (labelled_counts + counts.numpy())[:, None]
    np.testing.assert_allclose(recombined, expected, atol=1e-9)


# ------------------------------------------------------- the head's cross-validated penalty


@pytest.mark.parametrize("columns", [4, 70])
def test_cross_validated_l2_is_scikit_learns_held_out_log_loss_without_prototype_signal(columns):
    """Equal embeddings give equal prototypes, so the offset is the same for every class and
    drops out of the softmax: each fold is then a plain logistic regression, checked against
    scikit-learn's fitted on the same folds and scored by its summed log-loss. With 70 columns
    each fold's 40 training rows are fitted in their row space."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    from meta.protonet import cross_validated_l2

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, columns))
    y = (X[:, 0] + 0.8 * rng.normal(size=60) > 0).astype(np.int64) + (X[:, 1] > 0.5)
    grid = (0.25, 4.0, 64.0)
    chosen, losses = cross_validated_l2(
        torch.from_numpy(X), torch.from_numpy(y), torch.ones(60, 3), grid, 0.25, seed=7
    )
    reference = np.zeros(len(grid))
    for train, held in StratifiedKFold(3, shuffle=True, random_state=7).split(X, y):
        for i, l2 in enumerate(grid):
            lr = LogisticRegression(C=1 / l2, max_iter=5000, tol=1e-10).fit(X[train], y[train])
            proba = lr.predict_proba(X[held])
            reference[i] += log_loss(y[held], proba, labels=[0, 1, 2], normalize=False)
    np.testing.assert_allclose(losses, reference, rtol=5e-3)  # ours stops at 100 iterations
    assert chosen == grid[int(np.argmin(reference))]


def test_cross_validated_l2_damps_a_head_that_only_fits_noise():
    """Prototypes that separate the classes and head features that are pure noise: the
    strongest penalty wins. Features that carry the signal the prototypes lack: the weakest."""
    from meta.protonet import cross_validated_l2

    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 20)
    informative = np.eye(3)[y] * 3.0 + rng.normal(scale=0.3, size=(60, 3))
    noise = rng.normal(size=(60, 40))
    grid = (1.0, 4.0, 16.0, 64.0)
    labels = torch.from_numpy(y)
    chosen, _ = cross_validated_l2(
        torch.from_numpy(noise), labels, torch.from_numpy(informative), grid, 1.0
    )
    assert chosen == 64.0
    chosen, _ = cross_validated_l2(
        torch.from_numpy(informative), labels, torch.from_numpy(noise[:, :3]), grid, 1.0
    )
    assert chosen == 1.0


def test_cross_validated_l2_needs_a_label_per_fold_in_every_class():
    from meta.protonet import cross_validated_l2

    with pytest.raises(ValueError, match="3 labels in every class"):
        cross_validated_l2(
            torch.zeros(5, 2), torch.tensor([0, 0, 0, 1, 1]), torch.zeros(5, 2), (1.0,), 1.0
        )


def test_refine_prototypes_with_priors_hand_example():
    # Class 0 labelled at 0 with a prior at 4 worth 1 example: starts at 2. Class 1 has no
    # label, only its prior at 10 (worth 1): starts at 10. Unlabelled 3 goes to class 0
    # ((0 + 4 + 3) / 3), 9 and 11 to class 1 ((10 + 9 + 11) / 3).
    S, labels = torch.tensor([[0.0]]), torch.tensor([0])
    U = torch.tensor([[3.0], [9.0], [11.0]])
    priors = torch.tensor([[4.0], [10.0]])
    protos, sums, counts = refine_prototypes(S, labels, U, 2, 5, priors=priors, strength=1.0)
    np.testing.assert_allclose(protos.numpy(), [[7.0 / 3.0], [10.0]])
    np.testing.assert_allclose(sums.numpy(), [[3.0], [20.0]])
    np.testing.assert_allclose(counts.numpy(), [1.0, 2.0])


@pytest.mark.parametrize("seed", range(3))
def test_refine_prototypes_with_priors_is_the_loop_over_prior_pseudo_examples(seed):
    """A prior worth k examples is k copies of it among the labelled items (k whole)."""
    rng = np.random.default_rng(seed)
    n_way, dim, k = 3, 2, 2
    centres = rng.normal(scale=3.0, size=(n_way, dim))
    s_labels = np.array([0, 0, 2])  # class 1 has no label
    S = centres[s_labels] + rng.normal(size=(3, dim))
    U = centres[rng.integers(n_way, size=40)] + rng.normal(size=(40, dim))
    priors = centres + rng.normal(scale=0.5, size=centres.shape)
    got, _, _ = refine_prototypes(
        torch.from_numpy(S), torch.from_numpy(s_labels), torch.from_numpy(U), n_way, 10,
        priors=torch.from_numpy(priors), strength=float(k),
    )  # fmt: skip
    S_with = np.concatenate([S, np.repeat(priors, k, axis=0)])
    labels_with = np.concatenate([s_labels, np.repeat(np.arange(n_way), k)])
    expected = _constrained_kmeans_reference(S_with, labels_with, U, n_way, 10)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-9)
