"""`background_plate`: the static background behind the person, and where it was never seen."""

import dagster as dg
import numpy as np

from assets.partitions import video_partitions
from assets.reporting import manifest_output, preview_metadata
from cosavatar_pipeline.parsing.background import estimate_background
from cosavatar_pipeline.preview import save_png
from cosavatar_pipeline.stages.background_plate import NEVER_SEEN_FILE, PLATE_FILE, PLATE_PNG
from cosavatar_pipeline.stages.face_parsing import load_labels
from cosavatar_pipeline.stages.frames import load_frames
from resources import Manifest, MlflowTracking, StorageResource, mlflow_metadata


@dg.asset(
    partitions_def=video_partitions,
    group_name="parsing",
    kinds={"numpy", "mlflow"},
    io_manager_key="manifest_io_manager",
    description="Temporal median of the pixels the person never covers (with a margin), holes inpainted; "
    "`never_seen.npy` marks the inpainted pixels.",
)
def background_plate(
    context: dg.AssetExecutionContext,
    frames: Manifest,
    face_parsing: Manifest,
    storage: StorageResource,
    tracking: MlflowTracking,
) -> dg.Output[Manifest]:
    images = load_frames(frames.directory)
    result = estimate_background(images, load_labels(face_parsing.directory))
    never_seen = result.never_seen.astype(np.uint8) * 255
    preview = np.concatenate([result.plate, np.repeat(never_seen[..., None], 3, axis=2), np.asarray(images[0])], axis=1)
    with storage.write_partition(context) as writer, tracking.run(context) as run:
        np.save(writer.staging / PLATE_FILE, result.plate)
        np.save(writer.staging / NEVER_SEEN_FILE, result.never_seen)
        save_png(writer.staging / PLATE_PNG, result.plate)
        writer.record([PLATE_FILE, NEVER_SEEN_FILE, PLATE_PNG], never_seen_fraction=result.never_seen_fraction)
        run.log_metrics({"never_seen_fraction": result.never_seen_fraction})
        run.log_image(preview, "plate_never_seen_frame0.png")
    return manifest_output(
        writer.manifest,
        {
            "never_seen_fraction": round(result.never_seen_fraction, 4),
            "preview (plate | never seen | frame 0)": preview_metadata(preview, "background plate"),
            **mlflow_metadata(run),
        },
    )
