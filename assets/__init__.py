"""The asset graph, one module per stage. Read top to bottom: ingest -> face -> reconstruction -> editing -> renders."""

from assets.driving_motion import driving_motion
from assets.face_coefficients import face_coefficients, face_coefficients_reproject
from assets.face_landmarks import face_landmarks, face_landmarks_tracked
from assets.frames import frames, frames_cover_source_duration
from assets.jobs import reconstruct_video_job
from assets.sensors import video_inbox_sensor
from assets.source_video import source_video

ALL_ASSETS = [
    # ingest
    source_video,
    frames,
    # face
    face_landmarks,
    face_coefficients,
    driving_motion,
]
ALL_ASSET_CHECKS = [frames_cover_source_duration, face_landmarks_tracked, face_coefficients_reproject]
ALL_JOBS = [reconstruct_video_job]
ALL_SENSORS = [video_inbox_sensor]
