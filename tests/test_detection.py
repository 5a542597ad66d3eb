"""olab.detection: each method ranks records as harmful from self-influence and training loss; bad input is named."""

from __future__ import annotations

import numpy as np
import pytest

from olab import detection
from olab.errors import ConfigError, ValidationError
from olab.metrics import roc_auc


def signals(seed: int = 0, n: int = 400):
    """Flipped records (10%) with a higher loss, a class (label 'b') that is hard for everyone, and self-influence
    that carries the flips more weakly and is log-normal, as TRAK's is."""
    rng = np.random.default_rng(seed)
    flipped = rng.random(n) < 0.1
    labels = np.where(rng.random(n) < 0.5, "a", "b")
    loss = rng.gamma(2.0, 0.2, n) + 1.0 * flipped + 1.5 * (labels == "b")
    self_influence = np.exp(rng.normal(size=n) + 1.0 * flipped)
    return flipped, self_influence, loss, list(labels)


def test_every_method_scores_every_record_and_the_aucs_are_the_methods_own():
    flipped, si, loss, labels = signals()
    found = detection.aucs(flipped, si, loss, labels)
    assert list(found) == list(detection.METHODS) and detection.DEFAULT in found
    for method, auc in found.items():
        assert auc == roc_auc(detection.harm_scores(si, loss, labels, method), flipped)
    assert found["training_loss"] == roc_auc(loss, flipped) and found["self_influence"] == roc_auc(si, flipped)
    # the hard class hides flips from the raw loss; standardising within each label brings them out
    assert found["loss_within_class"] > found["training_loss"] + 0.05
    mean_rank = detection.harm_scores(si, loss, labels, "mean_rank")
    assert mean_rank.min() >= 0 and mean_rank.max() <= 1
    assert np.argmax(mean_rank) == np.argmax(np.argsort(np.argsort(si)) + np.argsort(np.argsort(loss)))


def test_without_labels_the_within_class_loss_is_the_standardised_loss():
    _, si, loss, _ = signals(1)
    scores = detection.harm_scores(si, loss, None, "loss_within_class")
    assert scores == pytest.approx((loss - loss.mean()) / loss.std())


def test_bad_input_is_named():
    with pytest.raises(ConfigError, match="unknown detection method 'loss'; expected one of self_influence"):
        detection.harm_scores([1.0], [1.0], method="loss")
    with pytest.raises(ValidationError, match="self-influence has 2 records and training loss 3"):
        detection.harm_scores([1.0, 2.0], [1.0, 2.0, 3.0])
    assert detection.describe(detection.DEFAULT) == "mean rank of self-influence and training loss"
