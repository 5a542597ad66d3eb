"""Bad input stops `olab run` with a clear message before heavy work and leaves earlier artifacts intact;
other tasks and data sources run end to end (a causal LM on a tiny in-code model; AG News through `datasets`)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from pipeline_helpers import olab, run_dir_from
from repo_paths import REPO, load_script, needs_agnews
from tiny_run import TINY, deep_update

from olab.datanet.sources import load_source
from olab.hashing import sha256_dir
from olab.io import read_json
from olab.pipeline import Run as OpenedRun
from olab.progress import Log
from olab.rewards import verify_file

# one worker for the module, so `finished_project` (a module fixture) is made once, not once per worker or per visit
pytestmark = pytest.mark.xdist_group("tiny-project")


def write_config(cwd: Path, data: dict, name: str = "config.yaml") -> Path:
    path = cwd / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_causal_lm_runs_end_to_end_on_a_tiny_model(finished_project: Path) -> None:
    runs = [p for p in (finished_project / "runs").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1
    run_dir = runs[0]
    run = OpenedRun.open(run_dir, datanet_path=finished_project / "datanets" / "tiny")
    assert run.config.finetune.task == "causal_lm" and run.adapters[0].task == "causal_lm"
    scores = run.attribution.scores
    assert scores.shape == (48, 8) and np.isfinite(scores).all() and np.abs(scores).sum() > 0
    assert list(run.targets["text"]) == list(load_source(run.config.targets.source)["text"])  # stored in the run dir
    olab("verify", str(run_dir), cwd=finished_project)


def test_every_share_has_an_interval_in_the_output_rewards_json_and_report(project: Path) -> None:
    """The rerun reuses every stage; its output, rewards.json and report give each share's 95% interval, which
    holds the share; they are not leaves of the reward tree, and verify recomputes them."""
    proc = olab("run", str(project / "config.yaml"), "--no-progress", cwd=project)
    (run_dir,) = [p for p in (project / "runs").iterdir() if not p.name.startswith(".")]
    run = OpenedRun.open(run_dir, datanet_path=project / "datanets" / "tiny")
    stored = read_json(run.layout.rewards)["intervals"]
    assert stored["resampled"] == "targets" and stored["targets"] == 8 and stored["resamples"] == 1000
    assert "reward shares (95% intervals over the targets):" in proc.stdout
    for share in run.rewards.shares:
        if share.contributor not in stored["ppm"]:  # the pool's rounding leaf has no interval
            continue
        low, high = run.rewards.interval(share.contributor)
        assert [low, high] == stored["ppm"][share.contributor] and low <= share.share_ppm <= high
        line = next(ln for ln in proc.stdout.splitlines() if ln.rstrip().endswith(share.contributor))
        assert f"{share.share_ppm / 10_000:.2f} % [{low / 10_000:.2f}, {high / 10_000:.2f}]" in line, line
        assert f"[{low / 10_000:.2f}, {high / 10_000:.2f}]" in run.layout.report.read_text()
    assert run.verify(chain=False).ok
    data = read_json(run.layout.rewards)
    data["intervals"]["ppm"] = {a: [0, 1_000_000] for a in data["intervals"]["ppm"]}
    run.layout.rewards.write_text(json.dumps(data))
    assert verify_file(run.layout.rewards) == []  # outside the leaves: the root and every proof still hold
    checked = run.verify(chain=False)
    assert "rewards" in checked.broken and "intervals in rewards.json do not follow" in checked.summary()


def test_with_several_members_the_intervals_resample_them_too(project: Path) -> None:
    """Two checkpoints ensembled: attribution keeps each one's scores, the intervals draw members and targets,
    rewards.json and the output say so, verify holds, and an edited member score breaks the attribution link."""
    proc = olab(
        "run", str(project / "config.yaml"), "--no-progress", "--set", "finetune.checkpoints=2",
        "--set", "attribution.checkpoints=all", "--set", "run.publish=false", cwd=project,
    )  # fmt: skip
    run = OpenedRun.open(run_dir_from(proc.stdout, project), datanet_path=project / "datanets" / "tiny")
    stored = read_json(run.layout.rewards)["intervals"]
    assert stored["resampled"] == "targets and ensemble members" and run.attribution.member_scores.shape[1] == 2
    assert stored["method"] == "percentile bootstrap over targets and ensemble members"
    assert "reward shares (95% intervals over the targets and ensemble members):" in proc.stdout
    assert run.verify(chain=False).ok
    members = run.layout.attribution / "member_scores.npy"
    edited = np.load(members)
    edited[0, 0] += 1.0
    np.save(members, edited)
    assert "attribution" in run.verify(chain=False).broken


def test_a_precision_the_intervals_miss_is_priced_in_targets(project: Path) -> None:
    proc = olab(
        "run", str(project / "config.yaml"), "--no-progress", "--set", "rewards.max_interval_ppm=1", cwd=project
    )
    stored = read_json(run_dir_from(proc.stdout, project) / "rewards.json")["intervals"]
    assert stored["asked_ppm"] == 1 and stored["widest_ppm"] > 1 and stored["targets_for_asked"] > 8
    widest, needed = stored["widest_ppm"], stored["targets_for_asked"]
    assert needed == math.ceil(8 * widest**2)
    timings = read_json(run_dir_from(proc.stdout, project) / "attribution" / "attribution.json")["timings"]
    extra = (needed - 8) * (timings["featurize_s"] / (48 + 8) + timings["score_s"] / 8)
    assert (
        f"note: the widest 95% share interval is {widest:,} ppm, wider than rewards.max_interval_ppm=1: "
        f"about {needed:,} targets (now 8; 8 x ({widest:,} / 1)^2, as an interval narrows with 1/sqrt(targets)) "
        f"would narrow it to that, adding about {extra:,.0f} s to attribution at this run's rate; models trained "
        "with other seeds are not in these intervals" in " ".join(proc.stdout.split())
    )


def test_the_run_reopens_as_one_object_and_rewrites_its_report(project: Path, tmp_path: Path, monkeypatch) -> None:
    """From another working directory: the Datanet and the embedded chain are found in the run's project."""
    (run_dir,) = [p for p in (project / "runs").iterdir() if not p.name.startswith(".")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = OpenedRun.open(run_dir)
    m = run.manifest
    assert run.project_dir == project.resolve() and run.datanet_path == project.resolve() / "datanets" / "tiny"
    assert run.ledger().get_run(m.run_id)["publisher"] == run.ledger().account  # the chain the run was published on
    assert not (elsewhere / ".olab").exists()  # no empty chain started in the working directory
    assert [a.hash for a in run.adapters] == m.adapter.models and run.datanet.root == m.datanet.root
    assert run.rewards.run_id == m.run_id and run.rewards.root == m.rewards.root
    assert len(run.targets) == m.targets.count == 8 and run.attribution.scores_hash == m.attribution.scores_hash
    records = run.records()
    assert len(records) == 48 and records["influence"].to_numpy() == pytest.approx(run.attribution.record_totals())
    assert set(run.behaviours().values()) <= {"clean", "label_noise", "near_duplicate_spam", "off_topic"}
    assert run.contributors()["records"].sum() == 48
    run.layout.report.unlink()
    assert run.report().is_file() and m.run_id in run.layout.report.read_text()
    assert run.verify().ok, run.verify().summary()


def test_each_records_training_loss_is_its_loss_under_the_adapter_and_feeds_the_detector(project: Path) -> None:
    """record_loss.npy holds each record's mean per-token loss of its response (the Datanet's label) given its
    prompt (its text) under the adapter, what transformers' own loss gives for the record alone, and harm_score ranks records by the run's detector over it and self-influence."""
    import torch

    from olab import detection
    from olab.adapters.data import encode

    (run_dir,) = [p for p in (project / "runs").iterdir() if not p.name.startswith(".")]
    run = OpenedRun.open(run_dir, datanet_path=project / "datanets" / "tiny")
    records = run.records()
    model, tokenizer = run.adapters[0].load(device="cpu")
    for i in (0, 17, 47):
        pair = (records["text"][i], records["label"][i])
        batch = encode(tokenizer, [pair], None, "causal_lm", run.config.finetune.max_length)
        with torch.no_grad():
            expected = float(model(**batch).loss)
        assert records["training_loss"][i] == pytest.approx(expected, rel=1e-4)
    assert run.config.run.detector == detection.DEFAULT
    assert records["harm_score"].to_numpy() == pytest.approx(
        detection.harm_scores(records["self_influence"], records["training_loss"], None, detection.DEFAULT)
    )
    assert (run_dir / "record_loss.npy").name in run.manifest.files  # hashed into the run, checked by verify


def test_a_malformed_manifest_is_named_by_open_and_by_verify(project: Path) -> None:
    from olab.errors import OlabError, VerificationError
    from olab.pipeline import verify

    (run_dir,) = [p for p in (project / "runs").iterdir() if not p.name.startswith(".")]
    manifest = read_json(run_dir / "manifest.json")
    del manifest["rewards"]["root"]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(VerificationError, match=r"rewards\.root"):
        OpenedRun.open(run_dir)
    report = verify(run_dir, chain=False)
    assert report.broken == ["manifest"] and "rewards.root" in report.summary()
    with pytest.raises(OlabError, match=r"is not a run directory: it has no manifest.json"):
        OpenedRun.open(project)


def test_tampered_targets_break_the_targets_link(project: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from olab.pipeline import verify

    (run_dir,) = [p for p in (project / "runs").iterdir() if not p.name.startswith(".")]
    table = pq.read_table(run_dir / "targets.parquet")
    labels = table.column("label").to_pylist()
    labels[0] += "!"  # one target relabelled
    pq.write_table(table.set_column(1, "label", pa.array(labels)), run_dir / "targets.parquet")
    report = verify(run_dir, chain=False, datanet_path=project / "datanets" / "tiny")
    # the file's digest, the targets' hash, and the report (which shows sample targets) all break
    assert report.broken == ["files", "targets", "report"], report.summary()


@pytest.fixture(scope="module")
def finished_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project directory whose tiny Datanet and an earlier successful run already exist."""
    cwd = tmp_path_factory.mktemp("project")
    olab("run", str(write_config(cwd, TINY)), "--no-progress", cwd=cwd)
    return cwd


@pytest.fixture
def project(finished_project: Path, tmp_path: Path) -> Path:
    """A private copy of `finished_project` for a test to try to break."""
    return Path(shutil.copytree(finished_project, tmp_path / "project"))


BAD = {
    "missing column": (
        {"datanet": {"columns": {"text": "body"}}},
        ["body", "text"],
    ),
    "unknown base model path": (
        {"finetune": {"base_model": "/nowhere/such-model"}},
        ["/nowhere/such-model"],
    ),
    "targets with unseen labels": (
        {
            "finetune": {"task": "classification"},  # a causal LM's target labels are reference answers: any string
            "targets": {
                "source": {
                    "kind": "files",
                    "data_files": "__TARGETS__",
                    "format": "tsv",
                    "column_names": ["text", "label"],
                }
            },
        },
        ["Weather", "labels"],
    ),
    "empty datanet": (
        {"datanet": {"validation": {"min_chars": 4000}}},
        ["passed validation", "validation.min_chars"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_stops_early_and_leaves_artifacts_intact(project: Path, case: str) -> None:
    patch, must_mention = BAD[case]
    targets = project / "targets.tsv"
    targets.write_text("Rain expected over the hills tomorrow\tWeather\n")
    data = deep_update(TINY, yaml.safe_load(yaml.safe_dump(patch).replace("__TARGETS__", str(targets))))
    config = write_config(project, data, "bad.yaml")
    before = sha256_dir(project, exclude=("bad.yaml",))
    proc = olab("run", str(config), "--no-progress", cwd=project, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "[olab] finetune" not in proc.stdout, "heavy work started before the input was checked"
    for words in must_mention:
        assert words in proc.stderr, proc.stderr
    assert sha256_dir(project, exclude=("bad.yaml",)) == before


def test_bad_config_value_names_the_field(tmp_path: Path) -> None:
    data = deep_update(TINY, {"finetune": {"lora": {"r": 0}}, "attribution": {"engine": "magic"}})
    proc = olab("run", str(write_config(tmp_path, data)), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "finetune.lora.r" in proc.stderr and "attribution.engine" in proc.stderr
    assert "'olab'" in proc.stderr and "'magic'" in proc.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "datanets").exists()


@pytest.mark.slow
@needs_agnews
@pytest.mark.skipif(
    not os.environ.get("OLAB_LONG_TESTS"),
    reason="about 20 minutes on a busy 2-core CPU; set OLAB_LONG_TESTS=1 to run it",
)
def test_agnews_gamers_earn_less_than_every_clean_contributor(tmp_path: Path) -> None:
    """configs/agnews_gaming.yaml (real AG News via `datasets`, the quickstart's six contributors): self-influence
    flags the flipped labels; the near-copy spammer (rate 0.5) and the off-topic contributor net less than every
    clean contributor, the label-noise contributor least; no strategy of experiments/gaming beats honest."""
    from olab.metrics import roc_auc

    proc = olab("run", str(REPO / "configs" / "agnews_gaming.yaml"), "--no-progress", cwd=tmp_path, timeout=3600)
    run_dir = run_dir_from(proc.stdout, tmp_path)
    run = OpenedRun.open(run_dir, datanet_path=tmp_path / OpenedRun.open(run_dir).manifest.datanet.path)
    records = run.datanet.to_hf()
    flipped = np.array([x == "label_flip" for x in records["injected"]])
    self_influence = np.load(run_dir / "attribution" / "self_influence.npy")
    assert flipped.sum() > 0
    auc = roc_auc(self_influence, flipped)

    kind = run.behaviours()
    net = {a: v for a, v in run.rewards.net_ppm().items() if a in kind}
    print(f"AG News: self-influence ROC AUC {auc:.3f}; net ppm {sorted((v, kind[a]) for a, v in net.items())}")
    gaming = load_script("gaming_run", "experiments/gaming/run.py")
    table = gaming.table(run).set_index(["strategy", "who"])
    print(table.to_string())
    assert auc >= 0.85, auc
    clean = min(v for a, v in net.items() if kind[a] == "clean")
    for behaviour in ("near_duplicate_spam", "off_topic"):
        assert max(v for a, v in net.items() if kind[a] == behaviour) < clean, (behaviour, net)
    noisy = next(a for a, b in kind.items() if b == "label_noise")
    assert net[noisy] < min(v for a, v in net.items() if a != noisy), net
    for strategy in ("copy with edits", "off-topic padding", "flip labels"):
        assert float(table.xs(strategy)["per_record"].iloc[0]) < 1.0, table
    for ratio in table.xs("split identity (5 addresses)")["per_record"]:
        assert float(ratio) <= 1.0, table
    assert int(table.xs("split off harmful records")["per_record"].iloc[0].split()[0]) <= 0, table


def test_an_interrupted_run_resumes_from_the_last_finished_stage(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C during attribution: nothing half-written stays behind; the rerun reuses the fine-tune."""
    import olab.pipeline.runner as run_mod

    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, deep_update(TINY, {"run": {"publish": False}}))
    real_attribute = run_mod.attribute

    def interrupted(adapters, train, targets, cfg, out, **kwargs):
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "scores.npy").write_bytes(b"half-written")
        raise KeyboardInterrupt

    monkeypatch.setattr(run_mod, "attribute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_mod.run(config, progress=False)
    cache = tmp_path / "runs" / ".cache"
    entries = [p.name.split("-")[0] for p in cache.iterdir() if not p.name.startswith(".")]
    assert entries == ["finetune"]  # no partial attribution entry (hidden: the commit lock)
    assert [p for p in (tmp_path / "runs").iterdir() if p.name != ".cache"] == []  # no run directory

    monkeypatch.setattr(run_mod, "attribute", real_attribute)
    lines: list[str] = []
    result = run_mod.run(config, progress=Log(lines.append))
    assert any(line.startswith("[olab] finetune") and "(cached)" in line for line in lines), lines
    assert any(line.startswith("[olab] attribution") and "(cached)" not in line for line in lines), lines
    assert (result.dir / "manifest.json").is_file()


@pytest.mark.slow
def test_local_tsv_with_label_names_shows_the_names_in_the_adapter_and_the_report(tmp_path: Path) -> None:
    """configs/local_files.yaml as shipped, run from another directory: 0/1 labels become negative/positive."""
    from olab.adapters import Adapter

    proc = olab("run", str(REPO / "configs" / "local_files.yaml"), "--no-progress", cwd=tmp_path)
    run_dir = run_dir_from(proc.stdout, tmp_path)
    adapter = Adapter.open(run_dir / "adapters" / "model-0")
    assert adapter.labels == ["negative", "positive"]
    model, _ = adapter.load()
    assert model.config.id2label == {0: "negative", 1: "positive"}
    page = (run_dir / "report.html").read_text()
    assert re.search(r"Proponents and opponents of a target labelled (negative|positive)</h2>", page)
    assert "contributor 2 (label_noise)" in page
