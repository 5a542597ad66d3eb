"""A live model in a notebook: `olab serve` over finished runs, started in this process on a free 127.0.0.1 port,
asked through the official `openai` client, every answer's receipt fetched and verified (the code `olab receipt
verify` runs), the usage rewards it earns tallied per contributor from the receipt store, and epochs settled and
claimed on the runs' chain (olab.serve.epochs). The notebook "serve and pay" and the app "ask the model" are this.

The server signs receipts with a key made for this session (`key=` to give one): it lives in this process only,
is never written anywhere, and the session knows its address, so a receipt signed by anyone else fails.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from olab.errors import OlabError

if TYPE_CHECKING:
    import pandas as pd

    from olab.ledger import Ledger, TxResult
    from olab.pipeline import Run
    from olab.serve.epochs import Epoch

START_TIMEOUT_S = 120.0
_ENV_LOCK = threading.Lock()


@dataclass
class Answer:
    """One answer and its receipt, as a person checks it: `records` are the receipt's top training records with
    their text and whether each one's Merkle proof reaches the Datanet root; `problems` every broken link of the
    receipt (empty: signature, proofs, shares, run and recomputed scores all hold)."""

    adapter: str
    task: str
    question: str
    text: str
    receipt: dict[str, Any]
    records: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def signature_ok(self) -> bool:
        return not any(p.startswith("signature:") for p in self.problems)

    def shares(self, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """[{contributor, name, share_ppm}] of this answer, largest first."""
        from olab.names import name_of

        ppm = self.receipt.get("shares_ppm", {})
        return [{"contributor": a, "name": name_of(names, a), "share_ppm": p}
                for a, p in sorted(ppm.items(), key=lambda t: -t[1])]  # fmt: skip

    def __repr__(self) -> str:
        verdict = "holds" if self.ok else f"{len(self.problems)} broken link(s)"
        return f"Answer({self.adapter}: {self.text!r}; receipt {self.receipt.get('receipt_id', '')[:12]}… {verdict})"


class ServeSession:
    """`olab serve` over `runs` in this process (a uvicorn thread), with a receipt store; `ask`, `usage`, `settle`,
    `claim`, `verify_epoch`; `close()` (or a `with` block) stops it. A user could run the same from a shell:
    `OLAB_SERVE_KEY=... olab serve RUN... --receipts STORE --fee FEE`, then `olab settle STORE`, `olab claim`."""

    def __init__(
        self,
        runs: Sequence[Run | str | Path],
        *,
        store: str | Path | None = None,
        fee: int = 1_000,
        top_k: int = 5,
        key: str | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        import openai
        import uvicorn
        from eth_account import Account

        from olab.serve.app import Server
        from olab.serve.config import ServeConfig
        from olab.serve.receipts import KEY_ENV
        from olab.serve.store import open_store
        from olab.widgets._run import open_run

        if not runs:
            raise OlabError("ServeSession needs at least one run (an olab.Run or a run directory)")
        self.runs = {run.run_id: run for run in map(open_run, runs)}
        first = next(iter(self.runs.values()))
        self.store_path = Path(store) if store is not None else first.dir.parent.parent / "serve" / "receipts.sqlite"
        key = key or "0x" + secrets.token_hex(32)
        self.signer = Account.from_key(key).address
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        try:
            config = ServeConfig(port=self.port, receipts=str(self.store_path), fee=fee, top_k=top_k)
            with _environ(KEY_ENV, key):  # the server reads its signing key once, from the environment
                self.server = Server([r.dir for r in self.runs.values()], config)
        except BaseException:
            sock.close()
            raise
        self._uvicorn = uvicorn.Server(uvicorn.Config(self.server.app, log_level="warning"))
        self._thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"olab-serve-{self.port}")  # fmt: skip
        self._thread.start()
        self._wait_started(sock)
        # one connection per request: a kept-alive one that uvicorn closes as idle (after 5 s, e.g. while a receipt
        # is verified) just as the next question reuses it is reset, and a question is not retried (it has a fee)
        self.client = openai.OpenAI(base_url=self.url, api_key="local", max_retries=0, timeout=600,
                                    default_headers={"Connection": "close"})  # fmt: skip
        self.cards = {m.id: m.model_dump() for m in self.client.models.list().data}
        self.store = open_store(self.store_path)
        self._ledger = ledger
        self._scorers: dict[tuple[str, int, str], Any] = {}

    def _wait_started(self, sock: socket.socket) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                self.server.close()
                raise OlabError(f"olab serve did not start on {self.url} within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.05)

    # --- asking ----------------------------------------------------------------------------------------------

    @property
    def adapters(self) -> list[str]:
        """The served adapters' ids (a request's `model`), as GET /v1/models lists them."""
        return list(self.cards)

    def ask(self, adapter: str, question: str, *, max_tokens: int = 16, verify: bool = True) -> Answer:
        """Ask `adapter` (chat for a language model, /v1/classify for a classifier) through the openai client,
        fetch the answer's receipt and (`verify`) check every link of it as `olab receipt verify --run` does."""
        if adapter not in self.cards:
            raise OlabError(f"adapter {adapter!r} is not served here; served: {', '.join(self.adapters)}")
        import openai

        task = self.cards[adapter]["task"]
        try:
            if task == "classification":
                body = self.client.post("/classify", body={"model": adapter, "input": question}, cast_to=object)
                text, receipt_id = body["data"][0]["label"], body["data"][0]["receipt_id"]
            else:
                chat = self.client.chat.completions.create(
                    model=adapter, messages=[{"role": "user", "content": question}], max_tokens=max_tokens,
                    temperature=0,
                )  # fmt: skip
                text, receipt_id = chat.choices[0].message.content, chat.model_extra["receipt_id"]
            receipt = self.client.get(f"/receipts/{receipt_id}", cast_to=object)
        except openai.APIStatusError as e:  # the server's 4xx names what is wrong with the question
            raise OlabError(f"olab serve refused the question to {adapter!r} (HTTP {e.status_code}): "
                            f"{e.body.get('message') if isinstance(e.body, dict) else e.message}") from None  # fmt: skip
        problems = self.verify(receipt) if verify else []
        broken = {p.split(":", 1)[0] for p in problems}
        run = self._run_of(receipt)
        table = run.datanet.to_pandas().set_index("record_id")
        names = self.names()
        records = [
            {"rank": i + 1, "record_id": r["record_id"], "contributor": r["contributor"],
             "name": names.get(r["contributor"], ""), "score": r["score"], "text": table.at[r["record_id"], "text"],
             "label": str(table.at[r["record_id"], "label"]), "proof_ok": f"record {r['record_id']}" not in broken}
            for i, r in enumerate(receipt["records"])
        ]  # fmt: skip
        return Answer(adapter, task, question, text, receipt, records, problems)

    def verify(self, receipt: dict[str, Any]) -> list[str]:
        """Every broken link of `receipt` (olab.serve.receipts.problems, as `olab receipt verify --run` checks it):
        signature by this session's server, proofs, shares, the run's hashes and the scores recomputed from the
        run's files by a scorer of this session's own (prepared once per adapter)."""
        from olab.serve.answers import AnswerScorer
        from olab.serve.receipts import problems

        run = self._run_of(receipt)
        # a scorer per adapter and device kind: a receipt recomputes on the kind it was scored on (for_receipt)
        key = (run.run_id, receipt.get("adapter", {}).get("member", 0), receipt.get("scored_on", "cpu"))
        if key not in self._scorers:
            self._scorers[key] = AnswerScorer.for_receipt(run, receipt)
        return problems(receipt, run=run, scorer=self._scorers[key], signer=self.signer)

    def _run_of(self, receipt: dict[str, Any]) -> Run:
        run = self.runs.get(receipt.get("run_id", ""))
        if run is None:
            raise OlabError(f"receipt {receipt.get('receipt_id')} names run {receipt.get('run_id')}, not one served "
                            f"here ({', '.join(self.runs)})")  # fmt: skip
        return run

    # --- usage rewards ---------------------------------------------------------------------------------------

    def names(self) -> dict[str, str]:
        """{address: display name} of every contributor of the served runs (and of their fee split's roles)."""
        from olab.names import POOL_REMAINDER_NAME
        from olab.rewards import POOL_REMAINDER

        out = {POOL_REMAINDER: POOL_REMAINDER_NAME}
        for run in self.runs.values():
            out |= run.names()
        return out

    def epochs(self) -> list[Epoch]:
        from olab.serve.epochs import epochs

        return epochs(self.store)

    def usage(self) -> pd.DataFrame:
        """Usage rewards per address, in token units: `pending` (the exact fraction of the fees of the receipts since
        the last epoch), `settled` (what the settled epochs pay it) and `claimed` (what it has claimed of those)."""
        import pandas as pd

        from olab.serve.epochs import fee_shares

        done = [e for e in self.epochs() if e.chain is not None]  # an epoch a stopped settle left open is pending
        pending: dict[str, Fraction] = {}
        for _, receipt in self.store.after(done[-1].record["last_seq"] if done else 0):
            for who, amount in fee_shares(receipt).items():
                pending[who] = pending.get(who, Fraction(0)) + amount
        settled: dict[str, int] = {}
        claimed: dict[str, int] = {}
        for e in done:
            for who, amount in e.amounts().items():
                settled[who] = settled.get(who, 0) + amount
                if amount and self.ledger.claimed(e.epoch_id, who):
                    claimed[who] = claimed.get(who, 0) + amount
        names = self.names()
        rows = [{"address": a, "name": names.get(a, ""), "pending": float(pending.get(a, 0)),
                 "settled": settled.get(a, 0), "claimed": claimed.get(a, 0)}
                for a in sorted(pending.keys() | settled.keys())]  # fmt: skip
        frame = pd.DataFrame(rows, columns=["address", "name", "pending", "settled", "claimed"])
        return frame.sort_values(["settled", "pending"], ascending=False, ignore_index=True)

    @property
    def ledger(self) -> Ledger:
        """The chain epochs settle on: the one given, else the one the first run was published on."""
        if self._ledger is None:
            run = next(iter(self.runs.values()))
            if not run.manifest.chain.backend:
                raise OlabError(f"run {run.dir} was not published, so it names no chain to settle on: pass "
                                "ServeSession(..., ledger=olab.Ledger(...))")  # fmt: skip
            self._ledger = run.ledger()
        return self._ledger

    def claimants(self, epoch: int | None = None) -> dict[str, str]:
        """{"name · 0x1234…abcd": address} of everyone epoch `epoch` (default: the latest) pays, largest first;
        empty before the first epoch."""
        from olab.rewards import POOL_REMAINDER
        from olab.viz import contributor_label

        if not self.epochs():
            return {}
        names = self.names()
        paid = sorted(self._epoch(epoch).amounts().items(), key=lambda t: -t[1])
        return {contributor_label(a, names): a for a, amount in paid if amount > 0 and a != POOL_REMAINDER}

    def settle(self) -> Epoch:
        """Close an epoch over the receipts since the last one and pay it on chain (`olab settle STORE`)."""
        from olab.serve.epochs import settle

        return settle(self.store, self.ledger)

    def claim(self, address: str, epoch: int | None = None) -> TxResult:
        """Pay `address` its share of epoch `epoch` (default: the latest) with its proof, once (`olab claim`)."""
        return self._epoch(epoch).claim(address, self.ledger)

    def verify_epoch(self, epoch: int | None = None) -> list[str]:
        """Every broken link of an epoch (default: the latest): recomputed from its receipts, checked on chain."""
        from olab.serve.epochs import problems

        return problems(self.store, self._epoch(epoch).number, self.ledger)

    def _epoch(self, number: int | None) -> Epoch:
        from olab.serve.epochs import epoch

        if number is not None:
            return epoch(self.store, number)
        done = self.epochs()
        if not done:
            raise OlabError(f"{self.store_path} has no epoch yet: settle() closes the first")
        return done[-1]

    # --- lifetime --------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the server (it finishes the requests in flight) and close the receipt store."""
        self._uvicorn.should_exit = True
        self._thread.join(timeout=30)
        self.server.close()
        self.store.close()

    def __enter__(self) -> ServeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ServeSession({len(self.cards)} adapter(s) on {self.url}, receipts in {self.store_path})"


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    """`os.environ[name] = value` for the block only (the value never outlives it in the environment)."""
    with _ENV_LOCK:
        before = os.environ.get(name)
        os.environ[name] = value
        try:
            yield
        finally:
            if before is None:
                del os.environ[name]
            else:
                os.environ[name] = before
