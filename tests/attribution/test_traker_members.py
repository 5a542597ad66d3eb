"""`engine: traker` with several ensemble members: each member's targets are scored with that member's weights.

traker's contract for M members (TRAKer.finalize_scores): scores = mean_m(S_m) · mean_m(Q_m), where S_m is
member m's un-weighted score φ_m (Φ_mᵀΦ_m + λ_m I)⁻¹ φ'_mᵀ and Q_m its per-example weight; a one-member run
returns S_m · Q_m. So the two-member scores follow from two one-member runs and Q computed here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny import batch, lora_classifier

from olab.attribution.outputs import output_and_q
from olab.attribution.traker_engine import traker_scores

pytest.importorskip("trak")

N_TRAIN, N_TARGETS, SEEDS = 12, 5, (0, 1)
TRAIN, TARGETS = batch(N_TRAIN, seed=10), batch(N_TARGETS, seed=11)


def run_traker(seeds: tuple[int, ...], work) -> np.ndarray:
    out = np.zeros((N_TRAIN, N_TARGETS), dtype=np.float32)
    traker_scores(
        [lambda s=s: lora_classifier(seed=s) for s in seeds], "classification", lambda: [TRAIN], lambda: [TARGETS],
        N_TRAIN, N_TARGETS, None, 0, 0.01, torch.device("cpu"), work, out,
    )  # fmt: skip
    return out.astype(np.float64)


def q(seed: int) -> np.ndarray:
    with torch.no_grad():
        logits = lora_classifier(seed=seed)(TRAIN["input_ids"], TRAIN["attention_mask"]).logits
    return output_and_q("classification", logits, TRAIN["labels"])[1].double().numpy()


def test_two_member_traker_scores_combine_the_single_member_scores(tmp_path):
    a, b = (lora_classifier(seed=s).state_dict() for s in SEEDS)
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the members differ
    qs = [q(s) for s in SEEDS]
    assert all((x > 1e-3).all() for x in qs)
    unweighted = [run_traker((s,), tmp_path / f"single-{s}") / x[:, None] for s, x in zip(SEEDS, qs, strict=True)]
    expected = np.mean(unweighted, axis=0) * np.mean(qs, axis=0)[:, None]
    both = run_traker(SEEDS, tmp_path / "both")
    np.testing.assert_allclose(both, expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())
    # and the order of the members does not matter
    np.testing.assert_allclose(run_traker(SEEDS[::-1], tmp_path / "reversed"), both, rtol=1e-3,
                               atol=1e-4 * np.abs(both).max())  # fmt: skip
