"""The stage cache reuses an entry only for the same stage, inputs and code (olab's sources and library versions)."""

from __future__ import annotations

from pathlib import Path

from olab.pipeline import cache


def _build(calls: list[str]):
    def build(tmp: Path) -> None:
        calls.append(tmp.name)
        (tmp / "artifact.txt").write_text(f"built {len(calls)}")

    return build


def test_an_entry_is_reused_for_the_same_code_and_rebuilt_when_the_code_changes(tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []
    inputs = {"config": {"lr": 1e-3}, "datanet": "sha256:ab"}
    first, hit = cache.cached(tmp_path, "finetune", inputs, _build(calls))
    assert not hit and len(calls) == 1
    again, hit = cache.cached(tmp_path, "finetune", inputs, _build(calls))
    assert hit and again == first and len(calls) == 1

    monkeypatch.setattr(cache, "code_fingerprint", lambda: "another-olab-or-torch")
    upgraded, hit = cache.cached(tmp_path, "finetune", inputs, _build(calls))
    assert not hit and upgraded != first and len(calls) == 2
    assert (first / "artifact.txt").read_text() == "built 1"  # the older code's entry is left as it was


def test_the_fingerprint_covers_olabs_sources_and_library_versions(monkeypatch) -> None:
    before = cache.code_fingerprint()
    cache.code_fingerprint.cache_clear()
    monkeypatch.setattr(cache, "LIBRARIES", (*cache.LIBRARIES, "a-library-that-is-not-installed"))
    try:
        assert cache.code_fingerprint() != before
    finally:
        cache.code_fingerprint.cache_clear()
