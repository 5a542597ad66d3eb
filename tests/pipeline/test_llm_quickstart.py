"""The language-model quickstart's config end to end at a tiny size (40 records, 4 held-out questions, one
epoch) on the real SmolLM2, real TRAK and the embedded EVM: the adapter answers the targets, the answers are
what attribution explains and the report shows, and `olab verify` holds in a new process. The full size
(the wrong-answer contributor ranked last, self-influence AUC, exact match above the base model's) runs with
OLAB_LONG_TESTS=1; experiments/noisy_answers reports the same run with bootstrap intervals."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pipeline_helpers import Run, olab, run_dir_from
from repo_paths import REPO

from olab.adapters.chat import answer_budget, exact_match
from olab.adapters.chat import generate as answer
from olab.adapters.models import load_base_model
from olab.attribution import Attribution
from olab.datanet.synth_instructions import generate
from olab.metrics import roc_auc

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("llm_quickstart")]

TINY = ["--set", "datanet.source.n=40", "--set", "targets.source.n=4", "--set", "finetune.epochs=1"]


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    cwd = tmp_path_factory.mktemp("llm")
    proc = olab("run", str(REPO / "configs" / "quickstart_llm.yaml"), "--no-progress", *TINY, cwd=cwd)
    return Run(cwd, run_dir_from(proc.stdout, cwd), proc.stdout + proc.stderr, proc.stderr)


def test_the_adapter_answers_the_targets_and_attribution_explains_those_answers(llm_run: Run) -> None:
    m = llm_run.opened.manifest
    for stage in ("datanet", "finetune", "generate", "attribution", "rewards", "publish", "report"):
        assert stage in m.timings, stage
    stored = pq.read_table(llm_run.run_dir / "targets.parquet").to_pydict()
    questions = generate(4, seed=1)
    assert stored["text"] == questions["prompt"] and stored["reference"] == questions["response"]
    assert all(isinstance(a, str) for a in stored["label"])  # the adapter's greedy answers
    attribution = Attribution.open(llm_run.run_dir / "attribution")
    assert attribution.scores.shape == (40, 4)
    assert "p(response | prompt)" in attribution.params["output_function"]
    html = (llm_run.run_dir / "report.html").read_text()
    assert questions["prompt"][0] in html and stored["label"][0] in html


def test_verify_in_a_new_process_succeeds(llm_run: Run) -> None:
    proc = olab("verify", str(llm_run.run_dir), cwd=llm_run.cwd)
    assert "every link holds" in proc.stdout


@pytest.mark.skipif(
    not os.environ.get("OLAB_LONG_TESTS"),
    reason="the full language-model quickstart (200 records, 2 epochs): 585 s measured on a busy 2-core CPU; "
    "set OLAB_LONG_TESTS=1 to run it",
)
def test_the_full_quickstart_pays_the_wrong_answer_contributor_least_and_finds_its_answers(tmp_path: Path) -> None:
    """As shipped: the wrong-answer contributor has the smallest share and the lowest net payout (share minus
    the harm its deposits owe) under the default per_record policy, self-influence finds its wrong answers with
    ROC AUC >= 0.85, and the adapter answers more held-out questions exactly than the base model does."""
    proc = olab("run", str(REPO / "configs" / "quickstart_llm.yaml"), "--no-progress", cwd=tmp_path, timeout=5400)
    run = Run(tmp_path, run_dir_from(proc.stdout, tmp_path), proc.stdout).opened
    behaviours = {c["address"]: c["behaviour"] for c in run.datanet.contributors}
    shares, net = run.rewards.as_dict(), run.rewards.net_ppm()
    print("timings:", run.manifest.timings, "load average:", os.getloadavg())
    print("share, net ppm:", [(b, shares[a], net[a]) for a, b in behaviours.items()])
    wrong = next(a for a, b in behaviours.items() if b == "label_noise")
    assert run.rewards.policy == "per_record"
    assert shares[wrong] < min(shares[a] for a in behaviours if a != wrong)
    assert net[wrong] < min(net[a] for a in behaviours if a != wrong)

    flagged = [x == "label_flip" for x in run.datanet.table.column("injected").to_pylist()]
    auc = roc_auc(run.attribution.self_influence, flagged)
    print(f"self-influence ROC AUC {auc:.3f}")
    assert auc >= 0.85

    targets = run.targets
    prompts, references = list(targets["text"]), list(targets["reference"])
    model, tokenizer = load_base_model("smollm2-135m-instruct", "causal_lm")
    base = exact_match(answer(model, tokenizer, prompts, max_new_tokens=answer_budget(tokenizer, references)), references)
    tuned = run.adapters[0].metrics["eval"][-1]["exact_match"]
    print(f"exact match on the {len(prompts)} held-out questions: base model {base:.3f}, adapter {tuned:.3f}")
    assert tuned > base
