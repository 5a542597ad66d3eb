"""Bad places give one clear error, never a traceback: `olab verify` on a directory without a manifest or with
a corrupt one names the broken link (exit 1); an unwritable runs_dir or Datanet root_dir is named before any
heavy work (issue #13, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_helpers import olab
from test_inputs import TINY, deep_update, write_config

from olab.datanet import Datanet
from olab.errors import DatanetError


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "manifest.json is missing, so no link of the run can be checked"), (b"{bad", "is not readable JSON")],
)
def test_verify_names_a_missing_or_corrupt_manifest_as_the_broken_link(tmp_path: Path, content, expected):
    run_dir = tmp_path / "runs" / "0123456789abcdef"
    run_dir.mkdir(parents=True)
    if content is not None:
        (run_dir / "manifest.json").write_bytes(content)
    done = olab("verify", str(run_dir), cwd=tmp_path, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 1 and expected in out and "Traceback" not in out, out


def test_a_runs_dir_that_cannot_be_written_is_named_before_training(tmp_path: Path):
    (tmp_path / "a-file").write_text("not a directory")
    config = write_config(tmp_path, deep_update(TINY, {"run": {"runs_dir": "a-file/runs"}}))
    done = olab("run", str(config), "--no-progress", cwd=tmp_path, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 2 and "run.runs_dir: cannot write to a-file/runs" in out and "Traceback" not in out, out


def test_a_datanet_root_that_cannot_be_created_is_one_error(tmp_path: Path):
    (tmp_path / "a-file").write_text("not a directory")
    config = {"name": "x", "root_dir": str(tmp_path / "a-file" / "sub"), "source": {"kind": "synthetic", "n": 20}}
    with pytest.raises(DatanetError, match=r"cannot create the Datanet directory .* \(check datanet\.root_dir\)"):
        Datanet.build(config, progress=False)


def test_run_refuses_a_reused_datanet_whose_stored_records_were_edited(tmp_path: Path):
    import pyarrow.parquet as pq

    config = write_config(tmp_path, TINY)
    olab("datanet", "build", str(config), cwd=tmp_path)
    records = next((tmp_path / "datanets").rglob("records.parquet"))
    table = pq.read_table(records)
    texts = table.column("text").to_pylist()
    texts[0] = texts[0] + " (edited)"
    pq.write_table(table.set_column(table.column_names.index("text"), "text", [texts]), records)
    done = olab("run", str(config), "--no-progress", cwd=tmp_path, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "was changed" in out and "Traceback" not in out, out
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("*/manifest.json"))
