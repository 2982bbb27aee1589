"""Prototypical-network learner (pure PyTorch + numpy): ``ProtoNetClassifier`` and ``pretrain``."""

from meta.estimator import ProtoNetClassifier
from meta.pretrain import pretrain

__all__ = ["ProtoNetClassifier", "pretrain"]
