"""The edit stage's graph and keys: its K rounds (``EDIT_ROUNDS``), their asset names, and the edit spec and video
of an (edit, video) partition."""

import dagster as dg

from assets.reporting import user_errors_fail_the_step
from cosavatar_pipeline.editing.config import EDIT_ROUNDS
from cosavatar_pipeline.registry import EditSpec
from resources import StorageResource


def dataset_asset_name(k: int) -> str:
    return f"edited_dataset_round_{k}"


def avatar_asset_name(k: int) -> str:
    """Round 0 is the unedited avatar."""
    return "avatar" if k == 0 else f"edited_avatar_round_{k}"


LAST_ROUND_AVATAR = avatar_asset_name(EDIT_ROUNDS)


def edit_of(context: dg.AssetExecutionContext, storage: StorageResource) -> tuple[EditSpec, str]:
    """The partition's edit spec and video. An `edit` partition added in the web UI (the backfill dialog's "add
    partition") has no spec: the first step of its run fails at once, saying how to register it."""
    keys = context.partition_key.keys_by_dimension
    name, registry = keys["edit"], storage.registry
    if name not in registry.edit_names():
        raise dg.Failure(
            description=f"edit partition {name!r} has no registered edit spec (an edit partition added in the web UI "
            f'has none): register it with `cosavatar add-edit "<prompt>" --name {name}` (or write '
            f"{registry.edits_dir / (name + '.json')}) and launch the run again",
            allow_retries=False,
        )
    with user_errors_fail_the_step():
        return registry.get_edit(name), keys["video"]
