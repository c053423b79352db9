"""Jobs users launch: reconstruct a video (all video-partitioned stages)."""

import dagster as dg


VIDEO_STAGE_GROUPS = ("ingest", "face", "parsing", "reconstruction")

reconstruct_video_job = dg.define_asset_job(
    "reconstruct_video",
    selection=dg.AssetSelection.groups(*VIDEO_STAGE_GROUPS),
    description="Materialize every video-partitioned stage for the chosen video partitions.",
)
