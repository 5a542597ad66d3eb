"""Uploads to the Hugging Face Hub: one path for adapters (model repos) and Datanets (dataset repos)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from olab.errors import OlabError


def upload_folder(
    folder: Path,
    repo_id: str,
    repo_type: Literal["model", "dataset"],
    commit_message: str,
    *,
    what: str | None = None,
    error: type[OlabError] = OlabError,
    **hub: Any,
) -> str:
    """Create the Hub repo `repo_id` if needed and upload `folder` as one commit; returns the commit URL.
    `hub`: `token`, `endpoint` (for `HfApi`) and `private` (for the repo). Any failure (network, auth, Hub) is one
    `error` naming `what` is pushed (default: the folder) and the repo."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.get("endpoint"), token=hub.get("token"))
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=hub.get("private"), exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id, folder_path=folder, repo_type=repo_type, commit_message=commit_message
        )
    except Exception as e:  # network, auth and hub errors all mean the same to the user
        raise error(
            f"could not push {what or folder} to the Hub {repo_type} {repo_id!r}: {type(e).__name__}: {e}"
        ) from e
    return str(getattr(info, "commit_url", info))
