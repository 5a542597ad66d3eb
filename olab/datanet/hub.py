"""A Datanet as a Hugging Face dataset repo: the dataset card (`<path>/README.md`, rewritten after each commit)
whose `configs` make `datasets.load_dataset(<path>)` read the latest version's records (label a `ClassLabel`,
as `Datanet.to_hf()` gives it)
and `load_dataset(<path>, "v0001")` any version, without olab; and sharing a version on the Hub (its files
under vNNNN/ plus the same card)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from olab.datanet.records import LEAF_ENCODING
from olab.datanet.storage import MANIFEST, RECORDS, REJECTIONS, TREE, Storage, version_dirname
from olab.errors import DatanetError
from olab.hub import upload_folder

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

    from olab.datanet.store import Datanet

CARD = "README.md"


def export_folder(dn: Datanet, dest: str | Path) -> Path:
    """Write what `push` uploads into `dest` (a folder `datasets.load_dataset` and `Datanet.open` both read)."""
    dest = Path(dest)
    vdir = dest / version_dirname(dn.version)
    vdir.mkdir(parents=True, exist_ok=True)
    for name in (RECORDS, MANIFEST, TREE, REJECTIONS):
        (vdir / name).write_bytes(dn.storage.read_bytes(f"{version_dirname(dn.version)}/{name}"))
    (dest / CARD).write_text(card(dn))
    return dest


def card(dn: Datanet) -> str:
    """The card of a folder holding only `dn`'s version (what `push` uploads)."""
    return dataset_card([dn.manifest])


def features(schema: pa.Schema, labels: list[str], instructions: bool) -> datasets.Features:
    """A records table's columns as `datasets` features: `label` a ClassLabel over the version's label names,
    except for instruction records, whose label slot holds free-text responses."""
    import datasets

    out = datasets.Features.from_arrow_schema(schema)
    if not instructions:
        out["label"] = datasets.ClassLabel(names=labels)
    return out


def _card_features(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    import datasets

    from olab.datanet.config import DatanetConfig
    from olab.datanet.versions import SCHEMA

    instructions = DatanetConfig.model_validate(manifest["config"]).instructions
    info = datasets.DatasetInfo(features=features(SCHEMA, manifest["labels"], instructions))
    return info._to_yaml_dict()["features"]


def dataset_card(manifests: list[dict[str, Any]]) -> str:
    """The card for a Datanet whose versions' manifests are `manifests` (ascending); the latest is `default`."""
    from huggingface_hub import DatasetCard, DatasetCardData

    latest = manifests[-1]
    named = [("default", latest), *((version_dirname(m["version"]), m) for m in manifests)]
    configs = [
        {"config_name": name, "data_files": [{"split": "train", "path": f"{version_dirname(m['version'])}/{RECORDS}"}]}
        for name, m in named
    ]
    infos = [{"config_name": name, "features": _card_features(m)} for name, m in named]
    data = DatasetCardData(configs=configs, dataset_info=infos, tags=["olab", "datanet", "data-attribution"])
    contributors = "".join(
        f"| {c['address']} | {c['records']} | {c.get('behaviour')} |\n" for c in latest["contributors"]
    )
    rows = "".join(
        f"| {version_dirname(m['version'])} | {m['record_count']} | `{m['merkle_root']}` |\n" for m in manifests
    )
    body = (
        f"# Datanet `{latest['name']}`\n\n"
        "Versioned, contributor-attributed records: each version is committed to by an OpenZeppelin "
        f"`StandardMerkleTree` over `(record_hash, contributor)` leaves (see each version's `{MANIFEST}`).\n\n"
        f"- Labels: {', '.join(latest['labels'])}\n"
        f"- Record hash: {latest['record_hash_encoding']}; leaves `{LEAF_ENCODING}`\n\n"
        f"| version | records | Merkle root |\n| --- | --- | --- |\n{rows}\n"
        f"| contributor | records | behaviour |\n| --- | --- | --- |\n{contributors}\n"
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


def push(dn: Datanet, repo_id: str, commit_message: str | None, **hub: Any) -> str:
    """Create (if needed) the Hub dataset `repo_id` and upload this version; returns the commit URL.
    `hub`: `token`, `private`, `endpoint` (see `olab.hub.upload_folder`)."""
    with tempfile.TemporaryDirectory(prefix="olab-hub-") as tmp:
        message = commit_message or f"olab Datanet {dn.name} v{dn.version} root {dn.root}"
        return upload_folder(
            export_folder(dn, tmp), repo_id, "dataset", message, what=f"{dn.path} version {dn.version}",
            error=DatanetError, **hub,
        )  # fmt: skip
