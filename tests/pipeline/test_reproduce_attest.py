"""`olab reproduce --attest` on a local chain attests as a reviewer, not as the run's publisher (whom the
AttributionRegistry refuses), on the tiny in-code model (issue #13, item 6)."""

from __future__ import annotations

from pathlib import Path

from pipeline_helpers import olab, run_dir_from
from test_inputs import TINY, write_config

from olab.pipeline import Run


def test_reproduce_attests_as_a_reviewer_other_than_the_publisher(tmp_path: Path, monkeypatch) -> None:
    config = write_config(tmp_path, TINY)
    run_dir = run_dir_from(olab("run", str(config), "--no-progress", cwd=tmp_path).stdout, tmp_path)
    out = olab("reproduce", str(run_dir), "--attest", "--no-progress", cwd=tmp_path).stdout
    assert "attested: tx 0x" in out and "same run id" in out, out  # the Datanet's path is recorded alike
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the run finds the chain state (.olab/chain) in its own project
    run = Run.open(run_dir)
    ledger = run.ledger()
    publisher = ledger.get_run(run.manifest.run_id)["publisher"]
    (attestation,) = ledger.attestations(run.manifest.run_id)
    assert attestation["reviewer"] != publisher and attestation["matches_published"]
