"""The asset graph, one module per stage. Read top to bottom: ingest -> face -> reconstruction -> editing -> renders."""

from assets.frames import frames, frames_cover_source_duration
from assets.jobs import reconstruct_video_job
from assets.sensors import video_inbox_sensor
from assets.source_video import source_video

ALL_ASSETS = [source_video, frames]
ALL_ASSET_CHECKS = [frames_cover_source_duration]
ALL_JOBS = [reconstruct_video_job]
ALL_SENSORS = [video_inbox_sensor]
