"""A run's id covers what defines its result: not where it is kept, nor whether it was published."""

from __future__ import annotations

import copy

from olab.pipeline.config import RunConfig
from olab.pipeline.manifest import compute_manifest_hash, compute_run_id, run_config_hash


def manifest(**run: object) -> dict:
    cfg = RunConfig.model_validate({"run": run, "datanet": {}, "targets": {"source": {"n": 5}}})
    config = cfg.model_dump(mode="json")
    return {"config": config, "config_hash": run_config_hash(config), "rewards": {"root": "0x" + "ab" * 32}}


def test_run_id_ignores_runs_dir_and_publish_but_not_the_recipe():
    base = manifest()
    elsewhere = manifest(runs_dir="/tmp/olab-reproduce-x/runs", publish=False)
    assert elsewhere["config"] != base["config"]  # the manifest still records them
    assert compute_run_id(elsewhere) == compute_run_id(base)
    assert elsewhere["config_hash"] == base["config_hash"]
    more_models = manifest(models=2)
    assert compute_run_id(more_models) != compute_run_id(base) and more_models["config_hash"] != base["config_hash"]
    tampered = copy.deepcopy(base)
    tampered["config"]["rewards"]["policy"] = "positive_records"
    assert compute_run_id(tampered) != compute_run_id(base)
    base["run_id"] = compute_run_id(base)
    assert compute_manifest_hash({**base, "chain": {"tx": "0x1"}}) == compute_manifest_hash(base)


def test_manifest_hash_covers_the_run_files_and_run_id_does_not():
    """rewards.json names the run id, so the file digests cannot be in it; they are in what goes on chain."""
    base = manifest()
    base["run_id"] = compute_run_id(base)
    base["files"] = {"rewards.json": "sha256:" + "1" * 64}
    other = {**base, "files": {"rewards.json": "sha256:" + "2" * 64}}
    assert compute_run_id(other) == compute_run_id(base)
    assert compute_manifest_hash(other) != compute_manifest_hash(base)
