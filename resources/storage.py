"""Storage: the partition-scoped on-disk layout, atomic partition writes, and the manifest IO manager.

Assets write their large files (uint8 ``.npy``, parquet, safetensors, mp4) into a staging folder that replaces
the partition's folder in one rename when the asset succeeds; what travels between steps is a small
``Manifest`` (folder, file names, figures) that the IO manager stores as ``manifest.json`` beside the files.
"""

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from cosavatar_pipeline.atomic import atomic_directory, recover_interrupted_commit, write_json_atomic
from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.home import HomeLayout, layout, path_from_uri
from cosavatar_pipeline.registry import Registry, sha256_of_file
from cosavatar_pipeline.slugs import key_parts, validate_slug

MANIFEST_FILE = "manifest.json"
INPUTS_VERSION_FILE = "inputs_version.txt"


@dataclass
class Manifest:
    """What one asset partition produced: its folder, its files (name -> sha256) and small figures."""

    directory: str
    files: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        if name not in self.files:
            raise KeyError(f"{name!r} is not among the files of {self.directory}: {sorted(self.files)}")
        return Path(self.directory) / name

    @property
    def data_version(self) -> str:
        digest = hashlib.sha256(json.dumps(self.files, sort_keys=True).encode()).hexdigest()
        return digest[:16]


def partition_folder(store: Path, asset_name: str, partition_key: str) -> Path:
    """``<store>/<asset>/<video>/`` or, for (edit, video) keys ``edit|video``, ``<store>/<asset>/<edit>/<video>/``.

    Dagster accepts any string as a dynamic partition key (the web UI and GraphQL can add ``../../x``): a key
    becomes a path only when each of its parts is a slug."""
    parts = key_parts(partition_key)
    for part in parts:
        try:
            validate_slug(part)
        except InputError:
            raise InputError(
                f"partition key {partition_key!r}",
                "is not made of slugs (a-z, 0-9, '_'); it is refused as a folder name",
            ) from None
    return Path(store, asset_name, *parts)


def stored_manifest(folder: Path, what: str) -> Manifest:
    """The manifest a partition folder holds; ``what`` names the partition in the error when it has none."""
    manifest_path = Path(folder) / MANIFEST_FILE
    if not manifest_path.exists():
        recover_interrupted_commit(Path(folder))
    if not manifest_path.exists():
        raise FileNotFoundError(f"{what} has no output at {folder}: materialize it first")
    return Manifest(**json.loads(manifest_path.read_text()))


class PartitionWriter:
    def __init__(self, staging: Path, final: Path):
        self.staging = staging
        self.final = final
        self.manifest: Manifest | None = None

    def record(self, files: list[str], **info: Any) -> None:
        """Hash the written files and stage the manifest; call once all files are in ``staging``."""
        hashes = {name: sha256_of_file(self.staging / name) for name in files}
        self.manifest = Manifest(directory=str(self.final), files=hashes, info=info)
        write_json_atomic(self.staging / MANIFEST_FILE, asdict(self.manifest))


class StorageResource(dg.ConfigurableResource):
    """The project's home folder: store, registry, inbox. ``root`` is a path or a file URI; the code location sets
    it from ``COSAVATAR_HOME`` (``orchestration/definitions.py``), a run's config may override it."""

    root: str = ""  # empty: the home the environment names (``home.cosavatar_home``)

    @property
    def home(self) -> HomeLayout:
        return layout(path_from_uri(self.root) if self.root else None)

    @property
    def registry(self) -> Registry:
        return Registry(self.home.registry)

    def folder(self, asset_name: str, partition_key: str) -> Path:
        return partition_folder(self.home.store, asset_name, partition_key)

    def is_stored(self, asset_name: str, partition_key: str) -> bool:
        return (self.folder(asset_name, partition_key) / MANIFEST_FILE).exists()

    def manifest(self, asset_name: str, partition_key: str) -> Manifest:
        """A stored partition read outside the asset graph's inputs (e.g. a reenactment's driver, chosen at run "
        "time)."""
        return stored_manifest(self.folder(asset_name, partition_key), f"{asset_name} partition {partition_key!r}")

    def checkpoint_folder(self, context: dg.AssetExecutionContext, inputs_version: str = "") -> Path:
        """Scratch space that survives a failed or interrupted materialization, so a rerun resumes from it.

        ``inputs_version`` names what the checkpoints were trained from (e.g. upstream data versions): scratch left
        by a run on other inputs is cleared rather than resumed."""
        folder = partition_folder(self.home.checkpoints, context.asset_key.path[-1], context.partition_key)
        stamp = folder / INPUTS_VERSION_FILE
        if inputs_version and folder.exists() and (not stamp.exists() or stamp.read_text() != inputs_version):
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if inputs_version and not stamp.exists():
            stamp.write_text(inputs_version)
        return folder

    @contextmanager
    def write_partition(self, context: dg.AssetExecutionContext) -> Iterator[PartitionWriter]:
        """Stage the asset partition's files; they replace the earlier output only if the block succeeds."""
        final = self.folder(context.asset_key.path[-1], context.partition_key)
        with atomic_directory(final) as staging:
            writer = PartitionWriter(staging, final)
            yield writer
            if writer.manifest is None:
                raise RuntimeError(f"{context.asset_key.to_user_string()}: files staged but no manifest recorded")


class ManifestIOManager(dg.ConfigurableIOManager):
    """Stores nothing itself: checks the asset committed its manifest, and loads manifests for downstream steps."""

    storage: dg.ResourceDependency[StorageResource]

    def _folder(self, asset_key: dg.AssetKey, partition_key: str) -> Path:
        return self.storage.folder(asset_key.path[-1], partition_key)

    def handle_output(self, context: dg.OutputContext, obj: Manifest) -> None:
        expected = self._folder(context.asset_key, context.asset_partition_key)
        if not isinstance(obj, Manifest) or Path(obj.directory) != expected or not (expected / MANIFEST_FILE).exists():
            raise TypeError(
                f"{context.asset_key.to_user_string()} must return the Manifest committed by "
                f"StorageResource.write_partition into {expected}"
            )

    def load_input(self, context: dg.InputContext) -> Manifest:
        what = f"{context.asset_key.to_user_string()} partition {context.asset_partition_key!r}"
        manifest = stored_manifest(self._folder(context.asset_key, context.asset_partition_key), what)
        verify_files(manifest, what)
        return manifest


def verify_files(manifest: Manifest, what: str) -> None:
    """Every file a step reads is the one its manifest recorded (sha256): a file changed or damaged since it was
    stored is an error naming it, not a silent input."""
    for name, expected in manifest.files.items():
        path = Path(manifest.directory) / name
        if not path.exists():
            raise InputError(path, f"is missing from {what}; materialize {what.split(' partition')[0]} again")
        if sha256_of_file(path) != expected:
            raise InputError(
                path,
                f"does not match the sha256 {what}'s manifest recorded (changed or damaged since it was stored); "
                "materialize it again",
            )
