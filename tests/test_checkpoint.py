"""Checkpoints that cannot be resumed never block a rerun: a truncated or foreign one is reported with its path,
discarded, and training starts again; tensors and step commit together."""

import shutil

import pytest

from cosavatar_pipeline.nerf.checkpoint import META_FILE, TENSORS_FILE, CheckpointError, load_checkpoint
from cosavatar_pipeline.nerf.trainer import load_trained, train_avatar
from cosavatar_pipeline.presets import nerf_config


@pytest.fixture(scope="module")
def tiny_dataset(tiny_sample):
    clip = tiny_sample
    config = nerf_config("tiny", steps=20, checkpoint_every=10, occupancy_warmup_steps=10)
    return clip.dataset(config), config


def test_a_truncated_checkpoint_is_reported_discarded_and_training_restarts(tiny_dataset, tmp_path):
    dataset, config = tiny_dataset
    train_avatar(dataset, config, tmp_path)
    tensors = tmp_path / TENSORS_FILE
    tensors.write_bytes(tensors.read_bytes()[: tensors.stat().st_size // 2])  # a disk that filled up mid-write
    with pytest.raises(CheckpointError, match=r"avatar\.safetensors: cannot be read"):
        load_trained(tmp_path, dataset)
    again = train_avatar(dataset, config, tmp_path)
    assert again.resumed_from == 0 and again.steps_done == config.steps
    assert str(tensors) in again.discarded_checkpoint and "training starts again" in again.discarded_checkpoint
    assert load_checkpoint(tmp_path)[1]["step"] == config.steps  # a whole checkpoint again


def test_a_checkpoint_of_another_architecture_is_discarded(tiny_dataset, tmp_path):
    dataset, config = tiny_dataset
    train_avatar(dataset, nerf_config("tiny", steps=10, checkpoint_every=10, hidden_width=16), tmp_path)
    run = train_avatar(dataset, config, tmp_path)
    assert run.resumed_from == 0 and "another architecture" in run.discarded_checkpoint


def test_tensors_and_step_commit_together(tiny_dataset, tmp_path):
    """Killed between the tensors' rename and the JSON's, the folder holds step-20 tensors beside a step-10 JSON:
    the step stored inside the tensors file wins, so the run resumes where its weights are."""
    dataset, config = tiny_dataset
    train_avatar(dataset, nerf_config("tiny", steps=10, checkpoint_every=10, occupancy_warmup_steps=10), tmp_path)
    shutil.copyfile(tmp_path / META_FILE, tmp_path / "step10.json")
    train_avatar(dataset, config, tmp_path)
    shutil.copyfile(tmp_path / "step10.json", tmp_path / META_FILE)
    assert load_checkpoint(tmp_path)[1]["step"] == 20
    assert train_avatar(dataset, config, tmp_path).resumed_from == 20
