"""The one list of what no hash covers (`coverage.OUTSIDE_CHAIN`) is what docs/verify.md shows, and the digests
that cover the rest leave out exactly those parts."""

from __future__ import annotations

import json
from pathlib import Path

from repo_paths import REPO

from olab.pipeline.coverage import file_digest, file_problems, outside_chain_table, run_digests


def test_docs_quote_the_outside_list() -> None:
    doc = (REPO / "docs" / "verify.md").read_text()
    quoted = doc.split("<!-- outside-chain:start -->\n", 1)[1].split("\n<!-- outside-chain:end -->", 1)[0]
    assert quoted == outside_chain_table()


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_a_digest_leaves_out_only_the_listed_parts(tmp_path: Path) -> None:
    attribution = {"timings": {"total_s": 1.0}, "members": [{"adapter": "a", "weights_hash": "h"}], "damping": 1.0}
    write(tmp_path / "attribution" / "attribution.json", attribution)
    write(tmp_path / "rewards.json", {"root": "0x1"})
    recorded = run_digests(tmp_path)
    assert sorted(recorded) == ["attribution/attribution.json", "rewards.json"]

    moved = {**attribution, "timings": {"total_s": 9.0}, "members": [{"adapter": "elsewhere", "weights_hash": "h"}]}
    write(tmp_path / "attribution" / "attribution.json", moved)
    assert file_problems(tmp_path, recorded) == []  # timings and cache paths are outside the chain

    for forged in (
        {**attribution, "damping": 2.0},
        {**attribution, "members": [{"adapter": "a", "weights_hash": "x"}]},
    ):
        write(tmp_path / "attribution" / "attribution.json", forged)
        assert (
            file_digest(tmp_path / "attribution" / "attribution.json", "attribution/attribution.json")
            != recorded["attribution/attribution.json"]
        )
        assert [p.split(" ")[0] for p in file_problems(tmp_path, recorded)] == ["attribution/attribution.json"]


def test_files_the_manifest_does_not_name_or_that_are_gone_are_named(tmp_path: Path) -> None:
    write(tmp_path / "rewards.json", {"root": "0x1"})
    recorded = run_digests(tmp_path)
    (tmp_path / "extra.bin").write_bytes(b"\x00")
    (tmp_path / "manifest.json").write_text("{}")  # checked by its own link, not by `files`
    assert file_problems(tmp_path, recorded) == [
        "extra.bin is not part of the run: the manifest's files do not name it"
    ]
    (tmp_path / "rewards.json").unlink()
    assert "rewards.json is missing (the manifest's files name it)" in file_problems(tmp_path, recorded)
