"""Synthetic news headlines for the offline quickstart and for teaching.

Four topics with AG News's labels (World, Sports, Business, Sci/Tech). Each record is one or two
sentences assembled from topic-specific actors, actions and objects, framed by wording shared by all
topics (dates, attributions, hedges), and a fraction of records borrow a phrase from another topic.
The text is varied enough that a model has to learn topic vocabulary rather than a template, and it is
a pure function of `(n, seed)`, so a Datanet built from it has the same Merkle root on every machine.
"""

from __future__ import annotations

import random

import datasets

LABELS = ["World", "Sports", "Business", "Sci/Tech"]

_TOPICS: dict[str, dict[str, list[str]]] = {
    "World": {
        "actor": [
            "the prime minister",
            "rebel leaders",
            "the United Nations",
            "opposition parties",
            "the foreign ministry",
            "peacekeepers",
            "the new government",
            "border officials",
            "the European Union",
            "refugee agencies",
            "the president",
            "coalition forces",
            "election monitors",
            "the ruling party",
            "diplomats",
            "the parliament",
        ],
        "action": [
            "called for talks over",
            "condemned",
            "signed an agreement on",
            "held an emergency session on",
            "imposed sanctions over",
            "warned of unrest after",
            "sent envoys to discuss",
            "rejected demands on",
            "announced a ceasefire in",
            "opened an inquiry into",
        ],
        "object": [
            "the disputed border region",
            "the refugee crisis",
            "a new constitution",
            "the nuclear programme",
            "the hostage situation",
            "the election results",
            "the peace accord",
            "the military offensive",
            "humanitarian aid corridors",
            "the disputed vote",
            "the captured soldiers",
            "the embassy attack",
        ],
        "place": [
            "Baghdad",
            "Kabul",
            "Darfur",
            "Gaza",
            "Kiev",
            "Tehran",
            "Beirut",
            "Caracas",
            "Nairobi",
            "Jakarta",
            "Islamabad",
            "Khartoum",
            "Damascus",
            "Seoul",
        ],
    },
    "Sports": {
        "actor": [
            "the defending champions",
            "the home side",
            "the veteran striker",
            "the head coach",
            "the rookie quarterback",
            "the world number one",
            "the national team",
            "the club captain",
            "the Olympic sprinter",
            "the league leaders",
            "the young goalkeeper",
            "the title holders",
            "the relief pitcher",
            "the tennis star",
            "the point guard",
            "the team manager",
        ],
        "action": [
            "clinched",
            "lost the final of",
            "advanced to the semifinals of",
            "set a record in",
            "withdrew from",
            "scored twice to win",
            "was suspended before",
            "signed a contract ahead of",
            "rallied late to take",
            "dominated the opening round of",
        ],
        "object": [
            "the championship series",
            "the grand slam",
            "the league title",
            "the World Cup qualifier",
            "the playoff game",
            "the marathon",
            "the derby",
            "the Open",
            "the relay final",
            "the season opener",
            "the cup tie",
            "the gold medal match",
        ],
        "place": [
            "Athens",
            "Wimbledon",
            "Fenway Park",
            "Old Trafford",
            "Yankee Stadium",
            "Melbourne",
            "the Bernabeu",
            "Augusta",
            "Daytona",
            "Lambeau Field",
            "Roland Garros",
            "Anfield",
        ],
    },
    "Business": {
        "actor": [
            "the central bank",
            "shareholders",
            "the retailer",
            "the airline",
            "oil producers",
            "the chief executive",
            "the carmaker",
            "investors",
            "the bank's board",
            "regulators",
            "the insurer",
            "the steelmaker",
            "analysts",
            "the conglomerate",
            "the mortgage lender",
            "the chain's founder",
        ],
        "action": [
            "reported higher profits from",
            "cut its forecast for",
            "agreed to buy",
            "raised interest rates amid",
            "announced layoffs at",
            "filed for bankruptcy protection over",
            "posted losses on",
            "approved a merger with",
            "saw shares fall after",
            "issued bonds to fund",
        ],
        "object": [
            "quarterly earnings",
            "its retail division",
            "crude oil prices",
            "a rival supplier",
            "the pension fund",
            "weak consumer spending",
            "the stock buyback",
            "the takeover bid",
            "its overseas factories",
            "rising fuel costs",
            "the dividend",
            "the holiday sales season",
        ],
        "place": [
            "Wall Street",
            "the Nasdaq",
            "Frankfurt",
            "the London Stock Exchange",
            "Tokyo",
            "Detroit",
            "Hong Kong",
            "Zurich",
            "the Dow Jones",
            "Chicago",
            "Shanghai",
            "Toronto",
        ],
    },
    "Sci/Tech": {
        "actor": [
            "researchers",
            "the software maker",
            "astronomers",
            "the chipmaker",
            "NASA engineers",
            "the search engine",
            "biologists",
            "hackers",
            "the phone maker",
            "the open-source project",
            "physicists",
            "the space agency",
            "the browser developer",
            "climate scientists",
            "the game studio",
            "the robotics lab",
        ],
        "action": [
            "unveiled",
            "released a patch for",
            "discovered",
            "launched",
            "warned users about",
            "demonstrated a prototype of",
            "published a study on",
            "sequenced",
            "recalled",
            "open-sourced",
        ],
        "object": [
            "a faster processor",
            "a new operating system",
            "a distant exoplanet",
            "a security flaw",
            "the Mars rover",
            "a wireless standard",
            "the human genome",
            "a computer virus",
            "a quantum computer",
            "a new web browser",
            "a solar panel design",
            "a satellite telescope",
        ],
        "place": [
            "Silicon Valley",
            "Redmond",
            "CERN",
            "Cape Canaveral",
            "MIT",
            "Bangalore",
            "Cambridge",
            "the International Space Station",
            "Pasadena",
            "Helsinki",
            "Seoul",
            "Austin",
        ],
    },
}

_WHEN = [
    "on Monday",
    "on Tuesday",
    "on Wednesday",
    "on Thursday",
    "on Friday",
    "over the weekend",
    "late on Sunday",
    "this week",
    "earlier today",
    "for the second time this year",
]
_SOURCE = [
    "officials said",
    "a spokesman said",
    "according to a statement",
    "reports said",
    "sources told reporters",
    "it was announced",
    "the company confirmed",
    "witnesses said",
]
_TAIL = [
    "Further details were not immediately available.",
    "The move surprised many observers.",
    "Critics said the decision came too late.",
    "More announcements are expected next month.",
    "The news was welcomed by supporters.",
    "Analysts called it a turning point.",
    "",
]

_TEMPLATES = [
    "{Actor} {action} {object} in {place} {when}, {source}.",
    "In {place}, {actor} {action} {object} {when}.",
    "{Actor} {action} {object} {when}, {source}. {tail}",
    "{When_cap}, {actor} in {place} {action} {object}.",
    "{Actor} {action} {object}; {source} that {actor2} in {place} would respond {when}.",
    "{Place}: {actor} {action} {object}, {source}. {tail}",
]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def headline(rng: random.Random, topic: str, borrow: str | None = None) -> str:
    """One synthetic news item on `topic`; with `borrow`, one slot comes from that other topic."""
    vocab = _TOPICS[topic]
    slots = {k: rng.choice(v) for k, v in vocab.items()}
    if borrow is not None:
        key = rng.choice(["object", "place"])
        slots[key] = rng.choice(_TOPICS[borrow][key])
    when = rng.choice(_WHEN)
    text = rng.choice(_TEMPLATES).format(
        Actor=_cap(slots["actor"]),
        actor=slots["actor"],
        action=slots["action"],
        object=slots["object"],
        place=slots["place"],
        Place=slots["place"],
        when=when,
        When_cap=_cap(when),
        source=rng.choice(_SOURCE),
        tail=rng.choice(_TAIL),
        actor2=rng.choice(vocab["actor"]),
    )
    return " ".join(text.split())


def generate(n: int, seed: int = 0, *, borrow_rate: float = 0.15) -> datasets.Dataset:
    """`n` labelled headlines (columns `text`, `label`), balanced over LABELS, deterministic in `seed`."""
    if n <= 0:
        raise ValueError(f"n must be a positive number of records, got {n}")
    rng = random.Random(f"olab.synth/{seed}")
    texts, labels = [], []
    for i in range(n):
        topic = LABELS[i % len(LABELS)]
        borrow = rng.choice([t for t in LABELS if t != topic]) if rng.random() < borrow_rate else None
        texts.append(headline(rng, topic, borrow))
        labels.append(topic)
    order = list(range(n))
    rng.shuffle(order)
    return datasets.Dataset.from_dict({"text": [texts[i] for i in order], "label": [labels[i] for i in order]})


def off_topic(rng: random.Random) -> str:
    """Text that belongs to none of the topics (used to simulate off-topic contributions)."""
    subjects = [
        "my grandmother's recipe",
        "this weekend's garden work",
        "the best way to fold laundry",
        "a poem about autumn leaves",
        "directions to the bakery",
        "my cat's favourite toy",
        "tips for knitting a scarf",
        "a list of shopping items",
        "the colour of the sunset",
        "how to brew green tea",
    ]
    fillers = [
        "is something I think about a lot",
        "needs more patience than you'd expect",
        "always makes me smile",
        "was discussed at length over dinner",
        "is easier with practice",
    ]
    return f"{_cap(rng.choice(subjects))} {rng.choice(fillers)}, {rng.choice(['honestly', 'really', 'truly'])}."
