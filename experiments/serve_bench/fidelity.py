"""Receipt fidelity: do a receipt's top-10 training records match exact (unprojected) TRAK for the same answer?

The run's adapter answers `--answers` of the run's held-out targets through the server's own code (olab.serve.app's
Server, in process: /v1/classify, or /v1/chat/completions for a language model), which signs and stores each
answer's receipt at the run's projection. Exact TRAK of the same answer is the same formula (same ensemble members,
output function, precision, damping λ and Q) on the full adapter gradient instead of its random projection, solved
in the n × n kernel form (olab.attribution.trak.kernel_scores: no P × P matrix). The training records' full gradients
are computed once; at each projection dim k of `--ks` they are projected as olab projects them (`attribution.projection`,
`proj_seed`) into a receipts' scorer (olab.serve.answers.AnswerScorer) at that k. Printed: the mean over answers of
the receipts' top-10 overlap with exact TRAK (goal >= 0.8 at the run's projection), the same for each k with the mean
Spearman correlation over all training records, and what k costs (projecting and inverting the training side,
scoring one answer).

    .venv/bin/python experiments/serve_bench/fidelity.py RUN_DIR [--answers 20] [--ks 512 2048 8192] [--member 0]

Run it from the project directory the run was made in (its Datanet is recorded relative to it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from eth_account import Account
from fastapi.testclient import TestClient
from scipy.stats import spearmanr

from olab.adapters.data import encode, iter_batches
from olab.attribution.api import CPU_BATCH, examples
from olab.attribution.featurize import Featurizer
from olab.attribution.members import ensemble_members
from olab.attribution.projection import make_projector
from olab.attribution.trak import add_gram, kernel_scores
from olab.devices import AUTOCAST, resolve_precision
from olab.errors import exit_on_error
from olab.io import atomic_write_json
from olab.pipeline import Run
from olab.serve.answers import AnswerScorer, Prepared
from olab.serve.app import Server
from olab.serve.config import ServeConfig
from olab.serve.receipts import KEY_ENV, example_of
from olab.serve.registry import served_name


def answer_receipts(run: Run, member: int, n: int, max_tokens: int) -> list[dict[str, Any]]:
    """The receipts of the adapter's answers to the run's first `n` targets, as the server issued and stored them."""
    os.environ.setdefault(KEY_ENV, "0x" + Account.create().key.hex().removeprefix("0x"))  # a throwaway signing key
    store = Path(tempfile.mkdtemp(prefix="serve-fidelity-")) / "receipts.sqlite"
    server = Server([run.dir], ServeConfig(receipts=str(store)))
    name, task = served_name(run.dir, member), run.adapters[member].task
    prompts = list(run.targets["text"][:n])
    out = []
    try:
        client = TestClient(server.app)
        for prompt in prompts:
            if task == "classification":
                r = client.post("/v1/classify", json={"model": name, "input": prompt})
                rid = r.json()["data"][0]["receipt_id"] if r.status_code == 200 else None
            else:
                r = client.post("/v1/chat/completions", json={"model": name, "max_tokens": max_tokens,
                                                              "messages": [{"role": "user", "content": prompt}]})  # fmt: skip
                rid = r.json().get("receipt_id") if r.status_code == 200 else None
            if rid is None:
                raise SystemExit(f"the server refused an answer: {r.status_code} {r.text[:500]}")
            out.append(client.get(f"/v1/receipts/{rid}").json())
    finally:
        server.close()
    return out


def answer_examples(receipt: dict[str, Any]) -> tuple[list[Any], list[int] | None]:
    return example_of(receipt["example"], receipt["inputs"]["prompt"], receipt["inputs"]["output"])


@dataclass
class Member:
    """One ensemble member of the answering adapter: its model and the full per-example gradients G (n × P) and Q
    of the training records, featurized once and projected at every k."""

    model: Any
    grads: torch.Tensor
    q: np.ndarray


def members(run: Run, member: int) -> tuple[list[Member], Any, Any]:
    """(members, tokenizer, autocast dtype): the receipts' ensemble (olab.serve.answers), unprojected."""
    cfg, adapter = run.config.attribution, run.adapters[member]
    autocast = AUTOCAST[resolve_precision(cfg.precision, torch.device("cpu"), "attribution", without_bf16="fp32")]
    texts, labels = examples(run.datanet.to_hf(), adapter.task, list(adapter.labels))
    out = []
    for m in ensemble_members([adapter], cfg.checkpoints):
        model, tokenizer = m.load()
        fz = Featurizer(model, adapter.task, None, device="cpu", autocast_dtype=autocast)
        parts = [fz.per_example_grads(b) for _, b in iter_batches(tokenizer, texts, labels, adapter.task,
                                                                  cfg.max_length, cfg.batch_size or CPU_BATCH)]  # fmt: skip
        out.append(Member(model, torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]).numpy()))
    return out, tokenizer, autocast


def exact_scores(
    run: Run, ms: list[Member], tokenizer: Any, autocast: Any, task: str, receipts: list[dict]
) -> np.ndarray:
    """(n_train × answers) exact TRAK: the receipts' formula with every member's full gradients, not projected."""
    cfg = run.config.attribution
    acc = 0.0
    for m in ms:
        fz = Featurizer(m.model, task, None, device="cpu", autocast_dtype=autocast)
        gt = torch.cat([fz.per_example_grads(encode(tokenizer, *answer_examples(r), task, cfg.max_length))[0]
                        for r in receipts]).numpy()  # fmt: skip
        acc = acc + kernel_scores(m.grads.numpy(), np.ones(len(m.q)), gt, cfg.damping)
    return acc / len(ms) * np.mean([m.q for m in ms], axis=0)[:, None]


def projected_scorer(run: Run, ms: list[Member], tokenizer: Any, autocast: Any, task: str, k: int) -> AnswerScorer:
    """The receipts' scorer at projection dim k, its training side projected from the members' stored gradients
    (what AnswerScorer.prepare computes by featurizing the records again under a k-dimensional projector)."""
    cfg = run.config.attribution
    prepared = []
    for m in ms:
        fz = Featurizer(m.model, task, None, device="cpu", autocast_dtype=autocast)
        projector = make_projector(cfg.projection, fz.blocks, k, cfg.proj_seed, "cpu")
        phi = torch.cat([projector.project(g) for g in m.grads.split(cfg.batch_size or CPU_BATCH)])
        fz = Featurizer(m.model, task, projector, device="cpu", autocast_dtype=autocast)
        prepared.append(Prepared.of(fz, phi.numpy(), add_gram(None, phi).numpy(), cfg.damping))
    return AnswerScorer(task, tokenizer, cfg.max_length, prepared, np.mean([m.q for m in ms], axis=0))


def top(scores: np.ndarray, k: int) -> list[int]:
    """Rows of the k highest scores, ordered as a receipt orders them."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k].tolist()


def agreement(tops: list[list[int]], scores: np.ndarray | None, exact: np.ndarray, k: int) -> dict[str, float]:
    """Mean top-k overlap with exact TRAK (and mean Spearman over all records when the full scores are known)."""
    overlap = [len(set(t) & set(top(exact[:, j], k))) / k for j, t in enumerate(tops)]
    out = {"top_overlap": statistics.mean(overlap), "top_overlap_min": min(overlap)}
    if scores is not None:
        out["spearman"] = statistics.mean(spearmanr(scores[:, j], exact[:, j])[0] for j in range(exact.shape[1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--answers", type=int, default=20, help="targets of the run to answer (the first ones)")
    ap.add_argument("--ks", type=int, nargs="*", default=[512, 2048, 8192], help="other projection dims to compare")
    ap.add_argument("--member", type=int, default=0, help="which adapter of the run answers")
    ap.add_argument("--max-tokens", type=int, default=16, help="new tokens per language-model answer")
    args = ap.parse_args()

    run = Run.open(args.run)
    cfg, task = run.config.attribution, run.adapters[args.member].task
    ids = run.datanet.table.column("record_id").to_pylist()
    receipts = answer_receipts(run, args.member, args.answers, args.max_tokens)
    top_k = len(receipts[0]["records"])
    t0 = time.perf_counter()
    ms, tokenizer, autocast = members(run, args.member)
    featurize_s, t0 = time.perf_counter() - t0, time.perf_counter()
    exact = exact_scores(run, ms, tokenizer, autocast, task, receipts)
    exact_s = time.perf_counter() - t0
    row_of = {rid: i for i, rid in enumerate(ids)}
    rows = [{"k": cfg.proj_dim, "receipts": True,
             **agreement([[row_of[x["record_id"]] for x in r["records"]] for r in receipts], None, exact, top_k)}]  # fmt: skip
    for k in args.ks:
        t0 = time.perf_counter()
        scorer = projected_scorer(run, ms, tokenizer, autocast, task, k)
        prepare_s, t0 = time.perf_counter() - t0, time.perf_counter()
        scores = np.concatenate([scorer.scores(*answer_examples(r)) for r in receipts], axis=1)
        answer_s = (time.perf_counter() - t0) / len(receipts)
        rows.append({"k": k, "receipts": False, **agreement([top(scores[:, j], top_k) for j in range(len(receipts))],
                                                            scores, exact, top_k),
                     "project_and_invert_s": prepare_s, "score_one_answer_s": answer_s})  # fmt: skip
    out = {
        "run": str(run.dir), "task": run.adapters[args.member].task, "base": run.config.finetune.base_model,
        "n_train": len(ids), "grad_dim": ms[0].grads.shape[1], "answers": len(receipts), "top_k": top_k,
        "members": len(ms), "projection": cfg.projection, "damping": cfg.damping, "default_k": cfg.proj_dim,
        "featurize_train_s": featurize_s, "exact_s": exact_s,
        "rows": rows, "load_average": os.getloadavg(),
    }  # fmt: skip
    path = Path(__file__).parent / "out" / "fidelity.json"
    path.parent.mkdir(exist_ok=True)
    atomic_write_json(path, out)
    print(f"{out['base']} {task}: {len(ids)} training records, adapter gradient of {out['grad_dim']:,} parameters, "
          f"{len(ms)} ensemble member(s), damping {cfg.damping:g}, {len(receipts)} answers; featurizing the "
          f"training records {featurize_s:.1f} s, exact TRAK {exact_s:.1f} s; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for r in rows:
        what = f"receipts (k={r['k']}, the run's)" if r["receipts"] else f"k={r['k']:>5}"
        cost = "" if r["receipts"] else (f"  spearman {r['spearman']:.3f}  project+invert {r['project_and_invert_s']:.1f} s  "
                                         f"score an answer {r['score_one_answer_s'] * 1000:.0f} ms")  # fmt: skip
        print(f"{what}: mean top-{top_k} overlap with exact TRAK {r['top_overlap']:.2f} "
              f"(min {r['top_overlap_min']:.1f}){cost}")  # fmt: skip
    print(f"receipt top-{top_k} overlap with exact TRAK at the default projection: {rows[0]['top_overlap']:.2f}")


if __name__ == "__main__":
    with exit_on_error():
        main()
