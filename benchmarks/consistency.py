"""The consistency the NeRF loop adds to inconsistent per-frame edits, measured with a controlled inconsistent
editor (the procedural edit with an independent random perturbation per frame and round: hue, lightness, a
low-frequency texture field, boundary jitter; ``editing/perturbed.py``), since no InstructPix2Pix weights exist
on this project's machines.

    python benchmarks/consistency.py [--video PATH] [--prompt TEXT] [--region hair] [--rounds 3] [--out DIR]

One run, on one clip at `preview`: the avatar is trained (or resumed from --out), K rounds of the edit loop run
with the perturbed editor, and the figures compare, with the SOURCE video's optical flow and inside the edit's
region: the raw per-frame edits of round 1, the final avatar's render, and the baseline a user would otherwise
get (every source frame edited on its own and blended into it, no NeRF). PSNR outside the region against the
source for the final render as rendered and as delivered (composited into the source), and against the unedited
avatar (what fine-tuning leaked). Writes benchmarks/results/consistency.json and a contact sheet under --out
(frames of the clip: never committed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clips import SHARED_VIDEOS, prepare_clip  # noqa: E402
from cosavatar_pipeline.editing.blend import blend, feathered_mask  # noqa: E402
from cosavatar_pipeline.editing.composite import composite_into_source, psnr_outside_region  # noqa: E402
from cosavatar_pipeline.editing.dataset_update import frame_seed  # noqa: E402
from cosavatar_pipeline.editing.loop import EditRequest  # noqa: E402
from cosavatar_pipeline.editing.perturbed import Perturbation, PerturbedEditor  # noqa: E402
from cosavatar_pipeline.nerf.render import render_dataset_frames  # noqa: E402
from cosavatar_pipeline.nerf.trainer import train_avatar  # noqa: E402
from cosavatar_pipeline.parsing.labels import region_mask  # noqa: E402
from cosavatar_pipeline.parsing.mediapipe_parser import MediapipeParser  # noqa: E402
from cosavatar_pipeline.presets import edit_round_config, nerf_config  # noqa: E402
from cosavatar_pipeline.preview import save_png  # noqa: E402
from cosavatar_pipeline.render.consistency import consecutive_pairs, source_flow, warping_error  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "consistency.json"


def per_frame_baseline(editor, frames, labels, prompt, region, edit_seed, config) -> np.ndarray:
    """Every source frame edited on its own (round-1 seeds) and blended into it under its feathered region."""
    size = frames.shape[1]
    masks = np.stack([feathered_mask(m, config.feather_px(size)) for m in region_mask(labels, region)])
    seeds = np.array([frame_seed(edit_seed, 1, i) for i in range(len(frames))])
    edits = editor.edit(frames, frames, prompt, masks, seeds)
    return np.stack([blend(e, f, m) for e, f, m in zip(edits, frames, masks)])


def contact_sheet(frames, raw, final, composited, frame_ids) -> np.ndarray:
    """Rows of source | raw per-frame edit | final render | delivered, for consecutive frames."""
    rows = [np.concatenate([frames[i], raw[i], final[i], composited[i]], axis=1) for i in frame_ids]
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", type=Path, default=SHARED_VIDEOS / "talking_woman_bluebg.mp4")
    parser.add_argument("--prompt", default="give her pink hair")
    parser.add_argument("--region", default="hair")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(".cosavatar/benchmarks/consistency"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.perf_counter()
    clip = prepare_clip(args.video, args.out)
    config = nerf_config("preview")
    dataset = clip.dataset(config)
    training = train_avatar(dataset, config, args.out / "avatar")  # a finished checkpoint is loaded, not retrained
    every_frame = np.arange(dataset.count)
    unedited = render_dataset_frames(training.model, dataset, every_frame, own_appearance=True)["rgb"]
    print(f"avatar: {training.steps_done} steps ({training.seconds:.0f} s this run)", flush=True)

    editor, round_config = PerturbedEditor(), edit_round_config("preview")
    shutil.rmtree(args.out / "rounds", ignore_errors=True)
    loop_started = time.perf_counter()
    loop = clip.edit_loop(
        training.model,
        dataset,
        editor,
        EditRequest(args.prompt, args.region),
        args.rounds,
        round_config,
        args.out / "rounds",
        on_round=lambda k, _: print(f"round {k} done at {time.perf_counter() - loop_started:.0f} s", flush=True),
    )
    loop_seconds = time.perf_counter() - loop_started
    final = render_dataset_frames(loop.model, dataset, every_frame, own_appearance=True)["rgb"]
    final_labels = np.stack(list(MediapipeParser().parse(final, clip.landmarks)))
    delivered = composite_into_source(final, clip.frames, clip.labels, final_labels, args.region, round_config).frames
    baseline = per_frame_baseline(editor, clip.frames, clip.labels, args.prompt, args.region, 0, round_config)

    first = loop.rounds[0]
    raw = np.array(clip.frames)
    raw[first.frame_ids] = first.raw_edits
    flow = source_flow(clip.frames)
    region = region_mask(clip.labels, args.region)
    train_pairs, all_pairs = consecutive_pairs(dataset.train), np.arange(dataset.count - 1)
    figures = {
        "warping_error_source": warping_error(clip.frames, flow, all_pairs, region),
        "warping_error_raw_edits": warping_error(raw, flow, train_pairs, region),
        "warping_error_final_render": warping_error(final, flow, train_pairs, region),
        "warping_error_final_render_all_pairs": warping_error(final, flow, all_pairs, region),
        "warping_error_delivered_all_pairs": warping_error(delivered, flow, all_pairs, region),
        "warping_error_per_frame_baseline_all_pairs": warping_error(baseline, flow, all_pairs, region),
        "warping_error_unedited_render": warping_error(unedited, flow, train_pairs, region),
        "psnr_outside_region_final_render_vs_source": psnr_outside_region(final, clip.frames, region),
        "psnr_outside_region_delivered_vs_source": psnr_outside_region(delivered, clip.frames, region),
        "psnr_outside_region_final_vs_unedited_render": psnr_outside_region(final, unedited, region),
        "psnr_outside_region_unedited_render_vs_source": psnr_outside_region(unedited, clip.frames, region),
        "train_pairs": float(len(train_pairs)),
        "all_pairs": float(len(all_pairs)),
        "flow_valid_fraction": flow.valid_fraction,
        "loop_seconds": loop_seconds,
    }
    figures["final_over_raw_ratio"] = figures["warping_error_final_render"] / figures["warping_error_raw_edits"]
    figures["final_over_baseline_ratio"] = (
        figures["warping_error_final_render_all_pairs"] / figures["warping_error_per_frame_baseline_all_pairs"]
    )
    start = int(train_pairs[len(train_pairs) // 2])
    save_png(
        args.out / "consistency_sheet.png", contact_sheet(clip.frames, raw, final, delivered, range(start, start + 4))
    )
    report = {
        "video": args.video.name,
        "prompt": args.prompt,
        "region": args.region,
        "rounds": args.rounds,
        "preset": "preview",
        "editor": "perturbed_procedural (measurement only)",
        "perturbation": asdict(Perturbation()),
        "machine": f"{torch.get_num_threads()} CPU threads, no GPU",
        "wall_seconds": time.perf_counter() - started,
        "figures": {k: round(float(v), 4) for k, v in figures.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    for key, value in figures.items():
        print(f"{key:<50}{value:>10.3f}")
    print(f"wrote {RESULTS}; contact sheet {args.out / 'consistency_sheet.png'}")


if __name__ == "__main__":
    main()
