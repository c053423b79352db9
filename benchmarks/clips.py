"""A real clip run through the stages before the avatar (frames, landmarks, face model, parsing, background
plate) with the library directly, for benchmarks; cached in a work folder so reruns skip it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosavatar_pipeline.editing.editor import Editor
from cosavatar_pipeline.editing.loop import LoopResult, run_edit_loop
from cosavatar_pipeline.face.fitting import fit_face_model
from cosavatar_pipeline.face.landmarks import track_landmarks
from cosavatar_pipeline.face.model import FaceModel
from cosavatar_pipeline.nerf.config import NerfConfig
from cosavatar_pipeline.nerf.dataset import AvatarDataset
from cosavatar_pipeline.nerf.model import AvatarModel
from cosavatar_pipeline.parsing.background import estimate_background
from cosavatar_pipeline.parsing.mediapipe_parser import MediapipeParser
from cosavatar_pipeline.presets import get_preset
from cosavatar_pipeline.stages.frames import load_frames
from cosavatar_pipeline.video.frames import extract_frames

SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "videos"


@dataclass
class PreparedClip:
    frames: np.ndarray  # (N, S, S, 3) uint8
    labels: np.ndarray  # (N, S, S) uint8
    plate: np.ndarray  # (S, S, 3) uint8
    face_model: FaceModel
    fps: float
    landmarks: np.ndarray  # (N, 478, 3) FaceMesh points, pixels of the frames

    def dataset(self, config: NerfConfig) -> AvatarDataset:
        return AvatarDataset(self.frames, self.labels, self.plate, self.face_model, config, self.fps)

    def edit_loop(self, model: AvatarModel, dataset: AvatarDataset, editor: Editor, *args, **kwargs) -> LoopResult:
        """``run_edit_loop`` on this clip's parsing, landmarks and plate, parsing edits with mediapipe; the
        arguments after ``editor`` as it takes them (edit, rounds, round_config, checkpoints, ...)."""
        return run_edit_loop(
            model, dataset, self.labels, self.landmarks, self.plate, editor, MediapipeParser(), *args, **kwargs
        )


def prepare_clip(video: Path, workdir: Path, preset: str = "preview") -> PreparedClip:
    folder = Path(workdir) / f"{Path(video).stem}_{preset}"
    cached = folder / "prepared.npz"
    fps = get_preset(preset).fps
    if cached.exists():
        with np.load(cached) as arrays:
            stored = dict(arrays)
        if "landmarks" not in stored:  # cached before landmarks were kept
            stored["landmarks"] = track_landmarks(stored["frames"]).points
            np.savez(cached, **stored)
        return PreparedClip(
            stored["frames"], stored["labels"], stored["plate"], FaceModel.load(folder), fps, stored["landmarks"]
        )
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    extract_frames(video, folder, get_preset(preset))
    frames = np.asarray(load_frames(folder, mmap=False))
    track = track_landmarks(frames)
    face_model = fit_face_model(track, frames.shape[1]).model
    labels = np.stack(list(MediapipeParser().parse(frames, track.points)))
    plate = estimate_background(frames, labels).plate
    face_model.save(folder)
    np.savez(cached, frames=frames, labels=labels, plate=plate, landmarks=track.points)
    print(
        f"prepared {Path(video).name}: {len(frames)} frames at {frames.shape[1]} px in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return PreparedClip(frames, labels, plate, face_model, fps, track.points)
