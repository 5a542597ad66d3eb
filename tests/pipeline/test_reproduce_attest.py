"""`olab reproduce --attest` on a local chain attests as a reviewer, not as the run's publisher (whom the
AttributionRegistry refuses), on the tiny in-code model (issue #13, item 6): every hash the same, the same run id,
and its temporary work folder removed. Notebook 04 reproduces a run on the packaged MiniLM the same way."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline_helpers import olab, run_dir_from
from test_inputs import TINY, write_config

from olab.pipeline import Run
from olab.pipeline.reproduction import ReproduceReport


def test_reproduce_attests_as_a_reviewer_other_than_the_publisher(tmp_path: Path, monkeypatch) -> None:
    config = write_config(tmp_path, TINY)
    run_dir = run_dir_from(olab("run", str(config), "--no-progress", cwd=tmp_path).stdout, tmp_path)
    temp = tmp_path / "temp"  # where the reproduction's temporary work folder goes
    temp.mkdir()
    env = os.environ | {"TMPDIR": str(temp)}
    out = olab("reproduce", str(run_dir), "--attest", "--no-progress", cwd=tmp_path, env=env).stdout
    assert "attested: tx 0x" in out and "same run id" in out, out  # the Datanet's path is recorded alike
    assert "reproduced: every hash is the same" in out, out
    assert list(temp.glob("olab-reproduce-*")) == []  # its work folder is gone
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the run finds the chain state (.olab/chain) in its own project
    run = Run.open(run_dir)
    ledger = run.ledger()
    publisher = ledger.get_run(run.manifest.run_id)["publisher"]
    (attestation,) = ledger.attestations(run.manifest.run_id)
    assert attestation["reviewer"] != publisher and attestation["matches_published"]


def _report(differ: bool, share_diff_ppm: int) -> ReproduceReport:
    hashes = {"run id": ("a", "a"), "scores": ("s", "t" if differ else "s"), "rewards": ("r", "q" if differ else "r")}
    return ReproduceReport("a", hashes, rank_correlation=0.99, max_share_diff_ppm=share_diff_ppm, reproduced_root="q")


def test_a_rerun_reproduces_only_when_identical_or_within_the_accepted_share_difference() -> None:
    assert _report(differ=False, share_diff_ppm=0).reproduced()
    other_blas = _report(differ=True, share_diff_ppm=40)
    assert not other_blas.reproduced()  # strict by default: differing hashes fail `olab reproduce` (exit 1)
    assert (
        "NOT reproduced: scores, rewards differ" in other_blas.verdict() and "--max-share-diff" in other_blas.verdict()
    )
    assert other_blas.reproduced(40) and other_blas.verdict(40).startswith("reproduced within 40 ppm")
    assert not other_blas.reproduced(39)
