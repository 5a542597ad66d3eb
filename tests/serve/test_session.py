"""ServeSession, the notebooks' live model: `olab serve` in this process over real runs, asked through the `openai`
client (chat for a language model, classify for a classifier); each answer's receipt fetched and verified, a forged
or foreign receipt refused by name; usage rewards tallied exactly from the store; an epoch settled on the runs'
chain, claimed once; and the widgets that show all of it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
import requests
import torch
from eth_account import Account

from olab.errors import LedgerError, OlabError
from olab.serve import receipts
from olab.serve.session import ServeSession
from olab.widgets import ReceiptView, UsageRewards

FEE = 1_000


@pytest.fixture(scope="module")  # one session and one store for the module (every serve test runs on one worker)
def live(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeSession]:
    store = tmp_path_factory.mktemp("session") / "receipts.sqlite"
    with ServeSession([runs["lm_r4"], runs["clf"]], store=store, fee=FEE, top_k=3) as session:
        yield session


@pytest.fixture(scope="module")
def answers(live: ServeSession) -> dict:
    lm = next(a for a in live.adapters if live.cards[a]["task"] == "causal_lm")
    clf = next(a for a in live.adapters if live.cards[a]["task"] == "classification")
    return {"chat": live.ask(lm, "Sports headline", max_tokens=4), "classify": live.ask(clf, "Stocks fall again")}


def test_answers_come_with_receipts_that_verify(live, answers) -> None:
    assert len(live.adapters) == 4 + 1  # every member of the r=4 run, and the classifier
    chat, label = answers["chat"], answers["classify"]
    assert chat.task == "causal_lm" and isinstance(chat.text, str)
    assert label.task == "classification" and label.text in live.runs[label.receipt["run_id"]].adapters[0].labels
    for a in (chat, label):
        assert a.ok and a.signature_ok, a.problems
        assert a.receipt == live.store.get(a.receipt["receipt_id"])  # what GET /v1/receipts gave is what was stored
        assert [r["record_id"] for r in a.records] == [r["record_id"] for r in a.receipt["records"]]
        assert len(a.records) == 3 and all(r["proof_ok"] and r["text"] and r["name"] for r in a.records)
        assert sum(s["share_ppm"] for s in a.shares()) == (1_000_000 if a.receipt["shares_ppm"] else 0)


def test_a_changed_or_foreign_receipt_is_named_broken(live, answers) -> None:
    receipt = answers["chat"].receipt
    first = receipt["records"][0]
    swapped = {**receipt, "records": [{**first, "contributor": receipt["records"][1]["contributor"]},
                                      *receipt["records"][1:]]}  # fmt: skip
    broken = live.verify(swapped)
    assert any(p.startswith(f"record {first['record_id']}:") for p in broken), broken
    assert any(p.startswith("receipt_id:") for p in broken), broken
    body = {k: v for k, v in receipt.items() if k not in (*receipts.SIGNED, "inputs")}
    foreign = {**receipts.sign(body, Account.create(), receipts.chain_id_of(live.runs[receipt["run_id"]])),
               "inputs": receipt["inputs"]}  # fmt: skip
    assert [p for p in live.verify(foreign) if p.startswith("signature:")], "another key's signature was accepted"
    if not torch.cuda.is_available():  # a GPU's receipt is not recomputed by the CPU scorer this session already holds
        with pytest.raises(OlabError, match="was scored on a CUDA GPU"):
            live.verify({**receipt, "scored_on": "cuda"})
    with pytest.raises(OlabError, match="is not served here; served: "):
        live.ask("no-such-adapter", "hello")
    with pytest.raises(OlabError, match=r"refused the question to .* \(HTTP 400\): input must be a non-empty text"):
        live.ask(answers["classify"].adapter, "")


def test_usage_is_tallied_exactly_then_settled_and_claimed_once(live, answers) -> None:
    pending = live.usage()
    assert pending["settled"].sum() == 0 and pending["pending"].sum() == pytest.approx(2 * FEE)
    expected: dict[str, Fraction] = {}
    for a in answers.values():
        for who, ppm in a.receipt["shares_ppm"].items():
            expected[who] = expected.get(who, Fraction(0)) + Fraction(FEE * ppm, 1_000_000)
    by_address = dict(zip(pending["address"], pending["pending"], strict=True))
    assert {a: by_address[a] for a in expected} == pytest.approx({a: float(v) for a, v in expected.items()})
    assert live.claimants() == {}

    epoch = live.settle()
    assert epoch.record["total_fee"] == 2 * FEE and live.verify_epoch() == []
    who = next(iter(live.claimants().values()))
    assert live.claim(who).status == 1
    with pytest.raises(LedgerError, match="already claimed"):
        live.claim(who)
    usage = live.usage().set_index("address")
    assert usage["pending"].sum() == 0 and usage["settled"].sum() == sum(epoch.amounts().values())
    assert usage.loc[who, "claimed"] == epoch.amounts()[who] > 0 and usage["claimed"].sum() == usage.loc[who, "claimed"]


def test_widgets_show_the_receipt_and_the_rewards(live, answers) -> None:
    view = ReceiptView(names=live.names())
    assert view.answer == {} and view.records == []
    view.show(answers["chat"])
    assert view.answer["receipt_id"] == answers["chat"].receipt["receipt_id"] and view.answer["ok"] is True
    assert [r["proof_ok"] for r in view.records] == [True] * 3 and all(r["name"] for r in view.records)
    forged = dataclasses.replace(answers["chat"], problems=["signature: it recovers to 0x0, not the server's"])
    view.show(forged)
    assert view.answer["ok"] is False and view.answer["signature_ok"] is False

    board = UsageRewards.of(live)
    assert {r["address"] for r in board.rows} == set(live.usage()["address"])
    assert [e["number"] for e in board.epochs] == [e.number for e in live.epochs()]
    assert {t["name"] for t in board.figure["data"]} == {
        "claimed",
        "settled, not claimed",
        "earned since the last epoch",
    }


def test_closing_stops_the_server(runs, tmp_path) -> None:
    session = ServeSession([runs["clf"]], store=tmp_path / "r.sqlite")
    assert requests.get(f"{session.url}/models", timeout=30).ok
    session.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{session.url}/models", timeout=5)
