"""The Datanet's dataset card (`<path>/README.md`): Hugging Face metadata that makes the directory a dataset
repo, so `datasets.load_dataset(<path>)` loads the latest version's records (label as a `ClassLabel`), and
`load_dataset(<path>, "v0001")` any version, without olab; rewritten after each commit."""

from __future__ import annotations

from typing import Any

from olab.datanet.storage import MANIFEST, RECORDS, Storage, version_dirname

CARD = "README.md"


def _features(labels: list[str]) -> list[dict[str, Any]]:
    """The records' columns as `datasets` features, `label` a ClassLabel over the version's label names."""
    import datasets

    from olab.datanet.versions import SCHEMA

    features = datasets.Features.from_arrow_schema(SCHEMA)
    features["label"] = datasets.ClassLabel(names=labels)
    return datasets.DatasetInfo(features=features)._to_yaml_dict()["features"]


def dataset_card(manifests: list[dict[str, Any]]) -> str:
    """The card for a Datanet whose versions' manifests are `manifests` (ascending); the latest is `default`."""
    from huggingface_hub import DatasetCard, DatasetCardData

    latest = manifests[-1]
    named = [("default", latest), *((version_dirname(m["version"]), m) for m in manifests)]
    configs = [
        {"config_name": name, "data_files": [{"split": "train", "path": f"{version_dirname(m['version'])}/{RECORDS}"}]}
        for name, m in named
    ]
    infos = [{"config_name": name, "features": _features(m["labels"])} for name, m in named]
    data = DatasetCardData(configs=configs, dataset_info=infos, tags=["olab", "datanet", "data-attribution"])
    rows = "".join(
        f"| {version_dirname(m['version'])} | {m['record_count']} | `{m['merkle_root']}` |\n" for m in manifests
    )
    body = (
        f"# Datanet `{latest['name']}`\n\n"
        "Versioned, contributor-attributed records: each version is committed to by an OpenZeppelin "
        f"`StandardMerkleTree` over `(record_hash, contributor)` leaves (see each version's `{MANIFEST}`).\n\n"
        f"Labels: {', '.join(latest['labels'])}.\n\n"
        f"| version | records | Merkle root |\n| --- | --- | --- |\n{rows}\n"
        "```python\n"
        "from datasets import load_dataset\n\n"
        'records = load_dataset("<this directory>", split="train")           # the latest version\n'
        f'first = load_dataset("<this directory>", "{version_dirname(manifests[0]["version"])}", split="train")\n'
        "```\n\n"
        "`olab datanet verify <this directory>` recomputes every record hash and the root.\n"
    )
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


def write_card(storage: Storage) -> None:
    """(Re)write the card from every complete version's manifest."""
    manifests = [storage.read_json(f"{version_dirname(v)}/{MANIFEST}") for v in storage.versions()]
    if manifests:
        storage.write_bytes(CARD, dataset_card(manifests).encode())
