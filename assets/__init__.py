"""The asset graph, one module per stage. ``ALL_ASSETS`` reads top to bottom: ingest -> face -> reconstruction ->
animation -> editing -> renders."""

import warnings

import dagster as dg

# Partitioned asset checks are "preview" in Dagster 1.13; they are what keeps a check from loading every partition.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")
# Data versions from content hashes are what make lineage show a changed input; the parameter is "beta" in 1.13.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*data_version.*")

from assets.avatar import avatar, avatar_beats_background_plate
from assets.background_plate import background_plate
from assets.driving_motion import driving_motion
from assets.edit_rounds import EDIT_ROUND_ASSETS, EDIT_ROUND_CHECKS
from assets.face_coefficients import face_coefficients, face_coefficients_reproject
from assets.face_landmarks import face_landmarks, face_landmarks_tracked
from assets.face_parsing import (
    face_parsing,
    face_parsing_face_in_every_frame,
    face_parsing_hair_and_torso_present,
)
from assets.frames import frames, frames_cover_source_duration
from assets.jobs import apply_edit_job, check_animation_job, reconstruct_video_job
from assets.reenactment import avatar_reenactment, avatar_reenactment_follows_driver
from assets.renders import (
    final_render,
    final_render_steadier_than_per_frame_edits,
    reconstruction_render,
    reenacted_render,
)
from assets.sensors import edit_registry_sensor, video_inbox_sensor
from assets.source_video import source_video

ALL_ASSETS = [
    # ingest
    source_video,
    frames,
    # face
    face_landmarks,
    face_coefficients,
    driving_motion,
    # parsing
    face_parsing,
    background_plate,
    # reconstruction
    avatar,
    reconstruction_render,
    # animation: the unedited avatar driven by another video, before any edit
    avatar_reenactment,
    # editing: edited_dataset_round_1, edited_avatar_round_1, ... edited_avatar_round_K
    *EDIT_ROUND_ASSETS,
    # renders
    final_render,
    reenacted_render,
]
ALL_ASSET_CHECKS = [
    frames_cover_source_duration,
    face_landmarks_tracked,
    face_coefficients_reproject,
    face_parsing_face_in_every_frame,
    face_parsing_hair_and_torso_present,
    avatar_beats_background_plate,
    avatar_reenactment_follows_driver,
    *EDIT_ROUND_CHECKS,
    final_render_steadier_than_per_frame_edits,
]
ALL_JOBS = [reconstruct_video_job, apply_edit_job, check_animation_job]
ALL_SENSORS = [video_inbox_sensor, edit_registry_sensor]
