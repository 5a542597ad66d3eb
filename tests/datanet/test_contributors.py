"""Contributor addresses, assignment strategies and injected behaviours (the experiments' ground truth)."""

from __future__ import annotations

from collections import Counter

import pytest
from eth_utils import is_checksum_address

from olab.datanet import simulated_accounts
from olab.datanet.config import BehaviourConfig, ContributorsConfig
from olab.datanet.contributors import (
    PARAPHRASE_EDITS,
    address_for_name,
    assign,
    contributor_address,
    inject,
    off_topic_text,
    perturb,
)
from olab.datanet.records import normalise_text
from olab.datanet.synth import LABELS, generate


def test_names_map_to_fixed_distinct_checksummed_addresses():
    a, b = address_for_name("alice"), address_for_name("bob")
    assert a == address_for_name("alice") and a != b and is_checksum_address(a)
    given = "0x" + "ab" * 20
    assert contributor_address(given).lower() == given and is_checksum_address(contributor_address(given))
    assert contributor_address("alice") == a


def test_simulated_accounts_are_deterministic_and_sign():
    first, again, other = simulated_accounts(4, 0), simulated_accounts(4, 0), simulated_accounts(4, 1)
    assert [a.address for a in first] == [a.address for a in again]
    assert len({a.address for a in first + other}) == 8
    from eth_account import Account
    from eth_account.messages import encode_defunct

    signed = first[2].sign_message(encode_defunct(text="hi"))
    assert Account.recover_message(encode_defunct(text="hi"), signature=signed.signature) == first[2].address


@pytest.mark.parametrize("strategy", ["round_robin", "random", "contiguous", "skewed"])
def test_assignment_strategies(strategy):
    cfg = ContributorsConfig(n=4, seed=1, strategy=strategy, skew=1.5)
    owners = assign(400, cfg)
    assert owners == assign(400, cfg) and len(owners) == 400 and set(owners) <= {0, 1, 2, 3}
    counts = Counter(owners)
    if strategy in ("round_robin", "contiguous"):
        assert counts == {0: 100, 1: 100, 2: 100, 3: 100}
    if strategy == "contiguous":
        assert owners == sorted(owners)
    if strategy == "skewed":
        assert counts[0] > counts[1] > counts[3] and counts[0] > 150
    if strategy == "random":
        assert all(60 < c < 140 for c in counts.values())


def test_behaviours_change_exactly_rate_of_one_contributors_records():
    ds = generate(200, seed=2)
    texts, labels = list(ds["text"]), list(ds["label"])
    owners = [i % 4 for i in range(200)]
    behaviours = [
        BehaviourConfig(contributor=1, kind="label_noise", rate=0.4),
        BehaviourConfig(contributor=2, kind="near_duplicate_spam", rate=0.5),
        BehaviourConfig(contributor=3, kind="off_topic", rate=0.2),
    ]
    out = inject(texts, labels, owners, behaviours, LABELS, seed=0)
    assert out.counts == {1: {"label_flip": 20}, 2: {"near_duplicate": 25}, 3: {"off_topic": 10}}
    for i in range(200):
        kind = out.injected[i]
        if kind is None:
            assert (out.texts[i], out.labels[i], out.original_label[i]) == (texts[i], labels[i], None)
            continue
        assert owners[i] == {"label_flip": 1, "near_duplicate": 2, "off_topic": 3}[kind]
        if kind == "label_flip":
            assert out.original_label[i] == labels[i] != out.labels[i] and out.texts[i] == texts[i]
        if kind == "near_duplicate":  # a small edit of another contributor's record, with that record's label
            sources = [j for j in range(200) if owners[j] != 2 and _word_edit_distance(texts[j], out.texts[i]) <= 2]
            assert sources and out.labels[i] == labels[sources[0]]
            assert normalise_text(out.texts[i]) not in {normalise_text(t) for t in texts}
        if kind == "off_topic":
            assert out.texts[i] != texts[i] and out.labels[i] == labels[i]
    assert inject(texts, labels, owners, behaviours, LABELS, seed=0).texts == out.texts
    assert inject(texts, labels, owners, behaviours, LABELS, seed=1).texts != out.texts


def test_paraphrase_padding_rewrites_records_already_there_with_their_label():
    ds = generate(200, seed=2)
    texts, labels = list(ds["text"]), list(ds["label"])
    owners = [i % 4 for i in range(200)]
    out = inject(texts, labels, owners, [BehaviourConfig(contributor=2, kind="paraphrase", rate=0.5)], LABELS, 0)
    assert out.counts == {2: {"paraphrase": 25}}
    edits = []
    for i in (i for i in range(200) if out.injected[i]):
        assert owners[i] == 2
        distance, src = min((_word_edit_distance(texts[j], out.texts[i]), j) for j in range(i))  # an earlier record
        assert 1 <= distance <= 2 * PARAPHRASE_EDITS and out.labels[i] == labels[src]
        assert normalise_text(out.texts[i]) not in {normalise_text(t) for t in texts}
        edits.append(distance)
    assert max(edits) > 2  # looser than a near-copy's single edit


def _word_edit_distance(a: str, b: str) -> int:
    """Levenshtein distance over words (a swap of two neighbours counts 2)."""
    x, y = a.split(), b.split()
    prev = list(range(len(y) + 1))
    for i, wx in enumerate(x, 1):
        cur = [i]
        for j, wy in enumerate(y, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (wx != wy)))
        prev = cur
    return prev[-1]


def test_perturb_is_small_and_changes_the_normalised_text():
    import random

    rng = random.Random(0)
    for text in ["One two three four five six", "Short", "A B"]:
        out = perturb(text, rng)
        assert normalise_text(out) != normalise_text(text)
        assert _word_edit_distance(text, out) <= 2


def test_off_topic_text_shares_no_topic_vocabulary():
    import random

    from olab.datanet import synth

    rng = random.Random(0)
    topic_words = {
        w.lower()
        for vocab in synth._TOPICS.values()
        for words in vocab.values()
        for p in words
        for w in p.split()
        if len(w) > 5
    }
    for _ in range(50):
        words = {w.strip(",.()").lower() for w in off_topic_text(rng).split()}
        assert not words & topic_words, words & topic_words


def test_label_noise_needs_two_labels():
    from olab.errors import ConfigError

    with pytest.raises(ConfigError, match="at least two labels"):
        inject(["a", "b"], ["x", "x"], [0, 0], [BehaviourConfig(contributor=0, kind="label_noise", rate=1.0)], ["x"], 0)


def test_every_strategy_a_ui_offers_is_a_valid_behaviour():
    """The marimo apps' dropdowns offer olab.datanet.contributors.STRATEGIES: every behaviour kind the config
    accepts, and withhold-then-copy (every record a near-copy, whatever the rate)."""
    import typing

    from olab.datanet.config import BehaviourConfig
    from olab.datanet.contributors import STRATEGIES, strategy_behaviour
    from olab.errors import ConfigError

    kinds = set(typing.get_args(BehaviourConfig.model_fields["kind"].annotation))
    assert set(STRATEGIES) == kinds | {"withhold_then_copy"}
    for s in STRATEGIES:
        b = BehaviourConfig(**strategy_behaviour(2, s, 0.3))
        assert b.contributor == 2 and b.rate == (1.0 if s == "withhold_then_copy" else 0.3)
    assert strategy_behaviour(1, "withhold_then_copy", 0.2)["kind"] == "near_duplicate_spam"
    with pytest.raises(ConfigError, match="strategy 'spam' is not one of"):
        strategy_behaviour(1, "spam", 0.5)
