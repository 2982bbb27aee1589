"""Inter-annotator agreement and the final label of an item: pure functions, no database.

Input everywhere: ``(item, annotator, label)`` triples of the decisions in force (not undone),
one per item and annotator (the annotator's latest); skips are left out by the caller.

- Cohen's kappa per pair of annotators on the items both labelled
  (``sklearn.metrics.cohen_kappa_score``; Cohen 1960).
- Fleiss' kappa over the items that have the same number ``m >= 2`` of labels, ``m`` the most
  common such number (``statsmodels.stats.inter_rater.fleiss_kappa``; Fleiss 1971). Fleiss'
  kappa does not need the same annotators on every item, only the same count.
- Krippendorff's alpha, nominal, any number of annotators with missing labels
  (``krippendorff.alpha``; Krippendorff 2011, "Computing Krippendorff's alpha-reliability").
- Per annotator: how often their label equals the majority of the *other* annotators of the
  item (leave-self-out; items where the others tie or there are no others are not counted).

A statistic that is undefined (one annotator, no shared items, a single category used, so that
chance agreement is 1) is ``None`` with a ``reason``, never NaN.

The final label of an item (:func:`final_label`): a reviewer's adjudication when there is one,
else the plurality of the annotators' latest labels. A tie is a *split*: no final label until a
reviewer settles it, so no annotator (a late one included) can outvote another by labelling
last. An item with one annotator keeps that annotator's latest label.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

#: Where an item's final label comes from.
SOURCE_SINGLE = "single"  # one annotator labelled it
SOURCE_MAJORITY = "majority"  # several did; the plurality wins
SOURCE_ADJUDICATED = "adjudicated"  # a reviewer set it
SOURCE_SPLIT = "split"  # several did, tied: no final label until a reviewer settles it
LABEL_SOURCES = (SOURCE_SINGLE, SOURCE_MAJORITY, SOURCE_ADJUDICATED, SOURCE_SPLIT)

Triple = tuple[object, str, str]  # (item, annotator, label)


# --------------------------------------------------------------------------------------------
# Final label of one item


@dataclass(frozen=True)
class Vote:
    """An annotator's latest decision on an item; ``order`` grows with time (annotation id)."""

    annotator: str
    label: str | None  # None: a skip (an abstention, not a vote)
    order: int


@dataclass(frozen=True)
class FinalLabel:
    label: str | None  # None: nobody labelled it (all skipped), or a split, and no adjudication
    source: str | None  # one of LABEL_SOURCES; None when nobody labelled it
    n_annotators: int  # annotators who gave a label (skips not counted)
    agreement: float | None  # share of those labels equal to ``label``; None without labels
    disagreement: bool  # the annotators' labels are not all the same
    votes: dict[str, str | None] = field(default_factory=dict)  # annotator -> latest decision


def final_label(votes: Sequence[Vote], adjudicated: str | None = None) -> FinalLabel:
    """The item's final label from its annotators' latest decisions and an adjudication."""
    labelled = [v for v in votes if v.label is not None]
    counts = Counter(v.label for v in labelled)
    disagreement = len(counts) > 1
    by_annotator = {v.annotator: v.label for v in sorted(votes, key=lambda v: v.order)}
    if adjudicated is not None:
        label, source = adjudicated, SOURCE_ADJUDICATED
    elif not labelled:
        return FinalLabel(None, None, 0, None, False, by_annotator)
    else:
        top = max(counts.values())
        tied = [lab for lab, c in counts.items() if c == top]
        if len(tied) > 1:
            return FinalLabel(None, SOURCE_SPLIT, len(labelled), None, True, by_annotator)
        label = tied[0]
        source = SOURCE_SINGLE if len(labelled) == 1 else SOURCE_MAJORITY
    agreement = counts[label] / len(labelled) if labelled else None
    return FinalLabel(label, source, len(labelled), agreement, disagreement, by_annotator)


# --------------------------------------------------------------------------------------------
# Statistics


@dataclass(frozen=True)
class Statistic:
    """A value with what it was computed on; ``value`` None means undefined, see ``reason``."""

    value: float | None
    n_items: int
    reason: str = ""


@dataclass(frozen=True)
class PairKappa:
    annotator_a: str
    annotator_b: str
    n_items: int  # items both labelled
    observed: float | None  # share of those items with the same label
    kappa: float | None
    reason: str = ""


@dataclass(frozen=True)
class AnnotatorAgreement:
    annotator: str
    n_labels: int  # items the annotator labelled
    n_compared: int  # of those, items whose other annotators have a unique majority
    agreement: float | None  # share of compared items where the annotator matches it
    reason: str = ""


@dataclass(frozen=True)
class AgreementReport:
    n_items: int  # items with at least one label
    n_overlap: int  # items with labels from at least two annotators
    n_annotators: int
    n_labels: int
    pairs: list[PairKappa]
    fleiss: Statistic
    fleiss_raters: int | None  # the number of labels per item Fleiss' kappa used
    alpha: Statistic
    annotators: list[AnnotatorAgreement]


def _by_item(triples: Iterable[Triple]) -> dict[object, dict[str, str]]:
    items: dict[object, dict[str, str]] = defaultdict(dict)
    for item, annotator, label in triples:
        if label is None:
            continue
        items[item][str(annotator)] = str(label)
    return dict(items)


def cohen_pairs(triples: Iterable[Triple]) -> list[PairKappa]:
    """Cohen's kappa for every pair of annotators, on the items both of them labelled."""
    from sklearn.metrics import cohen_kappa_score

    items = _by_item(triples)
    annotators = sorted({a for labels in items.values() for a in labels})
    out = []
    for a, b in combinations(annotators, 2):
        shared = [
            (labels[a], labels[b]) for labels in items.values() if a in labels and b in labels
        ]
        if not shared:
            out.append(PairKappa(a, b, 0, None, None, "no item labelled by both"))
            continue
        ya, yb = (np.array(col, dtype=object) for col in zip(*shared, strict=True))
        observed = float(np.mean(ya == yb))
        if len(set(ya.tolist()) | set(yb.tolist())) < 2:
            reason = "both used a single category: chance agreement is 1, kappa undefined"
            out.append(PairKappa(a, b, len(shared), observed, None, reason))
            continue
        value = float(cohen_kappa_score(ya, yb))
        if not math.isfinite(value):  # a guard: p_e < 1 once two categories occur
            out.append(PairKappa(a, b, len(shared), observed, None, "kappa undefined"))
        else:
            out.append(PairKappa(a, b, len(shared), observed, value))
    return out


def fleiss(triples: Iterable[Triple]) -> tuple[Statistic, int | None]:
    """Fleiss' kappa on the items with the most common number ``m >= 2`` of labels.

    Returns the statistic (``n_items``: how many items it used) and ``m``.
    """
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    items = _by_item(triples)
    sizes = Counter(len(labels) for labels in items.values() if len(labels) >= 2)
    if not sizes:
        return Statistic(None, 0, "no item has labels from two annotators"), None
    m = max(sizes, key=lambda s: (sizes[s], s))  # most items; a tie: more labels per item
    used = [sorted(labels.values()) for labels in items.values() if len(labels) == m]
    categories = sorted({lab for row in used for lab in row})
    if len(categories) < 2:
        reason = "a single category was used: chance agreement is 1, kappa undefined"
        return Statistic(None, len(used), reason), m
    code = {c: i for i, c in enumerate(categories)}
    table, _ = aggregate_raters(
        np.array([[code[lab] for lab in row] for row in used]), n_cat=len(categories)
    )
    value = float(fleiss_kappa(table, method="fleiss"))
    if not math.isfinite(value):
        return Statistic(None, len(used), "kappa undefined"), m
    return Statistic(value, len(used)), m


def krippendorff_alpha(triples: Iterable[Triple]) -> Statistic:
    """Krippendorff's alpha (nominal); items with a single label are not pairable and drop out.

    ``n_items``: the pairable items (labelled by at least two annotators).
    """
    import krippendorff

    items = _by_item(triples)
    pairable = {i: labels for i, labels in items.items() if len(labels) >= 2}
    if not pairable:
        return Statistic(None, 0, "no item has labels from two annotators")
    categories = sorted({lab for labels in pairable.values() for lab in labels.values()})
    if len(categories) < 2:
        reason = "a single category was used: expected disagreement is 0, alpha undefined"
        return Statistic(None, len(pairable), reason)
    annotators = sorted({a for labels in pairable.values() for a in labels})
    code = {c: float(i) for i, c in enumerate(categories)}
    data = np.full((len(annotators), len(pairable)), np.nan)
    row = {a: i for i, a in enumerate(annotators)}
    for j, labels in enumerate(pairable.values()):
        for a, lab in labels.items():
            data[row[a], j] = code[lab]
    value = float(
        krippendorff.alpha(
            reliability_data=data,
            value_domain=list(code.values()),
            level_of_measurement="nominal",
        )
    )
    if not math.isfinite(value):
        return Statistic(None, len(pairable), "alpha undefined")
    return Statistic(value, len(pairable))


def agreement_with_majority(triples: Iterable[Triple]) -> list[AnnotatorAgreement]:
    """Per annotator, the share of items where their label equals the others' majority."""
    items = _by_item(triples)
    labelled: Counter[str] = Counter()
    compared: Counter[str] = Counter()
    matched: Counter[str] = Counter()
    for labels in items.values():
        for annotator, label in labels.items():
            labelled[annotator] += 1
            others = Counter(lab for a, lab in labels.items() if a != annotator)
            if not others:
                continue
            ranked = others.most_common(2)
            if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
                continue  # the others tie: no majority to compare with
            compared[annotator] += 1
            matched[annotator] += ranked[0][0] == label
    out = []
    for annotator in sorted(labelled):
        n = compared[annotator]
        if n == 0:
            out.append(
                AnnotatorAgreement(
                    annotator, labelled[annotator], 0, None, "no item with a majority of others"
                )
            )
        else:
            out.append(
                AnnotatorAgreement(annotator, labelled[annotator], n, matched[annotator] / n)
            )
    return out


def agreement_report(triples: Iterable[Triple]) -> AgreementReport:
    """All of the above for one project."""
    triples = [(i, str(a), str(lab)) for i, a, lab in triples if lab is not None]
    items = _by_item(triples)
    annotators = {a for labels in items.values() for a in labels}
    fleiss_stat, m = fleiss(triples)
    return AgreementReport(
        n_items=len(items),
        n_overlap=sum(len(labels) >= 2 for labels in items.values()),
        n_annotators=len(annotators),
        n_labels=sum(len(labels) for labels in items.values()),
        pairs=cohen_pairs(triples),
        fleiss=fleiss_stat,
        fleiss_raters=m,
        alpha=krippendorff_alpha(triples),
        annotators=agreement_with_majority(triples),
    )
