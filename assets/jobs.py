"""Jobs users launch: reconstruct a video (all video-partitioned stages), apply an edit (the edit-stage assets of
one (edit, video) partition, reading the video's stages as they are)."""

import dagster as dg

VIDEO_STAGE_GROUPS = ("ingest", "face", "parsing", "reconstruction")
ANIMATION_GROUP = "animation"  # needs a second registered video as its driver: outside the per-video job
EDIT_STAGE_GROUPS = ("editing", "renders")

reconstruct_video_job = dg.define_asset_job(
    "reconstruct_video",
    selection=dg.AssetSelection.groups(*VIDEO_STAGE_GROUPS),
    description="Materialize every video-partitioned stage for the chosen video partitions.",
)

apply_edit_job = dg.define_asset_job(
    "apply_edit",
    selection=dg.AssetSelection.groups(*EDIT_STAGE_GROUPS),
    description="Run an edit's rounds (dataset update + fine-tune, K times) and its final and reenacted renders for "
    "the chosen (edit, video) partitions. "
    "Needs the video's stages up to `avatar`; never re-materializes them.",
)

check_animation_job = dg.define_asset_job(
    "check_animation",
    selection=dg.AssetSelection.groups(ANIMATION_GROUP),
    description="Drive the chosen video's unedited avatar with another registered video (run config `driver`) to "
    "check it can move before any edit. Needs the video's `avatar` and the driver's `driving_motion`.",
)
