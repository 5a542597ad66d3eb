"""olab.widgets from Python: state, traitlet changes, messages from the frontend, and plotly.js delivery."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly
import pytest

import olab
from olab.errors import ValidationError
from olab.ledger.records import TxResult
from olab.progress import Event
from olab.widgets import AttributionExplorer, DatanetView, Leaderboard, PublishPanel, TrainingProgress
from olab.widgets._base import PLOTLY_REPLY, PLOTLY_REQUEST, figure_json, to_rows

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20
CAROL = "0x" + "c3" * 20
NAMES = {ALICE: "clean", BOB: "label noise", CAROL: "spam"}


def frontend_update(widget, **state) -> None:
    """Deliver a state change as the browser does (a comm `update` message)."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


def frontend_custom(widget, content: dict) -> None:
    widget._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


class Sent(list):
    """Messages a widget sends to the frontend, as (data, buffers) pairs."""

    def send(self, data=None, metadata=None, buffers=None) -> None:
        self.append((data, buffers or []))


@pytest.fixture
def sent() -> Sent:
    return Sent()


def records() -> list[dict]:
    rows = []
    for i in range(10):
        who = [ALICE, BOB, CAROL][i % 3]
        rows.append(
            {"record_id": f"r{i}", "contributor": who, "text": f"text {i}", "label": ["World", "Sports"][i % 2]}
        )
    rows[4] |= {"status": "rejected", "reason": "empty text"}
    rows[7] |= {"status": "rejected", "reason": "label not in labels"}
    return rows


# --- DatanetView -----------------------------------------------------------------------------------


def test_datanet_view_summarises_contributors_and_filters_by_them():
    view = DatanetView(
        pd.DataFrame(records()), info={"name": "news", "version": 2, "root": "0x" + "ee" * 32}, labels=NAMES
    )
    assert view.info == {"name": "news", "version": 2, "root": "0x" + "ee" * 32, "n_records": 8}  # valid ones
    summary = {c["contributor"]: c for c in view.contributors}
    assert summary[ALICE] == {"contributor": ALICE, "name": "clean", "records": 4, "valid": 4, "rejected": 0}
    assert summary[BOB] == {"contributor": BOB, "name": "label noise", "records": 3, "valid": 1, "rejected": 2}
    assert [c["contributor"] for c in view.contributors] == [ALICE, BOB, CAROL]  # most records first
    assert len(view.visible()) == 10

    frontend_update(view, contributor=BOB)  # the browser's contributor dropdown
    assert view.contributor == BOB
    assert [r["record_id"] for r in view.visible()] == ["r1", "r4", "r7"]
    view.status = "rejected"
    assert [(r["record_id"], r["reason"]) for r in view.visible()] == [
        ("r4", "empty text"),
        ("r7", "label not in labels"),
    ]
    view.contributor = ALICE.upper().replace("0X", "0x")  # addresses compare case-insensitively
    assert view.contributor == ALICE and [r["record_id"] for r in view.visible()] == []


def test_datanet_view_of_a_real_datanet_shows_behaviours_and_refused_records(tmp_path):
    from olab.datanet import Datanet, sign_batch, simulated_accounts

    dn = Datanet.build(
        {
            "name": "view",
            "root_dir": str(tmp_path),
            "source": {"kind": "synthetic", "n": 40, "seed": 0},
            "contributors": {"n": 2, "behaviours": [{"contributor": 1, "kind": "label_noise", "rate": 0.5}]},
        },
        progress=False,
    )
    newcomer = simulated_accounts(1, seed=99)[0]
    records = [
        {"text": "Rates held steady by the central bank", "label": "Business"},
        {"text": "x", "label": "Cooking"},
    ]
    assert dn.submit(sign_batch(newcomer, dn, records, nonce=1)).ok

    view = DatanetView.from_datanet(dn)
    assert view.info["version"] == 2 and view.info["root"] == dn.root and view.info["n_records"] == 41
    names = {c["contributor"]: c["name"] for c in view.contributors}
    from olab.names import short_address

    # simulated contributors by index and behaviour; the newcomer, who has neither, by short address
    assert sorted(names.values()) == [
        short_address(newcomer.address),
        "contributor 0 (clean)",
        "contributor 1 (label_noise)",
    ]
    flipped = [r for r in view.records if r.get("injected") == "label_flip"]
    assert flipped and {r["contributor"] for r in flipped} == {
        c["address"] for c in dn.contributors if c.get("behaviour") == "label_noise"
    }
    view.contributor = newcomer.address
    view.status = "rejected"
    (refused,) = view.visible()
    assert refused["label"] == "Cooking" and refused["reason"].startswith("unknown_label:")


def test_datanet_view_rejects_bad_input_with_a_useful_message():
    with pytest.raises(ValidationError, match="record 0 has no 'contributor' column"):
        DatanetView([{"record_id": "x", "text": "t"}])
    with pytest.raises(ValidationError, match="status 'maybe'"):
        DatanetView([{"record_id": "x", "contributor": ALICE, "status": "maybe"}])
    view = DatanetView(records())
    with pytest.raises(ValidationError, match="has no records; known"):
        view.contributor = "0x" + "00" * 20
    with pytest.raises(ValidationError, match="must be one of"):
        view.status = "pending"


# --- Leaderboard -----------------------------------------------------------------------------------


def test_leaderboard_ranks_by_share_and_reranks_when_the_header_is_clicked():
    table = [
        {"contributor": ALICE, "positive": 5.0, "negative": -1.0, "records": 40},
        {"contributor": BOB, "positive": 1.0, "negative": -6.0, "records": 60},
        {"contributor": CAROL, "positive": 3.0, "negative": -0.5, "records": 20},
    ]
    shares = {ALICE: 600_000, CAROL: 400_000}  # BOB earns nothing
    board = Leaderboard(table, shares=shares, labels=NAMES)
    assert board.sort_by == "share_ppm"
    assert board.ranking == [ALICE, CAROL, BOB]
    assert [r["rank"] for r in board.rows] == [1, 2, 3]
    assert {r["contributor"]: r["share_ppm"] for r in board.rows} == {ALICE: 600_000, CAROL: 400_000, BOB: 0}
    assert board.rows[0]["name"] == "clean"
    assert board.summary().splitlines() == [f"1. {ALICE}  clean", f"2. {CAROL}  spam", f"3. {BOB}  label noise"]
    assert board.columns == ["positive", "negative", "records", "share_ppm"]
    (bars,) = board.figure["data"]  # viz.contributor_shares
    assert bars["type"] == "bar" and bars["x"] == [60.0, 40.0, 0.0] and bars["y"][2].startswith("label noise")

    frontend_update(board, sort_by="records")
    assert board.ranking == [BOB, ALICE, CAROL]
    frontend_update(board, contributor=CAROL)
    assert board.contributor == CAROL


def test_leaderboard_from_shares_alone_and_bad_columns():
    board = Leaderboard(shares=[{"contributor": BOB, "share_ppm": 1}, {"contributor": ALICE, "share_ppm": 999_999}])
    assert board.ranking == [ALICE, BOB]
    assert board.summary(unlabelled="newcomer") == f"1. {ALICE}  newcomer\n2. {BOB}  newcomer"
    with pytest.raises(ValidationError, match="sort_by='gain' is not a numeric column"):
        Leaderboard([{"contributor": ALICE, "positive": 1.0}], sort_by="gain")
    with pytest.raises(ValidationError, match="at least one contributor"):
        Leaderboard([])


def test_leaderboard_names_contributors_from_a_runs_rewards():
    from olab import rewards

    shares = rewards.compute({ALICE: 3.0, BOB: 1.0})
    shares.names = {shares.shares[0].contributor: "contributor 0 (clean)"}
    board = Leaderboard(shares=shares)
    assert [r["name"] for r in board.rows] == ["contributor 0 (clean)", ""]


def test_leaderboard_shows_each_shares_interval_in_its_cell_and_as_a_whisker():
    from olab import intervals, rewards

    scores = np.array([[1.0, 2.0, 3.0, 2.5], [0.5, 0.2, 0.4, 0.3], [0.3, 0.1, 0.4, 0.2], [0.1, 0.2, 0.1, 0.1]])
    shares = rewards.compute({ALICE: list(scores[:2].sum(axis=1)), BOB: list(scores[2:].sum(axis=1))})
    shares.intervals = intervals.bootstrap(scores, [ALICE, ALICE, BOB, BOB], "per_record", resamples=200)
    board = Leaderboard(shares=shares)
    cells = {r["contributor"].lower(): r.get("share_interval") for r in board.rows}
    assert cells[ALICE] == list(shares.interval(ALICE)) and cells[BOB] == list(shares.interval(BOB))
    assert cells[rewards.POOL_REMAINDER] is None and "share_interval" not in board.columns  # shown in the share cell
    (bars,) = board.figure["data"]
    low, high = shares.interval(ALICE)
    share = shares.share(ALICE).share_ppm
    assert bars["error_x"]["array"][0] == pytest.approx((high - share) / 10_000)
    assert bars["error_x"]["arrayminus"][0] == pytest.approx((share - low) / 10_000)


# --- AttributionExplorer ---------------------------------------------------------------------------


@pytest.fixture
def explorer_data():
    rng = np.random.default_rng(0)
    train = [
        {"record_id": f"t{i}", "contributor": [ALICE, BOB, CAROL][i % 3], "text": f"train {i}", "label": "World"}
        for i in range(30)
    ]
    targets = [{"text": f"target {j}", "label": "Sports", "predicted": "World"} for j in range(4)]
    scores = rng.normal(size=(30, 4))
    return scores, train, targets


def test_choosing_a_target_updates_proponents_opponents_and_plot(explorer_data):
    scores, train, targets = explorer_data
    ex = AttributionExplorer(scores, train, targets, k=3, labels=NAMES)
    first = (ex.proponents, ex.opponents, ex.figure)
    assert [r["record_id"] for r in ex.proponents] == [f"t{i}" for i in np.argsort(-scores[:, 0])[:3]]
    assert [r["record_id"] for r in ex.opponents] == [f"t{i}" for i in np.argsort(scores[:, 0])[:3]]
    assert all(r["score"] > 0 for r in ex.proponents) and all(r["score"] < 0 for r in ex.opponents)
    assert ex.proponents[0]["name"] == NAMES[ex.proponents[0]["contributor"]]
    assert "target 0" in ex.figure["layout"]["title"]["text"]

    frontend_update(ex, target=2)  # the browser's target dropdown
    assert ex.target == 2
    assert [r["record_id"] for r in ex.proponents] == [f"t{i}" for i in np.argsort(-scores[:, 2])[:3]]
    assert [r["score"] for r in ex.opponents] == pytest.approx(np.sort(scores[:, 2])[:3])
    assert (ex.proponents, ex.opponents) != first[:2]
    assert "target 2" in ex.figure["layout"]["title"]["text"]
    shown = {y for trace in ex.figure["data"] for y in trace["y"]}
    assert shown == {f"#{r['record_id']}" for r in ex.proponents + ex.opponents}

    ex.k = 5
    assert len(ex.proponents) == 5 and len(ex.opponents) == 5
    assert ex.targets[1] == {"text": "target 1", "label": "Sports", "predicted": "World", "index": 1}


def test_explorer_lists_only_real_proponents_and_checks_shapes(explorer_data):
    _, train, targets = explorer_data
    all_negative = -np.abs(np.ones((30, 4)))
    ex = AttributionExplorer(all_negative, train, targets)
    assert ex.proponents == [] and len(ex.opponents) == 5
    with pytest.raises(ValidationError, match=r"expected \(n_train, n_targets\) = \(30, 4\)"):
        AttributionExplorer(np.zeros((4, 30)), train, targets)
    with pytest.raises(ValidationError, match=r"target must be an index in \[0, 4\)"):
        ex.target = 4


# --- TrainingProgress ------------------------------------------------------------------------------


def test_training_progress_follows_finetune_events():
    progress = TrainingProgress(plot_interval_s=0)
    assert progress.status == "waiting" and progress.figure == {}
    progress(Event("fine-tune", "start", total=8))
    for step in range(1, 5):
        progress(Event("fine-tune", "step", done=step, total=8, metrics={"epoch": step / 4, "loss": 1.0 / step}))
    assert (progress.status, progress.step, progress.total_steps, progress.loss) == ("training", 4, 8, 0.25)
    assert progress.epoch == 1.0
    (loss,) = progress.figure["data"]
    assert loss["name"] == "train loss" and len(loss["x"]) == 4

    progress(Event("fine-tune", "checkpoint", done=4, total=8))
    progress(Event("fine-tune", "eval", done=4, total=8, metrics={"epoch": 1, "loss": 0.5, "accuracy": 0.75}))
    assert progress.metrics == {"loss": 0.5, "accuracy": 0.75}
    assert progress.checkpoints == [4]
    names = [t["name"] for t in progress.figure["data"]]
    assert names == ["train loss", "eval loss", "eval accuracy"]
    assert progress.figure["data"][2]["yaxis"] == "y2"  # accuracy on the right axis

    progress(Event("fine-tune", "end", done=4, total=8, message="/tmp/adapter · sha256:abc"))
    assert progress.status == "done" and progress.message == "adapter /tmp/adapter · sha256:abc"
    assert [e.kind for e in progress.history] == ["start"] + ["step"] * 4 + ["checkpoint", "eval", "end"]


def test_training_progress_throttles_the_plot_but_not_the_bar():
    progress = TrainingProgress(plot_interval_s=3600)
    for step in range(1, 11):
        progress(Event("fine-tune", "step", done=step, total=10, metrics={"epoch": 0.1 * step, "loss": 2.0}))
    assert progress.step == 10
    assert len(progress.figure["data"][0]["x"]) == 1  # drawn on the first step only
    progress(Event("fine-tune", "end", done=10, total=10, message="p · h"))
    assert len(progress.figure["data"][0]["x"]) == 10
    progress.fail(RuntimeError("out of memory"))
    assert (progress.status, progress.message) == ("failed", "out of memory")


def test_training_progress_shows_other_stages_and_failures_of_a_whole_run():
    progress = TrainingProgress()
    progress(Event("attribution", "start"))
    assert progress.status == "waiting" and progress.message == "attribution: start"
    progress(Event("featurize train [1/1]", "fail", message="OutOfMemoryError: CUDA out of memory"))
    assert (progress.status, progress.message) == ("failed", "OutOfMemoryError: CUDA out of memory")
    assert progress.step == 0 and progress.figure == {}  # no training steps were seen


# --- PublishPanel ----------------------------------------------------------------------------------


def test_publish_panel_tracks_transactions_from_pending_to_mined():
    panel = PublishPanel(
        backend="rpc", chain_id=161201, explorer="https://scan.example/", addresses={"Registry": ALICE}
    )
    assert panel.contracts == [{"name": "Registry", "address": ALICE, "url": f"https://scan.example/address/{ALICE}"}]
    panel.pending("publish_run")
    panel.pending("claim")
    assert [(t["label"], t["status"]) for t in panel.transactions] == [("publish_run", "pending"), ("claim", "pending")]
    tx = TxResult(tx_hash="0x" + "12" * 32, block=7, gas_used=91_000, status=1)
    row = panel.record("publish_run", tx)
    assert row["status"] == "confirmed" and row["url"] == "https://scan.example/tx/0x" + "12" * 32
    panel.record("claim", {"tx_hash": "0x" + "34" * 32, "block": 8, "gas_used": 30_000, "status": 0})
    assert [(t["label"], t["status"], t["block"]) for t in panel.transactions] == [
        ("publish_run", "confirmed", 7),
        ("claim", "failed", 8),
    ]
    with pytest.raises(ValidationError, match="'attest' must be a TxResult"):
        panel.record("attest", {"hash": "0x"})


def test_publish_panel_send_shows_a_refusal_as_a_failed_row():
    from olab.errors import LedgerError

    panel = PublishPanel()
    mined = TxResult(tx_hash="0x" + "56" * 32, block=3, gas_used=50_000, status=1)
    assert panel.send("claim", lambda: mined) is mined

    def refused():
        raise LedgerError("RewardDistributor.claim(...) was refused by the contract: share already claimed")

    assert panel.send("claim again", refused) is None
    assert [(t["label"], t["status"]) for t in panel.transactions] == [
        ("claim", "confirmed"),
        ("claim again", "failed"),
    ]
    assert panel.transactions[1]["note"].endswith("share already claimed")
    with pytest.raises(ZeroDivisionError):  # a bug is not a refusal: it propagates
        panel.send("oops", lambda: 1 / 0)
    assert panel.transactions[-1]["status"] == "failed"  # not left pending


def published_run(tmp_path, chain):
    """A run directory's manifest (the hashes are placeholders: the panel only shows the chain section)."""
    h = "0x" + "12" * 32
    manifest = {
        "olab_version": "0", "name": "t", "config": {}, "config_hash": h, "run_id": h, "manifest_hash": h,
        "datanet": {"path": "datanets/t", "name": "t", "version": 1, "root": h, "record_count": 1},
        "targets": {"hash": h, "count": 1, "path": "targets.parquet"},
        "base_model": {"id": "tiny-gpt2", "weight_hash": h},
        "adapter": {"path": "adapters", "models": [h], "hash": h},
        "attribution": {"path": "attribution", "engine": "olab", "config": {}, "shape": [1, 1], "scores_hash": h},
        "rewards": {"path": "rewards.json", "root": h, "policy": "positive_influence"},
        "chain": chain,
    }  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def test_publish_panel_from_a_run_and_verification_checks(tmp_path):
    chain = {
        "backend": "embedded",
        "chain_id": 131277322940537,
        "addresses": {"OlabRegistry": BOB},
        "transactions": {
            "register_datanet_version": {"tx_hash": "0x" + "aa" * 32, "block": 1, "gas_used": 1, "status": 1},
            "publish_run": {
                "tx_hash": "0x" + "bb" * 32,
                "block": 2,
                "gas_used": 2,
                "status": 1,
                "already_recorded": True,
            },
        },
    }
    panel = PublishPanel.from_run(olab.Run.open(published_run(tmp_path, chain)))
    assert panel.chain == {"backend": "embedded", "chain_id": 131277322940537, "explorer": ""}
    assert [(t["label"], t["status"], t["url"]) for t in panel.transactions] == [
        ("register_datanet_version", "confirmed", ""),
        ("publish_run", "already recorded", ""),
    ]
    panel.show_checks({"manifest": [], "datanet": ["record r3 hash differs"]})
    assert panel.checks == [
        {"link": "manifest", "ok": True, "problems": []},
        {"link": "datanet", "ok": False, "problems": ["record r3 hash differs"]},
    ]
    with pytest.raises(ValidationError, match="the run was not published"):
        PublishPanel.from_run(published_run(tmp_path, {"backend": None}))  # a run directory works too


# --- shared machinery ------------------------------------------------------------------------------


def test_plotly_js_is_sent_when_asked_for_as_a_binary_buffer(sent):
    board = Leaderboard(shares={ALICE: 1_000_000})
    board.comm.send = sent.send
    frontend_custom(board, {"type": "something else"})
    assert sent == []
    frontend_custom(board, {"type": PLOTLY_REQUEST})
    ((data, buffers),) = sent
    assert data == {"method": "custom", "content": {"type": PLOTLY_REPLY}}
    bundled = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert bytes(buffers[0]) == bundled.read_bytes()
    assert b"window.Plotly" in bytes(buffers[0])


def test_one_live_plotting_widget_carries_plotly_js_in_its_state(monkeypatch):
    from olab.widgets._base import OlabWidget, plotly_js

    monkeypatch.setattr(OlabWidget, "_carrier", None)
    assert PublishPanel()._plotly == b""  # never plots: never carries
    first = Leaderboard(shares={ALICE: 1_000_000})
    second = TrainingProgress()
    assert first._plotly == plotly_js() and second._plotly == b""
    assert "_plotly" in first.get_state()  # sent with the comm's opening state, as a binary buffer
    first.close()  # e.g. its cell re-ran: the next plotting widget carries it instead
    third = TrainingProgress()
    assert third._plotly == plotly_js()


def test_rows_and_figures_become_plain_json():
    rows = to_rows(pd.DataFrame({"a": np.array([1, 2]), "b": [np.float32(0.5), np.nan], "c": [Path("x"), None]}))
    assert rows == [{"a": 1, "b": 0.5, "c": "x"}, {"a": 2, "b": None, "c": None}]
    with pytest.raises(ValidationError, match="row 1 is a int"):
        to_rows([{"a": 1}, 3])
    with pytest.raises(ValidationError, match="got dict"):
        to_rows({"a": [1]})
    assert figure_json(None) == {}
    assert figure_json({"data": [{"y": np.arange(3)}]}) == {"data": [{"y": [0, 1, 2]}]}
