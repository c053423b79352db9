"""Expression control benchmark: the old conditioning (codes into the MLP), landmark warping, and landmark warping
without the eyelids' fine field, side by side in one run, at the `preview` preset with its default steps, on a
talking clip and a driving clip, each trained once per seed (a single run's mouth-box PSNR moves by about 0.3 dB
and its driven gain by about 0.1 with the seed).

    python benchmarks/expression.py [--target PATH] [--driver PATH] [--steps N] [--seeds 0,1] [--out DIR]

Per conditioning: training time; held-out PSNR on the interleaved frames and on the contiguous segment (full frame,
person, mouth box); on the segment, whether the render's mouth and eyes follow the source (2D landmarks
re-detected on both, with the noise floor of a blurred reference); the driver re-animating the target: the same
figures against the driver's frames (mouth scaled to the target's face), identity drift, clipped code fraction.
Writes benchmarks/results/expression.json (the mean over seeds, and each seed's figures), and contact sheets (frames
of the clips: never committed) under --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clips import SHARED_VIDEOS, prepare_clip  # noqa: E402
from cosavatar_pipeline.face import landmarks as lm  # noqa: E402
from cosavatar_pipeline.face.motion import DrivingMotion  # noqa: E402
from cosavatar_pipeline.nerf.config import code_conditioning  # noqa: E402
from cosavatar_pipeline.nerf.evaluation import evaluate_holdout, mouth_psnrs  # noqa: E402
from cosavatar_pipeline.nerf.trainer import train_avatar  # noqa: E402
from cosavatar_pipeline.presets import nerf_config  # noqa: E402
from cosavatar_pipeline.preview import save_png  # noqa: E402
from cosavatar_pipeline.render.outputs import side_by_side  # noqa: E402
from cosavatar_pipeline.render.reenactment import drive_avatar, reenactment_figures  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "expression.json"


def widest_mouths_sheet(reference: np.ndarray, rendered: np.ndarray, count: int = 6) -> np.ndarray:
    """reference | render rows for the ``count`` frames where the reference's mouth is widest (2D landmarks)."""
    from cosavatar_pipeline.render.expression import signals

    detected = signals(reference, "reference")
    opening = np.where(detected["tracked"], detected["mouth"], -1)
    picks = np.sort(np.argsort(opening)[-count:])
    pairs = side_by_side(reference[picks], rendered[picks])
    return np.concatenate(list(pairs), axis=0)


def nearest_training_mouths(dataset) -> np.ndarray:
    """(S,) per segment frame, the mouth-box PSNR of the training frame that matches it best, its box moved by whole
    pixels to the frame's mouth centre (+-1 px): how close anything the avatar was trained on comes to the segment's
    mouths. A frame the video repeats exactly in training scores inf."""
    mouth_ids = list(lm.MOUTH_CORNERS + (lm.UPPER_INNER_LIP_CENTRE, lm.LOWER_INNER_LIP_CENTRE))
    centres = dataset.landmarks_2d[:, mouth_ids].mean(axis=1)  # (N, 2) px
    best = []
    for frame in dataset.holdout_segment:
        x0, y0, x1, y1 = dataset.mouth_boxes[frame]
        truth = dataset.frames[frame, y0:y1, x0:x1].astype(np.float64)
        errors = []
        for candidate in dataset.train:
            dx, dy = np.round(centres[candidate] - centres[frame]).astype(int)
            for sx, sy in itertools.product((-1, 0, 1), repeat=2):
                left, top = x0 + dx + sx, y0 + dy + sy
                if 0 <= left and 0 <= top and left + x1 - x0 <= dataset.size and top + y1 - y0 <= dataset.size:
                    moved = dataset.frames[candidate, top : top + y1 - y0, left : left + x1 - x0]
                    errors.append(np.mean((moved - truth) ** 2))
        best.append(10 * np.log10(255.0**2 / min(errors)) if min(errors) > 0 else np.inf)
    return np.array(best)


def run_conditioning(name, config, target, driver, out: Path, nearest_training: np.ndarray) -> dict:
    """Train, evaluate and drive one conditioning; nearest_training: ``nearest_training_mouths`` of the target.
    ``name`` also names its checkpoint and contact sheets under ``out``."""
    dataset = target.dataset(config)
    checkpoints = out / f"checkpoint_{name}"
    shutil.rmtree(checkpoints, ignore_errors=True)
    training = train_avatar(dataset, config, checkpoints)
    print(f"{name}: trained {training.steps_done} steps in {training.seconds:.0f} s", flush=True)
    evaluation = evaluate_holdout(training.model, dataset)
    motion = DrivingMotion.from_face_model(driver.face_model)
    reenactment = drive_avatar(training.model, dataset, motion, target.face_model)
    driven = reenactment_figures(reenactment, driver.frames, motion, target.face_model)
    segment = evaluation.segment
    closer = mouth_psnrs(segment, dataset, dataset.holdout_segment) > nearest_training
    save_png(out / f"segment_widest_{name}.png", widest_mouths_sheet(dataset.frames[dataset.holdout_segment], segment))
    save_png(
        out / f"driven_widest_{name}.png", widest_mouths_sheet(driver.frames[: len(reenactment.rgb)], reenactment.rgb)
    )
    return {
        "train_seconds": training.seconds,
        "steps": training.steps_done,
        "expression_components": int(dataset.expressions.shape[1]),
        **evaluation.figures,
        "segment_frames_closer_than_nearest_training": int(closer.sum()),
        **{f"driven_{key}": value for key, value in driven.items()},
    }


def _mean_figures(runs: list[dict]) -> dict:
    """The mean of each figure over runs (each a dict of the same keys)."""
    return {key: float(np.mean([run[key] for run in runs])) for key in runs[0]}


def _rounded(figures: dict) -> dict:
    return {key: round(float(value), 4) for key, value in figures.items()}


def seed_list(text: str) -> list[int]:
    """``--seeds``: "0,1" -> [0, 1]."""
    return [int(seed) for seed in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", type=Path, default=SHARED_VIDEOS / "talking_woman_bluebg.mp4")
    parser.add_argument("--driver", type=Path, default=SHARED_VIDEOS / "driving_man_expressions.mp4")
    parser.add_argument("--steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--seeds", type=seed_list, default="0,1", help="comma-separated; figures are their mean")
    parser.add_argument("--out", type=Path, default=Path(".cosavatar/benchmarks/expression"))
    args = parser.parse_args()
    seeds = args.seeds
    torch.set_num_threads(2)
    started = time.perf_counter()
    target, driver = prepare_clip(args.target, args.out), prepare_clip(args.driver, args.out)
    overrides = {} if args.steps is None else {"steps": args.steps}
    configs = {
        "code": code_conditioning(nerf_config("preview", **overrides)),
        "landmark_warp": nerf_config("preview", **overrides),
        # the warp as before the eyelids' fine field: what that field adds to the eyes
        "landmark_warp_coarse_lids": nerf_config("preview", eyelid_field=False, **overrides),
    }
    # the same frames are held out under both conditionings: how close training comes is computed once
    nearest = nearest_training_mouths(target.dataset(configs["landmark_warp"]))
    per_seed = {
        seed: {
            name: run_conditioning(
                f"{name}_seed{seed}", dataclasses.replace(config, seed=seed), target, driver, args.out, nearest
            )
            for name, config in configs.items()
        }
        for seed in seeds
    }
    results = {name: _mean_figures([per_seed[seed][name] for seed in seeds]) for name in configs}
    mouth_gains = [
        per_seed[seed]["landmark_warp"]["segment_psnr_mouth"] - per_seed[seed]["code"]["segment_psnr_mouth"]
        for seed in seeds
    ]
    report = {
        "target": args.target.name,
        "driver": args.driver.name,
        "preset": "preview",
        "machine": f"{torch.get_num_threads()} CPU threads, no GPU",
        "train_time_ratio": results["landmark_warp"]["train_seconds"] / results["code"]["train_seconds"],
        "wall_seconds": time.perf_counter() - started,
        "seeds": seeds,
        # landmark_warp's segment mouth box over code's, per seed (dB)
        "segment_psnr_mouth_gain_per_seed": [round(gain, 4) for gain in mouth_gains],
        # the segment's mouths against the closest training frame's own image (the reference a model must beat)
        "segment_psnr_mouth_nearest_training": float(nearest[np.isfinite(nearest)].mean()),
        "segment_frames_repeated_in_training": int((~np.isfinite(nearest)).sum()),
        "conditionings": {name: _rounded(figures) for name, figures in results.items()},
        "per_seed": {
            str(seed): {name: _rounded(figures) for name, figures in runs.items()} for seed, runs in per_seed.items()
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    keys = [k for k in results["code"] if not k.startswith(("driven_noise", "segment_noise"))]
    print(f"{'figure':<40}" + "".join(f"{name:>28}" for name in configs))
    for key in keys:
        print(f"{key:<40}" + "".join(f"{results[name][key]:>28.3f}" for name in configs))
    gains = ", ".join(f"{gain:+.2f} dB" for gain in mouth_gains)
    print(f"means over seeds {seeds}; segment mouth box over code, per seed: {gains}")
    print(f"wrote {RESULTS}; contact sheets in {args.out}")


if __name__ == "__main__":
    main()
