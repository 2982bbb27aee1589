"""scikit-learn's estimator checks: ProtoNetClassifier passes all that apply to a classifier
(no expected failures; the array-API check is skipped by sklearn itself without SCIPY_ARRAY_API)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from meta import ProtoNetClassifier

# Small and fast: the checks fit dozens of times on tiny data sets.
ESTIMATOR = ProtoNetClassifier(max_steps=30, hidden_sizes=(32,), embedding_dim=16, random_state=0)


@parametrize_with_checks([ESTIMATOR])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
