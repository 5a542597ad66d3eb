"""Answer-time attribution: with the training side prepared once, scoring an answer is one forward+backward and one
matrix-vector product, and gives the run's own TRAK scores for the run's targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from olab.attribution.api import examples
from olab.pipeline import Run
from olab.serve.answers import AnswerScorer


def _opened(run_dir: Path) -> Run:
    manifest = Run.open(run_dir).manifest
    return Run.open(run_dir, datanet_path=run_dir.parent.parent / manifest.datanet.path)


def test_answer_scores_reproduce_the_runs_scores_for_its_targets(runs: dict[str, Path]) -> None:
    run = _opened(runs["clf"])
    scorer = AnswerScorer.prepare(run, 0)
    texts, labels = examples(run.targets, "classification", list(run.adapters[0].labels))
    want = np.asarray(run.attribution.scores)
    got = scorer.scores(texts, labels)
    assert got.shape == want.shape == (24, 4)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())
    alone = scorer.scores(texts[1:2], labels[1:2])[:, 0]  # one answer on its own: the same column
    np.testing.assert_allclose(alone, want[:, 1], rtol=1e-3, atol=1e-4 * np.abs(want).max())
    other = scorer.scores(texts[1:2], [(labels[1] + 1) % len(run.adapters[0].labels)])[:, 0]
    assert not np.allclose(other, alone)  # another answer is explained by other records


def test_a_generated_answer_is_scored_under_the_served_adapter(runs: dict[str, Path]) -> None:
    run = _opened(runs["lm_r4"])
    scorer = AnswerScorer.prepare(run, 2)
    s = scorer.scores(["Markets rally as rates fall", "Team wins the final"])
    assert s.shape == (24, 2) and np.isfinite(s).all() and np.abs(s).sum() > 0
    assert not np.allclose(s[:, 0], s[:, 1])
