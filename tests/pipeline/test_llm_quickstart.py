"""The language-model quickstart's config end to end at a tiny size (40 records, 4 held-out questions, one
epoch) on the real SmolLM2, real TRAK and the embedded EVM: the adapter answers the targets, the answers are
what attribution explains and the report shows, and `olab verify` holds in a new process. The full size
(the wrong-answer contributor ranked last, AUC) is experiments/noisy_answers."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from pipeline_helpers import Run, olab, run_dir_from
from repo_paths import REPO

from olab.attribution import Attribution
from olab.datanet.synth_instructions import generate

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
