"""`avatar_reenactment` (video): the UNEDITED avatar driven by another registered video, so a user sees whether
the avatar can move before spending edit rounds on it (the driving step is `assets/driving.py`)."""

import dagster as dg

from assets.driving import ReenactmentSettings, write_reenactment
from assets.inputs import AVATAR_DATA_INS, avatar_inputs
from assets.jobs import ANIMATION_GROUP
from assets.partitions import video_partitions
from assets.placement import GPU_POOL, GPU_STEP_TAGS
from cosavatar_pipeline.render.expression import follows
from resources import ComputeDevice, Manifest, MlflowTracking, StorageResource

REENACTMENT_FILE = "reenactment.mp4"


@dg.asset(
    partitions_def=video_partitions,
    group_name=ANIMATION_GROUP,
    kinds={"pytorch", "video", "mlflow"},
    pool=GPU_POOL,
    op_tags=GPU_STEP_TAGS,
    io_manager_key="manifest_io_manager",
    ins=AVATAR_DATA_INS,
    # The driver is another video, chosen at run time: every `driving_motion` partition is a possible input.
    deps=[dg.AssetDep("driving_motion", partition_mapping=dg.AllPartitionMapping())],
    description="The unedited `avatar` driven by another registered video's `driving_motion` (run config `driver`; "
    "default COSAVATAR_DRIVER, else the first other video), to check animation before editing: reenactment.mp4 and "
    "side_by_side.mp4 (driver | avatar, the driver's audio). Figures: mouth-open ratio and eye openness re-detected "
    "on the render vs the driver's frames (Pearson r, gain; over all frames and where the driver moves; with the "
    "noise floor of the driver blurred to the render's sharpness), identity drift, clipped code fraction.",
)
def avatar_reenactment(
    context: dg.AssetExecutionContext,
    config: ReenactmentSettings,
    avatar: Manifest,
    storage: StorageResource,
    tracking: MlflowTracking,
    device: ComputeDevice,
    **avatar_data: Manifest,
) -> dg.Output[Manifest]:
    inputs = avatar_inputs(avatar_data)
    return write_reenactment(
        context,
        config,
        avatar,
        context.partition_key,
        REENACTMENT_FILE,
        inputs,
        storage,
        tracking,
        device,
        {"avatar": "avatar"},
    )


@dg.asset_check(
    asset=avatar_reenactment,
    partitions_def=video_partitions,
    description="The avatar's mouth follows the driver's: over the frames where the driver's mouth moves, Pearson "
    "r >= 0.5 and gain >= 0.3 of the mouth-open ratio (a frozen or closed-mouth avatar fails). A warning: a short "
    "training budget may not reach it.",
)
def avatar_reenactment_follows_driver(avatar_reenactment: Manifest) -> dg.AssetCheckResult:
    info = avatar_reenactment.info
    return dg.AssetCheckResult(
        passed=follows(info),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            k: info[k]
            for k in ("mouth_r_moving", "mouth_gain_moving", "noise_floor_mouth_r_moving", "identity_drift_pct")
        },
    )
