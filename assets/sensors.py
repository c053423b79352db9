"""Sensors: a video file dropped into ``<COSAVATAR_HOME>/inbox/`` becomes a `video` partition and a run; an edit
spec in the registry (``cosavatar add-edit``, or a file written there) becomes an `edit` partition."""

import json
import time
from pathlib import Path

import dagster as dg

from assets.jobs import reconstruct_video_job
from assets.partitions import edit_partitions, video_partitions
from cosavatar_pipeline.errors import CosavatarError
from cosavatar_pipeline.registry import sha256_of_file
from cosavatar_pipeline.video.probe import check_header
from resources import StorageResource

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi"}
# A file is taken only once its size and modification time have not changed for this long.
SETTLE_SECONDS = 3.0


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


@dg.sensor(
    job=reconstruct_video_job,
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,  # on as soon as `make ui` starts: dropping a file is all it takes
    description="Registers each new, fully written video file in the inbox as a `video` partition and requests a "
    "reconstruct_video run for it. Bad files are reported in the sensor's log and skipped.",
)
def video_inbox_sensor(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult:
    # cursor: {"handled": {file name: size:mtime when taken}, "pending": {file name: size seen last tick}}
    cursor = json.loads(context.cursor) if context.cursor else {"handled": {}, "pending": {}}
    inbox = storage.home.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    registry = storage.registry
    new_names: list[str] = []
    run_requests: list[dg.RunRequest] = []
    pending: dict[str, str] = {}
    known = set(context.instance.get_dynamic_partitions(video_partitions.name))
    for path in sorted(inbox.iterdir()):
        if path.is_symlink():  # whoever can write the inbox must not pull in files from elsewhere on the machine
            if path.name not in cursor["handled"]:
                context.log.warning(
                    f"inbox: skipped {path.name}: a symbolic link; copy the video into the inbox instead"
                )
                cursor["handled"][path.name] = "symlink"
            continue
        if not path.is_file() or path.suffix.lower() not in VIDEO_SUFFIXES or path.name.startswith("."):
            continue
        try:
            fingerprint = _fingerprint(path)
            if cursor["handled"].get(path.name) == fingerprint:
                continue
            size = path.stat().st_size
            settled = time.time() - path.stat().st_mtime >= SETTLE_SECONDS
            if cursor["pending"].get(path.name) != size or not settled:
                pending[path.name] = size  # first sight, still growing, or touched just now: look again next tick
                continue
            cursor["handled"][path.name] = fingerprint
            entry = _register_inbox_file(path, registry, known)
        except (CosavatarError, OSError) as exc:  # one bad or vanished file never drops the other files' tick
            context.log.warning(f"inbox: skipped {path.name}: {exc}")
            continue
        context.log.info(f"inbox: registered {path.name} as video {entry.name!r}")
        new_names.append(entry.name)
        run_requests.append(dg.RunRequest(partition_key=entry.name, run_key=f"{entry.name}:{entry.sha256[:16]}"))
    cursor["pending"] = pending
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[video_partitions.build_add_request(new_names)] if new_names else [],
        cursor=json.dumps(cursor, sort_keys=True),
    )


def _register_inbox_file(path: Path, registry, known_partitions: set[str]):
    """The file's registry entry. One written by an earlier tick that failed before its partition and run were
    requested is taken up again (a tick's result is all or nothing; the registry file is written during it).

    Only the header is checked here: a tick must stay short whatever the clip. Decoding every frame and finding
    the face happen in the run (`source_video`, `frames`), which fails with the same messages `add-video` gives."""
    check_header(path)  # before hashing: an over-long or oversized clip is refused without reading it whole
    digest = sha256_of_file(path)
    existing = registry.find_video_by_sha256(digest)
    if existing is not None and existing.name not in known_partitions:
        return existing
    return registry.register_video(path, sha256=digest)  # named after the file (an error when it has no a-z or 0-9)


@dg.sensor(
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,  # on as soon as `make ui` starts: dropping a file is all it takes
    description="Adds an `edit` partition for each valid edit spec in <COSAVATAR_HOME>/registry/edits/ that the "
    "instance does not know yet (specs written by `cosavatar add-edit` elsewhere, or by hand), so it can be "
    "backfilled over the videos with the apply_edit job. Invalid spec files are reported and skipped.",
)
def edit_registry_sensor(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult:
    # cursor: {"handled": {file name: size:mtime when read}}; registry files are written atomically (rename)
    cursor = json.loads(context.cursor) if context.cursor else {"handled": {}}
    registry = storage.registry
    known = set(context.instance.get_dynamic_partitions(edit_partitions.name))
    new_names: list[str] = []
    for path in sorted(registry.edits_dir.glob("*.json")) if registry.edits_dir.exists() else []:
        fingerprint = _fingerprint(path)
        if cursor["handled"].get(path.name) == fingerprint:
            continue
        cursor["handled"][path.name] = fingerprint
        try:
            spec = registry.get_edit(path.stem)
        except CosavatarError as exc:
            context.log.warning(f"edits: skipped {path.name}: {exc}")
            continue
        if spec.name not in known:
            context.log.info(f"edits: added edit partition {spec.name!r} ({spec.prompt!r}, region {spec.region})")
            new_names.append(spec.name)
    return dg.SensorResult(
        dynamic_partitions_requests=[edit_partitions.build_add_request(new_names)] if new_names else [],
        cursor=json.dumps(cursor, sort_keys=True),
    )
