"""`source_video`: the registered file, copied into the store, hashed and probed."""

import shutil
from pathlib import Path

import dagster as dg

from assets.partitions import video_partitions
from assets.reporting import user_errors_fail_the_step
from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.registry import sha256_of_file
from cosavatar_pipeline.stages.source_video import SOURCE_FILE
from cosavatar_pipeline.video.probe import probe_video
from resources import Manifest, MlflowTracking, StorageResource, mlflow_metadata


def copy_source(original: Path, stored: Path) -> None:
    try:
        shutil.copyfile(original, stored)
    except FileNotFoundError:
        raise InputError(original, "does not exist (registered, then moved or deleted?)") from None
    except OSError as exc:
        raise InputError(original, f"cannot be copied into the store ({exc.strerror})") from None


@dg.asset(
    partitions_def=video_partitions,
    group_name="ingest",
    kinds={"video", "mlflow"},
    io_manager_key="manifest_io_manager",
    description="The registered video file copied into the store, with its sha256 and probe (fps, frames, size, "
    "duration, audio). Fails with a clear message on a damaged, too short or too small file.",
)
def source_video(
    context: dg.AssetExecutionContext, storage: StorageResource, tracking: MlflowTracking
) -> dg.Output[Manifest]:
    with user_errors_fail_the_step():
        registration = storage.registry.get_video(context.partition_key)
    original = Path(registration.path)
    with storage.write_partition(context) as writer:
        with user_errors_fail_the_step():
            # copy first, then check and hash the copy: what is stored is exactly what was checked, even when
            # the original changes meanwhile
            stored = writer.staging / SOURCE_FILE
            copy_source(original, stored)
            info = probe_video(stored, label=original)
            digest = sha256_of_file(stored)
            if digest != registration.sha256:
                raise InputError(original, "changed since it was registered (sha256 differs); register it again")
        writer.record([SOURCE_FILE], preset=registration.preset, original_path=str(original), **info.as_dict())
        with tracking.run(context) as run:
            run.log_params(
                {"original_path": str(original), "sha256": digest, "preset": registration.preset, **info.as_dict()}
            )
            run.log_metrics({"fps": info.fps, "frame_count": info.frame_count, "duration_s": info.duration_s})
    manifest = writer.manifest
    return dg.Output(
        manifest,
        data_version=dg.DataVersion(digest[:16]),
        metadata={
            "sha256": digest,
            "original_path": dg.MetadataValue.path(str(original)),
            "stored_path": dg.MetadataValue.path(str(manifest.path(SOURCE_FILE))),
            "preset": registration.preset,
            "fps": info.fps,
            "frame_count": info.frame_count,
            "duration_s": round(info.duration_s, 3),
            "size": f"{info.width}x{info.height}",
            "audio": info.has_audio,
            "variable_frame_rate": info.variable_frame_rate,
            **mlflow_metadata(run),
        },
    )
