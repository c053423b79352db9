"""The consistency the edit loop adds: with an editor whose per-frame edits disagree (the controlled inconsistent
editor), the fine-tuned avatar's render flickers less than the edits it was trained on. And the GPU check's code,
run on a CPU at tiny sizes."""

import numpy as np
import pytest

from cosavatar_pipeline.editing.loop import EditRequest
from cosavatar_pipeline.editing.perturbed import Perturbation, PerturbedEditor, perturb
from cosavatar_pipeline.nerf.render import render_dataset_frames
from cosavatar_pipeline.nerf.trainer import train_avatar
from cosavatar_pipeline.parsing.labels import region_mask
from cosavatar_pipeline.presets import edit_round_config, nerf_config
from cosavatar_pipeline.render.consistency import consecutive_pairs, source_flow, warping_error


def test_perturbations_differ_per_seed_and_stay_in_the_mask():
    image = np.full((32, 32, 3), 120, np.uint8)
    mask = np.zeros((32, 32), np.float32)
    mask[8:24, 8:24] = 1
    first, second = (perturb(image, mask, np.random.default_rng(seed), Perturbation()) for seed in (1, 2))
    assert np.array_equal(first[mask == 0], image[mask == 0])
    assert np.abs(first[mask == 1].astype(int) - second[mask == 1]).mean() > 2


def test_the_loop_makes_inconsistent_edits_steadier(tiny_sample, tmp_path):
    clip = tiny_sample
    config = nerf_config("tiny", steps=200)
    dataset = clip.dataset(config)
    model = train_avatar(dataset, config, tmp_path / "avatar").model
    round_config = edit_round_config("tiny", finetune_steps=60)
    pink_hair = EditRequest("give her pink hair", "hair")
    loop = clip.edit_loop(model, dataset, PerturbedEditor(), pink_hair, 2, round_config, tmp_path / "rounds")
    train = dataset.train
    final = render_dataset_frames(loop.model, dataset, train, own_appearance=True)["rgb"]
    flow, region, pairs = source_flow(clip.frames), region_mask(clip.labels, "hair"), consecutive_pairs(train)
    raw, rendered = np.array(clip.frames), np.array(clip.frames)
    raw[train], rendered[train] = loop.rounds[0].raw_edits, final
    raw_error, final_error = warping_error(raw, flow, pairs, region), warping_error(rendered, flow, pairs, region)
    assert final_error < 0.8 * raw_error, (final_error, raw_error)
    # and the edit is there: the final render's hair moved towards pink like the targets
    targets = loop.rounds[-1].targets
    hair = region[train]
    assert (
        np.abs(final[hair].astype(int) - clip.frames[train][hair]).mean()
        > 0.5 * np.abs(targets[hair].astype(int) - clip.frames[train][hair]).mean()
    )


@pytest.mark.slow  # the whole `make gpu-check` script, end to end
def test_gpu_check_runs_on_a_cpu_at_tiny_sizes(sample_clips, tmp_path):
    from benchmarks import gpu_check

    report = gpu_check.main(
        [
            "--device",
            "cpu",
            "--tiny",
            "--video",
            str(sample_clips["astronaut_talking"]),
            "--out",
            str(tmp_path / "work"),
            "--results",
            str(tmp_path / "results"),
        ]
    )
    assert report["avatar"]["steps"] == gpu_check.TINY.avatar_steps
    assert report["ip2p_edit"]["edit_resolution"] == 64 and report["ip2p_edit"]["frames"] == 2
    assert report["edit_round"]["frames_edited"] > 0
    assert (tmp_path / "results" / "gpu_check_cpu_tiny.json").exists()
