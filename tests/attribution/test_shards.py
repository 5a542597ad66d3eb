"""Feature shards on fsspec storage: whole shards or none, row ranges across shards, and the Gram matrix
summed shard by shard exactly as the local executor sums it."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from olab.attribution.ray_executor import stored_member
from olab.attribution.shards import ShardedRows, ShardStore, shard_bounds, shard_name, shard_rows
from olab.attribution.trak import fold_grams, write_features


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_shard_rows_are_whole_batches():
    assert shard_rows(256, 32) == 256 and shard_rows(100, 32) == 128 and shard_rows(1, 8) == 8
    assert shard_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]


@pytest.mark.parametrize("url", ["local", "memory"])
def test_a_shard_counts_only_once_whole_and_reads_back_by_row_range(tmp_path, url):
    root = str(tmp_path / "job") if url == "local" else f"memory://olab-test-{tmp_path.name}/job"
    store = ShardStore(root)
    assert store.done() == set()
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((10, 3)).astype(np.float32)
    for i, (a, b) in enumerate(shard_bounds(10, 4)):
        store.write(shard_name(0, "train", i), npy_bytes(feats[a:b]), np.ones(b - a), np.eye(3), {"i": i})
    # a writer killed mid-shard leaves only a temporary name, which is never taken for a shard
    store.fs.pipe(f"{store.root}/.{shard_name(0, 'train', 3)}.npy.deadbeef.tmp", b"half")
    store.fs.pipe(f"{store.root}/{shard_name(0, 'train', 4)}.npy", npy_bytes(feats))  # features without stats
    assert store.done() == {shard_name(0, "train", i) for i in range(3)}
    rows = ShardedRows(store, 0, "train", 10, 4)
    np.testing.assert_array_equal(rows.read(3, 9), feats[3:9])
    np.testing.assert_array_equal(rows.read(8, 10), feats[8:10])
    np.testing.assert_array_equal(rows.array(), feats)
    q, gram, info = store.stats(shard_name(0, "train", 2))
    assert q.shape == (2,) and info == {"i": 2} and np.array_equal(gram, np.eye(3))
    store.remove()
    assert store.done() == set()


def test_local_gram_is_the_shard_by_shard_sum(tmp_path):
    """What makes Ray's ΦᵀΦ bit-identical: the local executor folds per-shard sums in shard order too."""
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(4, 6, generator=gen) * 10.0 ** (i % 5) for i in range(6)]

    def featurize(b):
        return b, torch.ones(b.shape[0])

    whole = write_features(featurize, batches, 24, 6, tmp_path / "a.npy", shard_rows=8)
    shards = [write_features(featurize, batches[i : i + 2], 8, 6, tmp_path / f"s{i}.npy") for i in range(0, 6, 2)]
    assert np.array_equal(whole.xtx, fold_grams([s.xtx for s in shards], 6))
    one = write_features(featurize, batches, 24, 6, tmp_path / "b.npy")
    np.testing.assert_allclose(one.xtx, whole.xtx, rtol=1e-12)


def test_a_member_assembled_from_stored_shards_equals_the_local_features(tmp_path):
    """The Ray driver's view of a member (Q, ΦᵀΦ folded shard by shard, rows) is the local executor's, bit for bit."""
    gen = torch.Generator().manual_seed(1)
    data = {"train": [torch.randn(4, 5, generator=gen) * 10.0 ** (i % 4) for i in range(5)],
            "targets": [torch.randn(4, 5, generator=gen)]}  # fmt: skip

    def featurize(b):
        return b, b.sum(dim=1)

    store = ShardStore(str(tmp_path / "job"))
    local = {}
    for which, batches in data.items():
        n = 4 * len(batches)
        local[which] = write_features(featurize, batches, n, 5, tmp_path / f"{which}.npy", shard_rows=8)
        for i, (a, b) in enumerate(shard_bounds(n, 8)):
            shard = write_features(featurize, batches[a // 4 : b // 4], b - a, 5, tmp_path / f"{which}{i}.npy")
            store.write(shard_name(0, which, i), shard.path.read_bytes(), shard.q, shard.xtx, {"feature_dim": 5})
    member, info = stored_member(store, 0, {"train": 20, "targets": 4}, 8)
    assert info == {"feature_dim": 5}
    for which, features in (("train", member.train), ("targets", member.targets)):
        assert np.array_equal(features.xtx, local[which].xtx)
        assert np.array_equal(features.q, local[which].q)
        assert np.array_equal(features.array(), np.load(local[which].path))
