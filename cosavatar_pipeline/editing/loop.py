"""The whole edit loop in one process, for benchmarks and tests: K rounds of (render the avatar at every training
frame, edit and blend those renders, fine-tune on them). The pipeline runs the same steps as one asset each
(``assets/edit_rounds.py``), with storage, tracking and resumption around them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosavatar_pipeline.editing.config import EditRoundConfig
from cosavatar_pipeline.editing.dataset_update import RoundDataset, update_dataset
from cosavatar_pipeline.editing.editor import Editor
from cosavatar_pipeline.editing.finetune import edited_training_data, finetune_config
from cosavatar_pipeline.nerf.dataset import AvatarDataset
from cosavatar_pipeline.nerf.model import AvatarModel
from cosavatar_pipeline.nerf.render import render_dataset_frames
from cosavatar_pipeline.nerf.trainer import train_avatar
from cosavatar_pipeline.parsing.backend import ParsingBackend


@dataclass
class EditRequest:
    prompt: str
    region: str
    seed: int = 0


@dataclass
class LoopResult:
    model: AvatarModel  # after the last round
    rounds: list[RoundDataset]


def run_edit_loop(
    model: AvatarModel,
    dataset: AvatarDataset,
    label_maps: np.ndarray,
    landmarks: np.ndarray,
    plate: np.ndarray,
    editor: Editor,
    parser: ParsingBackend,
    edit: EditRequest,
    rounds: int,
    round_config: EditRoundConfig,
    checkpoints: Path,
    device: str = "cpu",
    on_round: Callable[[int, RoundDataset], None] | None = None,
) -> LoopResult:
    """label_maps (N, S, S) and landmarks (N, 478, 3) are the video's; plate (S, S, 3) uint8. Round k fine-tunes
    into ``checkpoints / f"round_{k}"`` (resumed when it holds a checkpoint)."""
    train = dataset.train
    originals, labels = dataset.frames, np.asarray(label_maps)
    avatar_config = model.config
    tune = finetune_config(avatar_config, round_config)
    done = []
    for k in range(1, rounds + 1):
        # the render depends on poses and expressions only: the source's dataset serves every round
        renders = render_dataset_frames(model, dataset, train, own_appearance=True)["rgb"]
        round_dataset = update_dataset(
            renders,
            originals[train],
            labels[train],
            landmarks[train],
            train,
            editor,
            parser,
            edit.prompt,
            edit.region,
            edit.seed,
            k,
            round_config,
        )
        done.append(round_dataset)
        frames, edited_labels = edited_training_data(
            originals, labels, train, round_dataset.targets, round_dataset.label_maps
        )
        edited = AvatarDataset(frames, edited_labels, plate, dataset.face_model, avatar_config, dataset.fps)
        model = train_avatar(
            edited, tune, Path(checkpoints) / f"round_{k}", device, initial_state=model.state_dict()
        ).model
        if on_round:
            on_round(k, round_dataset)
    return LoopResult(model, done)
