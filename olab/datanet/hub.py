"""Sharing a Datanet version on the Hugging Face Hub: its files under vNNNN/ plus a dataset card whose
`configs` make `datasets.load_dataset(<repo>)` read the records."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from olab.datanet.records import LEAF_ENCODING
from olab.datanet.storage import MANIFEST, RECORDS, REJECTIONS, TREE, version_dirname
from olab.errors import DatanetError

if TYPE_CHECKING:
    from olab.datanet.store import Datanet


def export_folder(dn: Datanet, dest: str | Path) -> Path:
    """Write what `push` uploads into `dest` (a folder `datasets.load_dataset` and `Datanet.open` both read)."""
    dest = Path(dest)
    vdir = dest / version_dirname(dn.version)
    vdir.mkdir(parents=True, exist_ok=True)
    for name in (RECORDS, MANIFEST, TREE, REJECTIONS):
        (vdir / name).write_bytes(dn.storage.read_bytes(f"{version_dirname(dn.version)}/{name}"))
    (dest / "README.md").write_text(card(dn))
    return dest


def card(dn: Datanet) -> str:
    """The dataset card: Hub `configs` pointing at the records, the root, and the contributors."""
    m, vdir = dn.manifest, version_dirname(dn.version)
    rows = "\n".join(f"| {c['address']} | {c['records']} | {c.get('behaviour')} |" for c in m["contributors"])
    return (
        f"---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: {vdir}/{RECORDS}\n---\n\n"
        f"# {dn.name} (olab Datanet, version {dn.version})\n\n"
        f"- Merkle root: `{dn.root}` (OpenZeppelin StandardMerkleTree, leaves `{LEAF_ENCODING}`)\n"
        f"- Records: {m['record_count']}, labels: {', '.join(m['labels'])}\n"
        f"- Record hash: {m['record_hash_encoding']}\n\n"
        f"Verify: `olab datanet verify <this folder>/{vdir}`\n\n"
        "| contributor | records | behaviour |\n| --- | --- | --- |\n" + rows + "\n"
    )


def push(
    dn: Datanet,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
    endpoint: str | None = None,
) -> str:
    """Create (if needed) the Hub dataset `repo_id` and upload this version; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="olab-hub-") as tmp:
        folder = export_folder(dn, tmp)
        try:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            info = api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                repo_type="dataset",
                commit_message=commit_message or f"olab Datanet {dn.name} v{dn.version} root {dn.root}",
            )
        except Exception as e:  # network, auth and hub errors all mean the same to the user
            raise DatanetError(
                f"could not push {dn.path} version {dn.version} to the Hub dataset {repo_id!r}: {type(e).__name__}: {e}"
            ) from e
    return str(getattr(info, "commit_url", info))
