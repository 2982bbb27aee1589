"""Meta-pretraining ("learning to learn") of the encoder on a labelled base set.

The base set's classes differ from the project's (another dataset, or earlier projects' labels);
the encoder learns a metric in which class means separate classes, then a new project starts
from it: ``ProtoNetClassifier(pretrained=base.to_bytes(include_support=False))``
(Snell et al. 2017, arXiv:1703.05175; the cross-entropy recipe of Tian et al. 2020,
arXiv:2003.11539).
"""

from __future__ import annotations

from meta.estimator import ProtoNetClassifier

__all__ = ["pretrain"]


def pretrain(
    features,
    labels,
    *,
    training: str = "episodic",
    max_steps: int = 500,
    n_shot: int = 5,
    n_query: int = 15,
    batch_size: int = 256,
    learning_rate: float = 3e-4,
    n_iter_no_change: int = 10,
    random_state=None,
    **params,
) -> ProtoNetClassifier:
    """Train an encoder on a base set; returns a fitted ``ProtoNetClassifier`` over its classes.

    Parameters
    ----------
    features : (n, d) array of floats; d must equal the project's feature width.
    labels : (n,) base-class labels (at least 2 classes).
    training : {"episodic", "ce", "ce+episodic"}, default="episodic"
        bench/meta_bench.py part (c), Fashion-MNIST 0-4 -> 5-9, 5-way 1-/5-shot with the
        pretrained metric as is: episodic 0.513 / 0.693, cross-entropy 0.432 / 0.538 (its
        features collapse onto the few base classes).
    max_steps : int, default=500
        A longer budget than a per-round retrain (early stop usually ends it sooner). Longer
        pretraining (2,000 steps) transferred worse, not better, in the same setting.
    n_shot, n_query, batch_size : episode shape and cross-entropy batch size.
    learning_rate : float, default=3e-4
        Lower than a retrain's: at 1e-3 the episodic loss spiked over long pretraining runs.
    n_iter_no_change : int, default=10
        Windows of 10 steps without improvement before stopping (episode losses are noisy).
    random_state : int or None.
    **params : any other ``ProtoNetClassifier`` parameter (architecture, dropout, device, ...);
        the project's classifier must use the same architecture.

    Returns
    -------
    ProtoNetClassifier, fitted on the base classes. Attach it to a new classifier with
    ``pretrained=model.to_bytes(include_support=False)`` (or the instance itself).

    Notes
    -----
    Pretraining helps only when the base classes resemble the project's. With Fashion-MNIST
    tops/trousers/dresses/coats (0-4) as base and footwear/bags/shirts (5-9) as new classes, the
    pretrained metric was worse than none (1-shot 0.513 vs 0.567, 5-shot 0.693 vs 0.739
    untrained, 0.760 trained on the support) and fine-tuning brought 5-shot back to 0.757.
    """
    model = ProtoNetClassifier(
        training=training,
        max_steps=max_steps,
        n_shot=n_shot,
        n_query=n_query,
        batch_size=batch_size,
        learning_rate=learning_rate,
        n_iter_no_change=n_iter_no_change,
        random_state=random_state,
        **params,
    )
    return model.fit(features, labels)
