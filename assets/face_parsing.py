"""`face_parsing`: a label map per frame (CelebAMask-HQ ids) from mediapipe's bundled models and colour models."""

import dagster as dg
import numpy as np
from skimage.color import label2rgb
from skimage.util import img_as_ubyte

from assets.partitions import video_partitions
from assets.reporting import ProgressLog, manifest_output, preview_metadata
from cosavatar_pipeline.parsing import labels as L
from cosavatar_pipeline.parsing.mediapipe_parser import MediapipeParser
from cosavatar_pipeline.parsing.metrics import class_area_fractions, consecutive_iou, presence_ratio
from cosavatar_pipeline.preview import contact_sheet
from cosavatar_pipeline.stages.face_landmarks import load_landmarks
from cosavatar_pipeline.stages.face_parsing import LABELS_FILE
from cosavatar_pipeline.stages.frames import load_frames
from resources import Manifest, MlflowTracking, StorageResource, mlflow_metadata

MIN_PRESENCE = 0.8  # hair and torso should show in most frames (a bald subject only warns)


# One colour per class of L.LABELS after the background, in its order: skin, brows, eyes, nose, mouth, lips, neck,
# cloth, hair (zip's strict: a class added to L.LABELS without a colour fails at import)
CLASS_COLOUR = dict(
    zip(
        [label for label in L.LABELS if label != L.BACKGROUND],
        ("tomato", "saddlebrown", "peru", "blue", "deepskyblue", "orange", "purple", "crimson", "hotpink",
         "yellowgreen", "royalblue", "gold"),
        strict=True,
    )
)  # fmt: skip


def overlay(frame: np.ndarray, label_map: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """(S, S, 3) uint8 frame, (S, S) label map -> (S, 2S, 3) uint8: the frame | its classes painted over it (the
    background left as it is), each class in the same colour in every frame."""
    present = [label for label in np.unique(label_map) if label != L.BACKGROUND]  # label2rgb colours these in order
    colours = [CLASS_COLOUR[label] for label in present]
    painted = label2rgb(
        label_map, image=frame, colors=colours, alpha=alpha, bg_label=L.BACKGROUND, bg_color=None, saturation=1
    )
    return np.concatenate([frame, img_as_ubyte(painted)], axis=1)


@dg.asset(
    partitions_def=video_partitions,
    group_name="parsing",
    kinds={"mediapipe", "mlflow"},
    io_manager_key="manifest_io_manager",
    description="A uint8 label map per frame with CelebAMask-HQ ids (0 background, 1 skin, 2/3 brows, 4/5 eyes, "
    "10 nose, 11 mouth, 12/13 lips, 14 neck, 16 cloth, 17 hair): selfie segmentation for the person, FaceMesh "
    "polygons for face parts, per-video colour models + position priors for hair / neck / clothes, smoothed over "
    "3 frames. `cosavatar_pipeline.parsing.labels.region_mask` turns a map into edit regions and head/torso masks.",
)
def face_parsing(
    context: dg.AssetExecutionContext,
    frames: Manifest,
    face_landmarks: Manifest,
    storage: StorageResource,
    tracking: MlflowTracking,
) -> dg.Output[Manifest]:
    images = load_frames(frames.directory)
    landmarks = load_landmarks(face_landmarks.directory)
    parser = MediapipeParser()
    with storage.write_partition(context) as writer, tracking.run(context) as run:
        label_maps = np.lib.format.open_memmap(
            writer.staging / LABELS_FILE, mode="w+", dtype=np.uint8, shape=images.shape[:3]
        )
        for index, label_map in enumerate(
            parser.parse(images, landmarks, progress=ProgressLog(context, "parsed frames", 50))
        ):
            label_maps[index] = label_map
        label_maps.flush()
        areas = class_area_fractions(label_maps)
        stability = consecutive_iou(label_maps)
        figures = {
            **{f"area_{k}": v for k, v in areas.items()},
            **{f"iou_{k}": v for k, v in stability.items()},
            "face_presence": presence_ratio(label_maps, (L.SKIN,)),
            "hair_presence": presence_ratio(label_maps, (L.HAIR,)),
            "torso_presence": presence_ratio(label_maps, (L.NECK, L.CLOTH)),
        }
        writer.record([LABELS_FILE], label_set_version=L.LABEL_SET_VERSION, backend=parser.name, **figures)
        picks = np.linspace(0, len(images) - 1, 4).round().astype(int)
        preview = contact_sheet(
            np.stack([overlay(images[i], label_maps[i]) for i in picks]), count=4, columns=2, tile=384
        )
        run.log_params({"backend": parser.name, "label_set_version": L.LABEL_SET_VERSION})
        run.log_metrics(figures)
        run.log_image(preview, "parsing_overlays.png")
        del label_maps
    return manifest_output(
        writer.manifest,
        {
            "label_set_version": L.LABEL_SET_VERSION,
            "labels": {str(k): v for k, v in L.LABELS.items()},
            "backend": parser.name,
            "area_fraction": {k: round(v, 4) for k, v in areas.items()},
            "consecutive_frame_iou": {k: round(v, 3) for k, v in stability.items()},
            "preview": preview_metadata(preview, "parsing overlays"),
            **mlflow_metadata(run),
        },
    )


@dg.asset_check(
    asset=face_parsing, partitions_def=video_partitions, description="Every frame has a face (skin) region."
)
def face_parsing_face_in_every_frame(face_parsing: Manifest) -> dg.AssetCheckResult:
    ratio = face_parsing.info["face_presence"]
    return dg.AssetCheckResult(passed=ratio == 1.0, metadata={"face_presence": ratio})


@dg.asset_check(
    asset=face_parsing,
    partitions_def=video_partitions,
    description=f"Hair and torso show in at least {MIN_PRESENCE:.0%} of frames (a warning: a bald subject is valid).",
)
def face_parsing_hair_and_torso_present(face_parsing: Manifest) -> dg.AssetCheckResult:
    hair, torso = face_parsing.info["hair_presence"], face_parsing.info["torso_presence"]
    return dg.AssetCheckResult(
        passed=hair >= MIN_PRESENCE and torso >= MIN_PRESENCE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"hair_presence": hair, "torso_presence": torso},
    )
