"""`olab run` with rewards.stake set settles the run's stake as it publishes (on the embedded chain): harmful
records' deposits are slashed into the pool once, a rerun sends nothing, and `olab verify` checks it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pipeline_helpers import olab, run_dir_from
from tiny_run import TINY, deep_update

from olab import Run
from olab.datanet.contributors import simulated_accounts
from olab.io import read_json
from olab.ledger import ChainConfig, Ledger
from olab.rewards import POOL_REMAINDER, PPM, Rewards
from olab.widgets import Leaderboard

DEPOSIT, POOL = 1_000, 1_000_000


def test_olab_run_settles_stake_once_and_verify_checks_it(tmp_path: Path) -> None:
    chain = ChainConfig(state_dir=str(tmp_path / ".olab" / "chain"))  # where `olab run` in tmp_path publishes
    contributors = simulated_accounts(TINY["datanet"]["contributors"]["n"], TINY["datanet"]["contributors"]["seed"])
    records = TINY["datanet"]["source"]["n"] // len(contributors)  # round robin
    # the simulated contributors stake behind their records before the run; the last stakes for one record only
    staked = {who.address: records * DEPOSIT for who in contributors[:-1]} | {contributors[-1].address: DEPOSIT}
    with Ledger(chain) as ledger:  # signed by the account `olab run` publishes with, which owns the Datanet
        ledger.register_datanet("tiny")
        for who in contributors:
            ledger.send_value(who.address, 10**17)
            ledger.mint(who.address, staked[who.address])
            ledger.with_signer(who).stake("tiny", staked[who.address], ledger.account)
    config = tmp_path / "config.yaml"
    patch = {
        "datanet": {"contributors": {"behaviours": [{"contributor": 1, "kind": "label_noise", "rate": 0.5}]}},
        "finetune": {"task": "classification", "epochs": 2},  # flipped labels: harmful records to slash
        "rewards": {"stake": {"pool": POOL, "deposit_per_record": DEPOSIT}},
    }
    config.write_text(yaml.safe_dump(deep_update(TINY, patch)))

    out = olab("run", str(config), "--no-progress", cwd=tmp_path).stdout
    run_dir = run_dir_from(out, tmp_path)
    manifest = read_json(run_dir / "manifest.json")
    settled = manifest["chain"]["settlement"]
    owed = Rewards.open(run_dir / "rewards.json").slashes(POOL, DEPOSIT)
    assert len(owed) == len(contributors) and settled["owed"] == owed  # every contributor has a harmful record
    assert settled["slashed"] == {a: min(v, staked[a]) for a, v in owed.items()}
    assert settled["slashed"][contributors[-1].address] == DEPOSIT < owed[contributors[-1].address]
    lost = sum(settled["slashed"].values())
    assert f"stake settled in Datanet 'tiny': {lost:,} tokens slashed from 3 contributor(s)" in out, out
    with Ledger(chain, addresses=manifest["chain"]["addresses"]) as ledger:
        assert ledger.pool(manifest["run_id"]) == POOL + sum(settled["slashed"].values())
        for who in contributors:
            assert (
                ledger.staked("tiny", who.address, ledger.account)
                == staked[who.address] - settled["slashed"][who.address]
            )
    olab("verify", str(run_dir), cwd=tmp_path)
    # olab claim pays a contributor its share of the run's pool (the same command pays usage epochs), once
    top = next(s for s in Rewards.open(run_dir / "rewards.json").ranked() if s.contributor != POOL_REMAINDER)
    paid = (POOL + lost) * top.share_ppm // PPM
    assert (
        f"paid {paid} tokens to {top.contributor}" in olab("claim", str(run_dir), top.contributor, cwd=tmp_path).stdout
    )
    twice = olab("claim", str(run_dir), top.contributor, cwd=tmp_path, check=False)
    assert twice.returncode == 2 and "share already claimed" in twice.stderr and "Traceback" not in twice.stderr
    # the report's 'Behind each payout' table and the leaderboard widget show each contributor's stake owed and slashed
    table = Run.open(run_dir).contributors().set_index("contributor")
    assert table["stake_owed"].to_dict() == owed and table["stake_slashed"].to_dict() == settled["slashed"]
    assert "stake slashed (tokens)" in (run_dir / "report.html").read_text()
    board = Leaderboard.from_run(run_dir)
    assert {"stake_owed", "stake_slashed"} <= set(board.columns)
    assert {r["contributor"]: r["stake_slashed"] for r in board.rows if r.get("stake_slashed")} == settled["slashed"]

    again = read_json(
        run_dir_from(olab("run", str(config), "--no-progress", cwd=tmp_path).stdout, tmp_path) / "manifest.json"
    )
    assert again["run_id"] == manifest["run_id"]
    sent = again["chain"]["settlement"]["transactions"]
    assert list(sent) == ["settle"] and sent["settle"]["already_recorded"]  # no fund, no second settle
    assert sent["settle"]["tx_hash"] == settled["transactions"]["settle"]["tx_hash"]
    with Ledger(chain, addresses=manifest["chain"]["addresses"]) as ledger:
        assert ledger.pool(manifest["run_id"]) == POOL + sum(settled["slashed"].values())  # nothing funded twice

    who, amount = next(iter(settled["slashed"].items()))
    forged = {
        **again,
        "chain": {**again["chain"], "settlement": {**settled, "slashed": {**settled["slashed"], who: amount - 1}}},
    }
    (run_dir / "manifest.json").write_text(json.dumps(forged))
    proc = olab("verify", str(run_dir), cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert f"{who}: slashed {amount} on chain, the manifest says {amount - 1}" in proc.stdout + proc.stderr
