"""Synthetic instruction/answer pairs with checkable answers, for the offline language-model quickstart.

Five kinds of question, each with one short correct answer that exact match can check: addition,
subtraction, multiplication, unit conversion and capital cities. Records are drawn round-robin over the
kinds, without repeating a question, so prompts are unique (a Datanet rejects duplicates). A pure function
of `(n, seed)`: a Datanet built from it has the same Merkle root on every machine.
"""

from __future__ import annotations

import random

import datasets

CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Portugal": "Lisbon",
    "Japan": "Tokyo", "Canada": "Ottawa", "Egypt": "Cairo", "Kenya": "Nairobi", "Peru": "Lima",
    "Norway": "Oslo", "Sweden": "Stockholm", "Finland": "Helsinki", "Poland": "Warsaw", "Greece": "Athens",
    "Austria": "Vienna", "Ireland": "Dublin", "Russia": "Moscow", "China": "Beijing", "India": "New Delhi",
    "Thailand": "Bangkok", "Argentina": "Buenos Aires", "Chile": "Santiago", "Cuba": "Havana",
    "Hungary": "Budapest", "Denmark": "Copenhagen", "Belgium": "Brussels", "Netherlands": "Amsterdam",
    "Turkey": "Ankara", "Iran": "Tehran", "Iraq": "Baghdad", "Vietnam": "Hanoi", "Mexico": "Mexico City",
    "Australia": "Canberra", "Colombia": "Bogota", "Ethiopia": "Addis Ababa", "Ghana": "Accra",
    "Morocco": "Rabat", "Nepal": "Kathmandu", "Czechia": "Prague",
}  # fmt: skip
CAPITAL_WORDING = ("What is the capital of {}?", "Name the capital city of {}.", "Which city is the capital of {}?")

# (larger unit, smaller unit, factor)
CONVERSIONS = [
    ("metres", "centimetres", 100), ("kilometres", "metres", 1000), ("kilograms", "grams", 1000),
    ("hours", "minutes", 60), ("minutes", "seconds", 60), ("days", "hours", 24), ("weeks", "days", 7),
    ("litres", "millilitres", 1000), ("years", "months", 12), ("dozens", "items", 12),
]  # fmt: skip

KINDS = ("addition", "subtraction", "multiplication", "conversion", "capital")


def _pool(kind: str) -> list[tuple[str, str]]:
    """Every (question, answer) of one kind, in a fixed order."""
    if kind == "addition":
        return [(f"What is {a} plus {b}?", str(a + b)) for a in range(2, 50) for b in range(2, 50)]
    if kind == "subtraction":
        return [(f"What is {a} minus {b}?", str(a - b)) for a in range(10, 60) for b in range(1, a)]
    if kind == "multiplication":
        return [(f"What is {a} times {b}?", str(a * b)) for a in range(2, 13) for b in range(2, 13)]
    if kind == "conversion":
        return [
            (f"How many {small} are in {v} {big}?", str(v * f)) for big, small, f in CONVERSIONS for v in range(2, 21)
        ]
    return [(w.format(country), city) for country, city in CAPITALS.items() for w in CAPITAL_WORDING]


def generate(n: int, seed: int = 0) -> datasets.Dataset:
    """`n` instruction records (columns `prompt`, `response`, `kind`), round-robin over KINDS, deterministic."""
    if n <= 0:
        raise ValueError(f"n must be a positive number of records, got {n}")
    rng = random.Random(f"olab.synth_instructions/{seed}")
    pools = {k: _pool(k) for k in KINDS}
    for pool in pools.values():
        rng.shuffle(pool)
    capacity = sum(map(len, pools.values()))
    if n > capacity:
        raise ValueError(f"the instruction generator has {capacity} distinct questions; n={n} asks for more")
    rows: list[tuple[str, str, str]] = []
    while len(rows) < n:
        for kind in KINDS:
            if len(rows) < n and pools[kind]:
                rows.append((*pools[kind].pop(), kind))
    rng.shuffle(rows)
    prompts, responses, kinds = (list(c) for c in zip(*rows, strict=True))
    return datasets.Dataset.from_dict({"prompt": prompts, "response": responses, "kind": kinds})
