"""Contributor addresses and simulated contributors with injected behaviours (the experiments' ground truth).

- A contributor given by **name** gets a keyless address: the last 20 bytes of keccak256 of the namespaced
  name. Nobody holds its key, so nobody can sign or claim for it; give real addresses in the column instead
  when contributors must sign.
- A **simulated** contributor i of seed s has the private key keccak256("olab.datanet.simulated-key/v1:s:i"),
  so it can sign contributions in tests and teaching. These keys are public knowledge: simulation only.
- Behaviours change a stated fraction of one contributor's records, deterministically from the seed:
  label flips, near-duplicate spam (small perturbations of other records), off-topic text.

Randomness is `random.Random` seeded with strings, whose streams are stable across Python versions and
machines, so a simulated Datanet has the same Merkle root everywhere.
"""

from __future__ import annotations

import bisect
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from olab.datanet.config import BehaviourConfig, ContributorsConfig
from olab.datanet.records import normalise_text
from olab.errors import ConfigError
from olab.hashing import keccak

NAME_NAMESPACE = "olab.datanet.contributor-name/v1"
KEY_NAMESPACE = "olab.datanet.simulated-key/v1"
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
INJECTED_KINDS = {
    "label_noise": "label_flip",
    "near_duplicate_spam": "near_duplicate",
    "paraphrase": "paraphrase",
    "off_topic": "off_topic",
}
PARAPHRASE_EDITS = 3  # word edits in a row that make a paraphrase (one makes a near-copy)
# every simulated strategy a UI offers: each behaviour kind, and withholding-then-copying (a near-copy spammer
# whose every record is a near-copy of records already there: `rate` is fixed at 1)
WITHHOLD_THEN_COPY = "withhold_then_copy"
STRATEGIES = ("clean", *INJECTED_KINDS, WITHHOLD_THEN_COPY)


def strategy_behaviour(contributor: int, strategy: str, rate: float) -> dict[str, Any]:
    """The `contributors.behaviours` entry of one contributor following `strategy` (one of STRATEGIES)."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy {strategy!r} is not one of {list(STRATEGIES)}")
    if strategy == WITHHOLD_THEN_COPY:
        return {"contributor": contributor, "kind": "near_duplicate_spam", "rate": 1.0}
    return {"contributor": contributor, "kind": strategy, "rate": rate}


def is_address(value: object) -> bool:
    """True for a 0x-prefixed 20-byte hex string."""
    return isinstance(value, str) and bool(_ADDRESS.match(value))


def address_for_name(name: str) -> str:
    """The keyless, deterministic address of a contributor known only by name (checksummed)."""
    return to_checksum_address(keccak(f"{NAME_NAMESPACE}:{name}".encode())[-20:])


def contributor_address(value: str) -> str:
    """A column value as an address: a 0x address is kept (checksummed), anything else is a name."""
    return to_checksum_address(value) if is_address(value) else address_for_name(value)


def address_problem(value: str, names: bool = False) -> str | None:
    """Why a contributor value is not a usable one, else None: a name where the config did not declare names
    (`names`), or a value that looks like an address (it starts with 0x) but is not one.

    A 0x value is never taken as a name: a mistyped address would silently credit a keyless account.
    Mixed case must be a valid EIP-55 checksum (a typo changes it); all lower or upper case carries none.
    """
    if value[:2].lower() != "0x":
        if names:
            return None
        return (
            f"contributor {value!r} is a name, not an address (0x and 40 hex digits); set contributors.names: true "
            "to accept names (each maps to a keyless address nobody can sign or claim for)"
        )
    if not is_address(value):
        return f"contributor {value!r} looks like an address but is not one: an address is 0x and 40 hex digits"
    body = value[2:]
    if body != body.lower() and body != body.upper() and to_checksum_address(value) != value:
        return (
            f"contributor {value!r} fails its EIP-55 checksum (mixed case that does not match the address): "
            "check it for a typo, or give it all in lower case"
        )
    return None


def simulated_key(seed: int, index: int) -> bytes:
    """The private key of simulated contributor `index` under `seed` (valid secp256k1 scalar)."""
    for attempt in range(1000):
        suffix = "" if attempt == 0 else f":{attempt}"
        key = keccak(f"{KEY_NAMESPACE}:{seed}:{index}{suffix}".encode())
        if 0 < int.from_bytes(key, "big") < _SECP256K1_N:
            return key
    raise AssertionError("unreachable: no valid key in 1000 attempts")


def simulated_accounts(n: int, seed: int) -> list[LocalAccount]:
    """`n` simulated contributors with deterministic keys (so they can sign contributions)."""
    return [Account.from_key(simulated_key(seed, i)) for i in range(n)]


def assign(n_records: int, cfg: ContributorsConfig) -> list[int]:
    """The simulated contributor index of each record, by `cfg.strategy`."""
    n, rng = cfg.n, random.Random(f"olab.datanet.assign/{cfg.seed}/{cfg.strategy}")
    if cfg.strategy == "round_robin":
        return [i % n for i in range(n_records)]
    if cfg.strategy == "contiguous":
        return [i * n // n_records for i in range(n_records)]
    if cfg.strategy == "random":
        return [rng.randrange(n) for _ in range(n_records)]
    weights = [1.0 / (k + 1) ** cfg.skew for k in range(n)]
    return rng.choices(range(n), weights=weights, k=n_records)


# --- injected behaviours --------------------------------------------------------------------------

_FILLERS = ["really", "reportedly", "indeed", "apparently", "now", "again", "also", "still", "just", "today"]
_OFF_SUBJECTS = [
    "my grandmother's lemon cake",
    "the tomato seedlings",
    "a wool scarf pattern",
    "the sourdough starter",
    "our neighbour's parrot",
    "the balcony herb garden",
    "a watercolour of the harbour",
    "my sister's wedding playlist",
    "the old bicycle in the shed",
    "a pot of green tea",
    "the crossword in the weekend paper",
    "a jar of plum jam",
    "the cat's new scratching post",
    "our camping trip checklist",
    "a dusty box of vinyl records",
    "the rose bushes by the gate",
    "a beginner's origami crane",
    "the leftover vegetable soup",
    "a cross-stitch sampler",
    "the puppy's training treats",
]
_OFF_VERBS = [
    "needs",
    "turned out better with",
    "smells wonderful after",
    "is ruined without",
    "always improves with",
    "takes far longer than",
    "looks lovely next to",
    "was finally finished after",
    "goes well with",
    "reminds me of",
    "is so much easier with",
    "got complicated because of",
]
_OFF_OBJECTS = [
    "a pinch of cinnamon",
    "two cups of warm milk",
    "an afternoon of sunshine",
    "a second coat of varnish",
    "fresh basil leaves",
    "a lot of patience",
    "the blue knitting needles",
    "a quiet Sunday morning",
    "grandad's old recipe",
    "a little extra sugar",
    "some soft background music",
    "a long walk in the park",
    "the spare garden gloves",
    "a handful of walnuts",
    "a cosy blanket",
    "a new set of brushes",
    "chamomile tea",
    "a row of marigolds",
    "the bread tin",
    "a bowl of cherries",
]
_OFF_ENDINGS = [
    "honestly",
    "if you ask me",
    "every single time",
    "at least in our kitchen",
    "as far as I can tell",
    "my aunt swears by it",
    "or so the book says",
    "which surprised everyone",
    "believe it or not",
    "no doubt",
]


def off_topic_text(rng: random.Random) -> str:
    """A sentence about home life: no content word of it occurs in the news topics."""
    subject = rng.choice(_OFF_SUBJECTS)
    return (
        f"{subject[0].upper()}{subject[1:]} {rng.choice(_OFF_VERBS)} {rng.choice(_OFF_OBJECTS)}, "
        f"{rng.choice(_OFF_ENDINGS)} (note {rng.randint(1, 9999)})."
    )


def perturb(text: str, rng: random.Random) -> str:
    """A near-duplicate of `text`: one small word-level edit (insert, swap, drop or repeat a word)."""
    words = text.split()
    for _ in range(10):
        w = list(words)
        op = rng.choice(["insert", "swap", "drop", "repeat"])
        if op == "swap" and len(w) >= 2:
            i = rng.randrange(len(w) - 1)
            w[i], w[i + 1] = w[i + 1], w[i]
        elif op == "drop" and len(w) >= 5:
            del w[rng.randrange(len(w))]
        elif op == "repeat" and w:
            i = rng.randrange(len(w))
            w.insert(i, w[i])
        else:
            w.insert(rng.randrange(len(w) + 1), rng.choice(_FILLERS))
        out = " ".join(w)
        if normalise_text(out) != normalise_text(text):
            return out
    return f"{text} {rng.choice(_FILLERS)}"


def paraphrase(text: str, rng: random.Random) -> str:
    """A loose rewrite of `text`: PARAPHRASE_EDITS small word edits in a row (what padding with paraphrases tries;
    the near-copy check still catches it, tests/datanet/test_neardup.py measures how often)."""
    for _ in range(PARAPHRASE_EDITS):
        text = perturb(text, rng)
    return text


@dataclass
class Injected:
    """The records after behaviours were injected, and per record what was done (None: untouched)."""

    texts: list[str | None]
    labels: list[str | None]
    injected: list[str | None]
    original_label: list[str | None]
    counts: dict[int, dict[str, int]] = field(default_factory=dict)


def inject(
    texts: Sequence[str | None],
    labels: Sequence[str | None],
    owners: Sequence[int],
    behaviours: Sequence[BehaviourConfig],
    label_set: Sequence[str],
    seed: int,
) -> Injected:
    """Apply each behaviour to a `rate` fraction of its contributor's records (deterministic in `seed`)."""
    out = Injected(list(texts), list(labels), [None] * len(texts), [None] * len(texts))
    taken = {normalise_text(t) for t in texts if isinstance(t, str)}
    plan = []
    for b in sorted(behaviours, key=lambda b: b.contributor):
        if b.kind == "clean" or b.rate == 0:
            continue
        rng = random.Random(f"olab.datanet.behaviour/{seed}/{b.contributor}/{b.kind}")
        own = [i for i, o in enumerate(owners) if o == b.contributor]
        plan.append((b, rng, sorted(rng.sample(own, round(b.rate * len(own))))))
    # a copy's source is a record whose text stays in the Datanet: copying a text another behaviour replaces
    # would make a record that is a near-copy of nothing there
    replaced = {i for b, _, chosen in plan if b.kind != "label_noise" for i in chosen}
    kept = [i for i, t in enumerate(texts) if isinstance(t, str) and i not in replaced]
    for b, rng, chosen in plan:
        others = [i for i in kept if owners[i] != b.contributor]
        for i in chosen:
            _apply(out, i, b.kind, rng, texts, labels, others, kept, label_set, taken)
        out.counts[b.contributor] = {INJECTED_KINDS[b.kind]: len(chosen)}
    return out


def _apply(
    out: Injected,
    i: int,
    kind: str,
    rng: random.Random,
    texts: Sequence[str | None],
    labels: Sequence[str | None],
    others: list[int],
    kept: list[int],
    label_set: Sequence[str],
    taken: set[str],
) -> None:
    if kind == "label_noise":
        choices = [lab for lab in label_set if lab != labels[i]]
        if not choices:
            raise ConfigError(
                f"contributors.behaviours: label_noise needs at least two labels, the label set is {list(label_set)}"
            )
        out.original_label[i], out.labels[i] = labels[i], rng.choice(choices)
    elif kind == "near_duplicate_spam":
        if not others:
            raise ConfigError(
                "contributors.behaviours: near_duplicate_spam needs records of other contributors to copy"
            )
        earlier = others[: bisect.bisect_left(others, i)] or others  # copy what was already there, as a spammer would
        _copy(out, i, earlier, perturb, rng, texts, labels, taken)
    elif kind == "paraphrase":
        earlier = kept[: bisect.bisect_left(kept, i)]  # pad with rewrites of records already there
        if not earlier:
            raise ConfigError("contributors.behaviours: paraphrase needs an earlier record to rewrite")
        _copy(out, i, earlier, paraphrase, rng, texts, labels, taken)
    else:
        for _ in range(20):
            text = off_topic_text(rng)
            if normalise_text(text) not in taken:
                break
        out.texts[i] = text
        taken.add(normalise_text(text))
    out.injected[i] = INJECTED_KINDS[kind]


def _copy(
    out: Injected,
    i: int,
    sources: list[int],
    rewrite: Callable[[str, random.Random], str],
    rng: random.Random,
    texts: Sequence[str | None],
    labels: Sequence[str | None],
    taken: set[str],
) -> None:
    """Record i becomes a rewrite of one of `sources`, with that record's label, unlike any text taken."""
    for _ in range(20):
        src = rng.choice(sources)
        text = rewrite(texts[src], rng)  # type: ignore[arg-type]
        if normalise_text(text) not in taken:
            break
    out.texts[i], out.labels[i] = text, labels[src]
    taken.add(normalise_text(text))
