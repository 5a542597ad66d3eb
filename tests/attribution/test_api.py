"""`attribute(...)` end to end on tiny adapters: the artifact, both engines, checks before heavy work,
and the contributor aggregation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset
from repo_paths import AGNEWS
from scipy.stats import spearmanr
from tiny import TinyAdapter

from olab.attribution import Attribution, attribute
from olab.errors import ConfigError, OlabError
from olab.hashing import sha256_file

LABELS = ["World", "Sports", "Business", "Sci/Tech"]


def agnews(n: int, offset: int = 0) -> Dataset:
    if not AGNEWS.is_dir():
        pytest.skip(f"needs the AG News TSVs in {AGNEWS}")
    rows = [
        line.rstrip("\n").split("\t") for line in (AGNEWS / "dev.tsv").read_text().splitlines()[offset : offset + n]
    ]
    return Dataset.from_dict({"text": [r[0] for r in rows], "label": [r[1] for r in rows]})


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> TinyAdapter:
    return TinyAdapter.create(tmp_path_factory.mktemp("adapter"), LABELS, n_checkpoints=1)


FAST = {"batch_size": 8, "max_length": 32, "proj_dim": 256}


def test_attribute_writes_a_complete_hashed_artifact(adapter, tmp_path):
    train, targets = agnews(20), agnews(5, offset=100)
    seen = []
    out = tmp_path / "attribution"
    result = attribute(adapter, train, targets, {**FAST, "checkpoints": "all"}, out,
                       progress=lambda e: seen.append((e.stage, e.done, e.total)) if e.kind == "step" else None)  # fmt: skip
    names = ["attribution.json", "member_scores.npy", "scores.npy", "self_influence.npy"]
    assert sorted(p.name for p in out.iterdir()) == names  # two members: each one's scores are kept too
    assert result.scores.shape == (20, 5) and result.scores.dtype == np.float32
    assert np.isfinite(result.scores).all() and np.abs(result.scores).max() > 0
    assert result.self_influence.shape == (20,)
    assert result.scores_hash == sha256_file(out / "scores.npy")
    assert result.params["self_influence_hash"] == sha256_file(out / "self_influence.npy")
    p = result.params
    assert p["engine"] == "olab" and p["projection"]["k"] == 256 and p["projection"]["seed"] == 0
    assert [m["checkpoint"] for m in p["members"]] == [str(c) for c in adapter.checkpoints]
    assert all(m["weights_hash"].startswith("sha256:") for m in p["members"])
    assert len(p["damping_lambda"]) == 2 and p["peak_rss_mb"] > 0 and p["timings"]["total_s"] > 0
    reopened = Attribution.open(out)
    np.testing.assert_array_equal(reopened.scores, result.scores)
    assert reopened.member_scores.shape == (20, 2, 5) and p["member_scores_hash"] == sha256_file(
        out / "member_scores.npy"
    )
    np.testing.assert_allclose(reopened.member_scores.mean(axis=1), reopened.scores, rtol=1e-5, atol=1e-6)
    assert not np.allclose(reopened.member_scores[:, 0], reopened.member_scores[:, 1])
    assert reopened.params == result.params
    # progress reached its total in every stage
    finals = {stage: (done, total) for stage, done, total in seen}
    assert finals and all(done == total for done, total in finals.values())


def test_last_checkpoint_is_the_final_adapter_and_rerun_is_identical(adapter, tmp_path):
    train, targets = agnews(12), agnews(3, offset=100)
    a = attribute(adapter, train, targets, FAST, tmp_path / "a", progress=False)
    b = attribute(adapter, train, targets, FAST, tmp_path / "b", progress=False)
    assert [m["checkpoint"] for m in a.params["members"]] == [None]
    assert a.member_scores is None and "member_scores_hash" not in a.params  # one member: its scores are the mean
    assert a.scores_hash == b.scores_hash  # deterministic on CPU


def test_exact_olab_scores_match_traker_reference(adapter, tmp_path):
    train, targets = agnews(16), agnews(4, offset=100)
    cfg = {**FAST, "proj_dim": 0}
    ours = attribute(adapter, train, targets, cfg, tmp_path / "olab", progress=False)
    ref = attribute(adapter, train, targets, {**cfg, "engine": "traker"}, tmp_path / "traker", progress=False)
    assert ref.params["engine"] == "traker"
    rho = [spearmanr(ours.scores[:, j], ref.scores[:, j])[0] for j in range(4)]
    assert min(rho) > 0.99, rho
    assert spearmanr(ours.self_influence, ref.self_influence)[0] > 0.99


def test_causal_lm_attribution_with_both_engines(tmp_path):
    lm = TinyAdapter.create(tmp_path / "lm", [], task="causal_lm")
    train = Dataset.from_dict(
        {"text": [f"the {w} sat on the mat number {i}" for i, w in enumerate(["cat", "dog", "hen", "cow", "ox"])]}
    )
    targets = Dataset.from_dict({"text": ["the cat sat on the mat", "a dog ran"]})
    cfg = {"batch_size": 4, "max_length": 16, "proj_dim": 0}
    ours = attribute(lm, train, targets, cfg, tmp_path / "olab", progress=False)
    ref = attribute(lm, train, targets, {**cfg, "engine": "traker"}, tmp_path / "traker", progress=False)
    assert ours.scores.shape == (5, 2) and np.isfinite(ours.scores).all()
    for j in range(2):
        assert spearmanr(ours.scores[:, j], ref.scores[:, j])[0] > 0.95


def test_unseen_target_label_stops_before_any_model_is_loaded(tmp_path):
    class Unloadable(TinyAdapter):
        def load(self, checkpoint=None, device=None):
            raise AssertionError("attribution loaded a model before checking its inputs")

    adapter = Unloadable(path=tmp_path, adapter_dir=tmp_path, checkpoints=[], labels=LABELS)
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("keep me")
    targets = Dataset.from_dict({"text": ["rain tomorrow"], "label": ["Weather"]})
    with pytest.raises(OlabError, match=r"labels \['Weather'\].*expected labels among \['World'"):
        attribute(adapter, agnews(4), targets, FAST, out, progress=False)
    no_text = Dataset.from_dict({"body": ["x"], "label": ["World"]})
    with pytest.raises(OlabError, match=r"train set needs columns \['label', 'text'\]"):
        attribute(adapter, no_text, agnews(2), FAST, out, progress=False)
    with pytest.raises(OlabError, match="targets set is empty"):
        attribute(adapter, agnews(2), agnews(0), FAST, out, progress=False)
    assert [p.name for p in out.iterdir()] == ["earlier.txt"]


def test_bad_config_names_the_field():
    with pytest.raises(ConfigError, match="proj_dim"):
        attribute(None, None, None, {"proj_dim": -1}, "unused", progress=False)
    with pytest.raises(ConfigError, match="engine"):
        attribute(None, None, None, {"engine": "magic"}, "unused", progress=False)


def test_n_targets_caps_the_targets(adapter, tmp_path):
    result = attribute(adapter, agnews(8), agnews(6, offset=100), {**FAST, "n_targets": 2}, tmp_path / "a",
                       progress=False)  # fmt: skip
    assert result.scores.shape == (8, 2)


def _attribution(tmp_path, scores: np.ndarray, self_influence: np.ndarray) -> Attribution:
    np.save(tmp_path / "scores.npy", scores.astype(np.float32))
    np.save(tmp_path / "self_influence.npy", self_influence.astype(np.float32))
    (tmp_path / "attribution.json").write_text('{"scores_hash": "sha256:x"}')
    return Attribution.open(tmp_path)


def test_top_lists_proponents_and_opponents(tmp_path):
    scores = np.array([[0.5, 0.0], [-2.0, 1.0], [3.0, 0.0], [0.1, 0.0]])
    att = _attribution(tmp_path, scores, np.zeros(4))
    top = att.top(0, k=2)
    assert top["proponents"] == [(2, 3.0), (0, 0.5)]
    assert top["opponents"] == [(1, -2.0), (3, pytest.approx(0.1))]
    with pytest.raises(OlabError, match="out of range"):
        att.top(2)


def test_contributor_table_aggregates_record_influence(tmp_path):
    scores = np.array([[1.0, 2.0, -1.0], [-4.0, 1.0, 0.0], [0.5, 0.5, 0.5], [2.0, -3.0, 0.0]])
    att = _attribution(tmp_path, scores, np.array([0.1, 0.9, 0.2, 0.4]))
    table = att.contributor_table(
        ["alice", "bob", "alice", "bob"], labels=["World", "Sports", "World", "World"],
        target_labels=["World", "Sports", "World"],
    )  # fmt: skip
    rows = table.set_index("contributor")
    # per record totals: [2, -3, 1.5, -1]
    assert rows.loc["alice", "records"] == 2 and rows.loc["bob", "records"] == 2
    assert rows.loc["alice", "total"] == pytest.approx(3.5)
    assert rows.loc["bob", "total"] == pytest.approx(-4.0)
    assert rows.loc["bob", "positive"] == 0 and rows.loc["bob", "negative"] == pytest.approx(-4.0)
    assert rows.loc["alice", "mean"] == pytest.approx(1.75)
    assert rows.loc["bob", "self_influence_mean"] == pytest.approx(0.65)
    assert rows.loc["alice", "total[World]"] == pytest.approx(1.0 - 1.0 + 0.5 + 0.5)
    assert rows.loc["bob", "total[Sports]"] == pytest.approx(1.0 - 3.0)
    assert rows.loc["bob", "records[Sports]"] == 1 and rows.loc["bob", "records[World]"] == 1
    assert list(table["contributor"]) == ["alice", "bob"]  # highest total first
    with pytest.raises(OlabError, match="one per training record"):
        att.contributor_table(["alice"])


def test_a_list_of_adapters_is_one_ensemble(adapter, tmp_path):
    other = TinyAdapter.create(tmp_path / "other", LABELS, seed=1)
    train, targets = agnews(10), agnews(3, offset=100)
    single = attribute(adapter, train, targets, FAST, tmp_path / "single", progress=False)
    both = attribute([adapter, other], train, targets, FAST, tmp_path / "both", progress=False)
    assert [m["adapter"] for m in both.params["members"]] == [str(adapter.path), str(other.path)]
    assert not np.allclose(both.scores, single.scores)
    with pytest.raises(OlabError, match="must share task and labels"):
        attribute([adapter, TinyAdapter.create(tmp_path / "two", LABELS[:2])], train, targets, FAST,
                  tmp_path / "bad", progress=False)  # fmt: skip


def test_batch_size_is_fitted_to_the_gpu_memory_on_the_longest_examples(adapter, tmp_path, monkeypatch):
    """On CUDA with batch_size null, olab probes the longest examples, halving from 512 until the featurizer
    stops running out of memory. Simulated here on the CPU: batches above 8 rows raise CUDA's OOM error."""
    import olab.attribution.api as api
    from olab.attribution.featurize import Featurizer

    featurize, seen = Featurizer.featurize, []

    def limited(self, batch):
        rows, width = batch["input_ids"].shape
        seen.append((rows, width))
        if rows > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return featurize(self, batch)

    monkeypatch.setattr(Featurizer, "featurize", limited)
    monkeypatch.setattr(api, "default_batch_size", lambda cfg, device: cfg.batch_size)  # as on CUDA with olab
    train, targets = agnews(20), agnews(5, offset=100)
    cfg = {k: v for k, v in FAST.items() if k != "batch_size"}
    fitted = attribute(adapter, train, targets, cfg, tmp_path / "fitted", progress=False)
    assert fitted.params["batch_size"] == 6  # 25 examples -> 25, 12, 6
    probes = seen[:3]
    assert [rows for rows, _ in probes] == [25, 12, 6]
    longest = max(width for _, width in seen[3:])
    assert all(width == longest for _, width in probes)  # the probes are the worst case: the longest examples
    monkeypatch.setattr(Featurizer, "featurize", featurize)
    # another batch size (so other batch compositions and padding) gives the same scores
    fixed = attribute(adapter, train, targets, FAST, tmp_path / "fixed", progress=False)
    assert fixed.params["batch_size"] == 8
    np.testing.assert_allclose(fitted.scores, fixed.scores, rtol=1e-4, atol=1e-5 * np.abs(fixed.scores).max())
