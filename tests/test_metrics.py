"""Known-answer tests for olab.metrics: LDS, Spearman, ROC AUC, random subsets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from olab.errors import ValidationError
from olab.metrics import (
    LDSResult,
    lds,
    paired_difference,
    random_subsets,
    roc_auc,
    spearman,
    spearman_columns,
    top_and_bottom,
)


def _setup(n_train=120, n_targets=40, m=60, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n_train, n_targets))
    masks = random_subsets(n_train, m, seed=seed)
    return rng, scores, masks


def test_perfect_predictor_scores_one():
    _, scores, masks = _setup()
    outputs = masks @ scores
    res = lds(scores, masks, outputs)
    assert res.mean == pytest.approx(1.0)
    assert res.ci_low == pytest.approx(1.0) and res.ci_high == pytest.approx(1.0)
    assert res.n_undefined == 0 and res.n_targets == 40 and res.n_subsets == 60


def test_monotone_transform_of_outputs_keeps_lds_one():
    # Spearman is rank-based: a retraining output that is any increasing function of the prediction is perfect.
    _, scores, masks = _setup()
    outputs = np.tanh(0.1 * (masks @ scores)) * 3 + 7
    assert lds(scores, masks, outputs).mean == pytest.approx(1.0)


def test_anticorrelated_predictor_scores_minus_one():
    _, scores, masks = _setup()
    res = lds(scores, masks, -(masks @ scores))
    assert res.mean == pytest.approx(-1.0)


def test_noisy_predictor_lies_between():
    rng, scores, masks = _setup()
    clean = masks @ scores
    noisy = clean + rng.normal(scale=clean.std(), size=clean.shape)
    res = lds(scores, masks, noisy)
    assert 0.4 < res.mean < 0.9
    assert res.ci_low < res.mean < res.ci_high


def test_random_predictor_scores_zero_with_interval_covering_zero():
    rng, scores, masks = _setup(n_targets=300)
    outputs = rng.normal(size=(masks.shape[0], 300))
    res = lds(scores, masks, outputs)
    assert abs(res.mean) < 0.03
    assert res.ci_low < 0.0 < res.ci_high
    assert res.ci_high - res.ci_low < 0.1


def test_undefined_targets_are_counted_and_excluded():
    _, scores, masks = _setup()
    outputs = masks @ scores
    scores[:, 3] = 0.0  # constant predictions for target 3
    outputs[:, 7] = 2.5  # constant outputs for target 7
    outputs[:, 9] = -(masks @ scores[:, 9])  # a defined target with LDS -1, still counted
    res = lds(scores, masks, outputs)
    assert res.n_undefined == 2
    assert np.isnan(res.per_target[[3, 7]]).all()
    assert np.isfinite(np.delete(res.per_target, [3, 7])).all()
    assert res.mean == pytest.approx((37 * 1.0 - 1.0) / 38)
    assert res.to_dict()["per_target"][3] is None
    back = LDSResult.from_dict(json.loads(json.dumps(res.to_dict())))  # through results.json and back
    assert (back.mean, back.ci_low, back.ci_high, back.n_undefined) == (res.mean, res.ci_low, res.ci_high, 2)
    np.testing.assert_array_equal(back.per_target, res.per_target)  # NaN where undefined, in the same places


def test_paired_difference_known_answers_and_tighter_than_unpaired():
    rng, scores, masks = _setup(n_targets=200)
    clean = masks @ scores
    perfect = lds(scores, masks, clean)
    anti = lds(scores, masks, -clean)
    assert paired_difference(perfect, anti) == pytest.approx((2.0, 2.0, 2.0))
    assert paired_difference(perfect, perfect) == (0.0, 0.0, 0.0)
    # two noisy predictors of the same outputs: B's scores are A's plus a little noise
    outputs = clean + rng.normal(scale=2 * clean.std(), size=clean.shape)
    a = lds(scores, masks, outputs)
    b = lds(scores + rng.normal(scale=0.3, size=scores.shape), masks, outputs)
    mean, low, high = paired_difference(a, b)
    assert mean == pytest.approx(a.mean - b.mean)
    assert low < mean < high
    assert high - low < 0.5 * ((a.ci_high - a.ci_low) + (b.ci_high - b.ci_low)) / 2  # shared noise cancels


def test_paired_difference_uses_targets_defined_in_both():
    _, scores, masks = _setup(n_targets=5)
    outputs = masks @ scores
    a_scores = scores.copy()
    a_scores[:, 0] = 0.0  # undefined for a only
    a = lds(a_scores, masks, outputs)
    b = lds(scores, masks, -outputs)
    assert paired_difference(a, b)[0] == pytest.approx(2.0)
    with pytest.raises(ValidationError, match="same targets"):
        paired_difference(a, lds(scores[:, :4], masks, outputs[:, :4]))


def test_all_targets_undefined_raises():
    _, scores, masks = _setup(n_targets=3)
    with pytest.raises(ValidationError, match="undefined for all 3 targets"):
        lds(scores, masks, np.ones((masks.shape[0], 3)))


def test_bootstrap_is_seeded_and_interval_widens_with_confidence():
    rng, scores, masks = _setup()
    outputs = masks @ scores + rng.normal(scale=5.0, size=(masks.shape[0], scores.shape[1]))
    a = lds(scores, masks, outputs, seed=1)
    b = lds(scores, masks, outputs, seed=1)
    wide = lds(scores, masks, outputs, seed=1, confidence=0.99)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert wide.ci_low <= a.ci_low and wide.ci_high >= a.ci_high


@pytest.mark.parametrize(
    ("scores_shape", "masks", "outputs_shape", "message"),
    [
        ((10, 4), np.ones((5, 9), bool), (5, 4), "9 columns but scores has 10"),
        ((10, 4), np.ones((5, 10), bool), (5, 3), r"shape \(m subsets, n_targets\) = \(5, 4\)"),
        ((10, 4), np.ones((5, 10)), (5, 4), "2-D bool array"),
        ((10, 4), np.ones((2, 10), bool), (2, 4), "at least 3 subsets"),
        ((10,), np.ones((5, 10), bool), (5, 4), "scores must be a 2-D array"),
    ],
)
def test_lds_rejects_bad_shapes_with_named_problem(scores_shape, masks, outputs_shape, message):
    with pytest.raises(ValidationError, match=message):
        lds(np.ones(scores_shape), masks, np.ones(outputs_shape))


def test_lds_rejects_nan_outputs():
    _, scores, masks = _setup(n_targets=4)
    outputs = masks @ scores
    outputs[2, 1] = np.nan
    with pytest.raises(ValidationError, match=r"outputs must be finite; entry \[2, 1\]"):
        lds(scores, masks, outputs)


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = rng.integers(0, 5, size=30)
        b = a + rng.integers(0, 4, size=30)
        assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_spearman_columns_is_per_column():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(25, 6))
    b = rng.normal(size=(25, 6))
    expected = [spearmanr(a[:, j], b[:, j]).statistic for j in range(6)]
    np.testing.assert_allclose(spearman_columns(a, b), expected, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(200) < 0.3
    scores = np.round(rng.normal(size=200) + labels, 1)  # rounding makes many ties
    assert len(np.unique(scores)) < 100
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert roc_auc(scores, labels.astype(int)) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_roc_auc_known_answers():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.booleans()), min_size=2, max_size=40))
def test_roc_auc_is_antisymmetric_in_the_score_sign(pairs):
    scores = np.array([p[0] for p in pairs], float)
    labels = np.array([p[1] for p in pairs])
    if labels.all() or not labels.any():
        with pytest.raises(ValidationError, match="needs both classes"):
            roc_auc(scores, labels)
        return
    assert roc_auc(scores, labels) + roc_auc(-scores, labels) == pytest.approx(1.0)


def test_roc_auc_rejects_non_binary_labels():
    with pytest.raises(ValidationError, match="bool or 0/1"):
        roc_auc([0.1, 0.2, 0.3], [0, 1, 2])


def test_random_subsets_have_exact_size_and_are_seeded():
    masks = random_subsets(101, 30, fraction=0.5, seed=7)
    assert masks.shape == (30, 101) and masks.dtype == np.bool_
    assert (masks.sum(axis=1) == 50).all()
    np.testing.assert_array_equal(masks, random_subsets(101, 30, fraction=0.5, seed=7))
    assert not np.array_equal(masks, random_subsets(101, 30, fraction=0.5, seed=8))
    assert len({row.tobytes() for row in masks}) == 30
    # every example lands in about half the subsets
    assert random_subsets(50, 400, seed=1).mean(axis=0).min() > 0.3


def test_random_subsets_rejects_degenerate_fraction():
    with pytest.raises(ValidationError, match="strictly between 0 and 1"):
        random_subsets(10, 3, fraction=1.0)
    with pytest.raises(ValidationError, match="selects 0 examples"):
        random_subsets(3, 3, fraction=0.1)


def test_adapter_outputs_refuses_unknown_labels_and_other_tasks_before_loading():
    from types import SimpleNamespace

    from olab.metrics import adapter_outputs

    clf = SimpleNamespace(task="classification", labels=["a", "b"], path="adapters/x")
    with pytest.raises(ValidationError, match=r"labels \['c'\] are not among the adapter's labels \['a', 'b'\]"):
        adapter_outputs(clf, ["t1", "t2"], ["a", "c"], max_length=8)
    lm = SimpleNamespace(task="causal_lm", labels=[], path="adapters/y")
    with pytest.raises(ValidationError, match="needs a classification adapter, adapters/y is 'causal_lm'"):
        adapter_outputs(lm, ["t1"], ["a"], max_length=8)


def test_top_and_bottom_orders_ties_by_position_and_caps_k():
    highest, lowest = top_and_bottom([0.5, -2.0, 3.0, 0.5, -2.0], k=2)
    assert highest.tolist() == [2, 0] and lowest.tolist() == [4, 1]
    highest, lowest = top_and_bottom([1.0, -1.0], k=10)
    assert highest.tolist() == [0, 1] and lowest.tolist() == [1, 0]
