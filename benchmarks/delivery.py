"""Delivery in the whole frame at native resolution, against plain bicubic upsampling of the crop composite and
today's crop, side by side in one run.

    python benchmarks/delivery.py [--frames 60] [--out DIR]

On `talking_woman_wide_frame.mp4` and `talking_woman_bluebg.mp4` at `preview` (the stages before the avatar run
with the library, cached under --out). The edit is the procedural "give her pink hair" recolouring of each crop
frame, blurred by σ 0.6 px as a stand-in for the edited avatar's render (no avatar is trained here: delivery takes
any crop render, and training two avatars would take most of an hour on 2 cores); the raw per-frame edits are the
consistency benchmark's perturbed editor. Figures over the first --frames frames of each clip:

- outside the region: PSNR of the encoded final.mp4 against the source's decoded frames (native size), next to the
  source's own frames re-encoded alike (the encoder's loss alone), and both files' bit rates;
- detail: the delivered region's Laplacian variance over the source's, ours and bicubic's;
- the edit carried: the delivered region brought back to the crop's size against the crop composite, mean ΔE2000;
- steadiness: warping error (the native source's DIS flow) inside the region: the source's own, ours, the raw
  per-frame edits delivered the same way, bicubic's, and the native reference's: the same recolouring applied to
  the native frames under our matte, which is what a perfectly consistent edit scores (a recolouring that changes
  the hair edge's contrast cannot score the source's own figure: flow error at the edge grows with its contrast);
- edges: two synthetic cases with a known native truth (tests/test_delivery.py's): band error around hard-edged hair
  over a textured photograph, and band error and brightening (a halo) around anti-aliased hair over a pale wall;
  ours (guided matte and colour-line rim) against the guided matte alone and a nearest-neighbour mask;
- cost: delivery seconds per frame at 576 × 768 and 1080 × 1920 (the wide clip upscaled), and the peak RSS of a
  process streaming 4 s and 12 s of 1080 × 1920 frames through decode -> deliver -> encode.

Writes benchmarks/results/delivery.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clips import SHARED_VIDEOS, prepare_clip  # noqa: E402
from benchmarks.stage_capacity import peak_rss_mib  # noqa: E402
from cosavatar_pipeline.editing.blend import blend, feathered_mask  # noqa: E402
from cosavatar_pipeline.editing.perturbed import PerturbedEditor  # noqa: E402
from cosavatar_pipeline.editing.procedural import ProceduralEditor  # noqa: E402
from cosavatar_pipeline.editing.regions import dilate  # noqa: E402
from cosavatar_pipeline.nerf.metrics import psnr  # noqa: E402
from cosavatar_pipeline.parsing.labels import region_mask  # noqa: E402
from cosavatar_pipeline.render.consistency import source_flow, warping_error  # noqa: E402
from cosavatar_pipeline.render.delivery import DeliveryConfig, deliver_frame  # noqa: E402
from cosavatar_pipeline.render.delivery_video import (  # noqa: E402
    bicubic_delivery,
    deliver_video,
    detail_ratio,
    mean_delta_e,
)
from cosavatar_pipeline.stages.frames import load_source_indices  # noqa: E402
from cosavatar_pipeline.video.crop import CropPlacement, FaceDetector  # noqa: E402
from cosavatar_pipeline.video.decode import VideoFrames  # noqa: E402
from cosavatar_pipeline.video.encode import open_mp4  # noqa: E402
from cosavatar_pipeline.video.frames import sample_face_crop  # noqa: E402
from cosavatar_pipeline.video.native import NativeFrame, native_frames  # noqa: E402
from cosavatar_pipeline.video.planes import I420  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "delivery.json"
PROMPT = "give her pink hair"
CLIPS = ("talking_woman_wide_frame.mp4", "talking_woman_bluebg.mp4")
FPS = 25.0


def edits(clip, count: int):
    """Crop renders (procedural pink hair, blurred), raw perturbed per-frame edits, hair regions, composites."""
    frames, regions = clip.frames[:count], region_mask(clip.labels[:count], "hair")
    masks = np.stack([feathered_mask(r, 2.0) for r in regions])
    seeds = np.arange(count)
    renders = np.stack(
        [cv2.GaussianBlur(e, (0, 0), 0.6) for e in ProceduralEditor().edit(frames, frames, PROMPT, masks, seeds)]
    )
    raw = PerturbedEditor().edit(frames, frames, PROMPT, masks, seeds)
    composites = np.stack([blend(r, f, m) for r, f, m in zip(renders, frames, masks)])
    raw_composites = np.stack([blend(r, f, m) for r, f, m in zip(raw, frames, masks)])
    return frames, renders, raw, regions, composites, raw_composites


def clip_figures(video: Path, workdir: Path, count: int) -> dict:
    clip = prepare_clip(video, workdir)
    folder = Path(workdir) / f"{video.stem}_preview"
    indices = load_source_indices(folder)[:count]
    with FaceDetector() as detector:
        crop = sample_face_crop(VideoFrames(video), detector).as_dict()
    frames, renders, raw, regions, composites, raw_composites = edits(clip, count)
    sources = list(native_frames(video, indices))
    natives = [source.rgb for source in sources]
    height, width = natives[0].shape[:2]
    placement = CropPlacement.of(crop, frames.shape[1], height, width)
    ours, ours_raw, bicubic, reference, mattes, seconds = [], [], [], [], [], 0.0
    for i, native in enumerate(natives):
        started = time.perf_counter()
        delivered = deliver_frame(native, frames[i], renders[i], regions[i], placement)
        seconds += time.perf_counter() - started
        matte = np.zeros((height, width), np.float32)
        matte[delivered.rows, delivered.columns] = delivered.matte
        ours.append(delivered.frame)
        mattes.append(matte)
        ours_raw.append(deliver_frame(native, frames[i], raw[i], regions[i], placement).frame)
        bicubic.append(bicubic_delivery(native, composites[i], placement))
        reference.append(ProceduralEditor().edit(native[None], native[None], PROMPT, matte[None], np.array([i]))[0])
    encoded = folder / "delivery_final.mp4"
    started = time.perf_counter()
    deliver_video(iter(sources), frames, renders, composites, regions, crop, FPS, encoded, folder / "delivery_sbs.mp4")
    streamed_seconds = (time.perf_counter() - started) / count
    decoded = [frame.rgb for frame in native_frames(encoded, np.arange(count))]
    floor = folder / "delivery_source.mp4"
    with open_mp4(floor, FPS, crf=DeliveryConfig().final_crf) as writer:
        for source in sources:
            writer.add_planes(source.planes)
    floor_decoded = [frame.rgb for frame in native_frames(floor, np.arange(count))]
    inside = np.stack([m >= 0.5 for m in mattes])
    inner = np.stack([~dilate(~m, 3) for m in inside])
    outside = ~dilate(np.stack([m > 0 for m in mattes]), 4)
    flow = source_flow(np.stack(natives))
    frame_rows, frame_columns, _, _ = placement.visible()

    def delta_e(images):
        values = []
        for image, composite, region in zip(images, composites, regions):
            small = cv2.resize(image[frame_rows, frame_columns], frames.shape[1:3][::-1], interpolation=cv2.INTER_AREA)
            values.append(mean_delta_e(small, composite, ~dilate(~region, 1)))
        return float(np.mean(values))

    def detail(images):
        return float(np.mean([detail_ratio(d, n, m) for d, n, m in zip(images, natives, inner) if m.sum() > 16]))

    figures = {
        "native_size": f"{width}x{height}",
        "crop_size_px": crop["size"],
        "frames_measured": count,
        "psnr_outside_region_db": {
            "final_mp4_vs_source_decoded": float(
                np.mean([psnr(d, s, m) for d, s, m in zip(decoded, natives, outside)])
            ),
            "source_reencoded_vs_source_decoded": float(
                np.mean([psnr(d, s, m) for d, s, m in zip(floor_decoded, natives, outside)])
            ),
        },
        "bit_rate_mbit_s": {"final_mp4": bit_rate(encoded), "source": bit_rate(video)},
        "detail_ratio": {"ours": detail(ours), "bicubic": detail(bicubic)},
        "delta_e2000_vs_crop_composite": {"ours": delta_e(ours), "bicubic": delta_e(bicubic)},
        "warping_error_in_region": {
            "source": warping_error(np.stack(natives), flow, region=inside),
            "ours": warping_error(np.stack(ours), flow, region=inside),
            "raw_per_frame_edits_delivered": warping_error(np.stack(ours_raw), flow, region=inside),
            "bicubic": warping_error(np.stack(bicubic), flow, region=inside),
            "native_reference": warping_error(np.stack(reference), flow, region=inside),
        },
        "delivery_seconds_per_frame": seconds / count,
        "delivery_and_encoding_seconds_per_frame": streamed_seconds,
        "today_crop_size": f"{frames.shape[2]}x{frames.shape[1]}",
    }
    steadiness = figures["warping_error_in_region"]
    figures["warping_error_ours_over"] = {
        name: steadiness["ours"] / steadiness[name]
        for name in ("source", "native_reference", "raw_per_frame_edits_delivered")
    }
    return figures


def bit_rate(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.streams.video[0].bit_rate / 1e6


def edge_figures() -> dict:
    """Two synthetic cases with a known native truth (tests/test_delivery.py's): hard-edged hair over a textured
    photograph, error within 4 px of the true edge; anti-aliased hair with stray strands over a pale wall, error and
    brightening (a halo) within 2 px of the mixed pixels. Each for our delivery, the guided matte alone and a
    nearest-neighbour mask."""
    from tests.test_delivery import hair_case, rim_errors, wispy_case

    native, source, render, region, truth, placement, recoloured = hair_case()
    reference = np.where(truth[..., None], recoloured, native).astype(np.float32)
    band = dilate(truth, 4) & dilate(~truth, 4)
    w_native, w_source, w_render, w_region, share, w_placement, w_reference = wispy_case()
    figures = {"textured_backdrop_band_error": {}, "pale_wall_band_error": {}, "pale_wall_brightening": {}}
    for edge in ("colour_line", "guided", "nearest"):
        config = DeliveryConfig(edge=edge)
        delivered = deliver_frame(native, source, render, region, placement, config).frame
        figures["textured_backdrop_band_error"][edge] = float(np.abs(delivered - reference)[band].mean())
        delivered = deliver_frame(w_native, w_source, w_render, w_region, w_placement, config).frame
        error, brightening = rim_errors(delivered, w_reference, share)
        figures["pale_wall_band_error"][edge], figures["pale_wall_brightening"][edge] = error, brightening
    return figures


def upscaled_inputs(clip, video: Path, workdir: Path, count: int, size=(1080, 1920)):
    """The wide clip's first frames stretched to ``size`` (width, height), with its crop box scaled alike."""
    with FaceDetector() as detector:
        crop = sample_face_crop(VideoFrames(video), detector).as_dict()
    width, height = size
    sx, sy = width / 576, height / 768
    scale = min(sx, sy)
    crop = {"left": round(crop["left"] * sx), "top": round(crop["top"] * sy), "size": round(crop["size"] * scale)}
    frames, renders, _, regions, composites, _ = edits(clip, count)
    indices = load_source_indices(Path(workdir) / f"{video.stem}_preview")
    return crop, frames, renders, regions, composites, indices


def streaming_rss(workdir: Path, seconds: int) -> dict:
    """Peak RSS (MiB) of a fresh process streaming ``seconds`` of 1080 x 1920 frames through decode, upscaling,
    delivery and both encoders, and its seconds per frame."""
    code = (
        "import sys; sys.argv=['x']; from benchmarks.delivery import stream_1080p; "
        f"stream_1080p({str(workdir)!r}, {seconds})"
    )
    output = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds_per_frame, rss = output.stdout.strip().splitlines()[-2:]
    return {"peak_rss_mib": float(rss), "seconds_per_frame": float(seconds_per_frame)}


def stream_1080p(workdir: str, seconds: int) -> None:
    video = SHARED_VIDEOS / CLIPS[0]
    clip = prepare_clip(video, Path(workdir))
    count = seconds * 25
    crop, frames, renders, regions, composites, indices = upscaled_inputs(clip, video, Path(workdir), count)

    def natives():
        for frame in native_frames(video, indices[:count]):
            stretched = cv2.resize(frame.rgb, (1080, 1920), interpolation=cv2.INTER_LINEAR)
            yield NativeFrame(stretched, I420.of_rgb(stretched))

    out = Path(workdir)
    started = time.perf_counter()
    deliver_video(natives(), frames, renders, composites, regions, crop, FPS, out / "f.mp4", out / "s.mp4")
    print((time.perf_counter() - started) / count)
    print(peak_rss_mib())


def speed_1080p(workdir: Path, count: int = 20) -> float:
    video = SHARED_VIDEOS / CLIPS[0]
    clip = prepare_clip(video, workdir)
    crop, frames, renders, regions, _, indices = upscaled_inputs(clip, video, workdir, count)
    total = 0.0
    for i, frame in enumerate(native_frames(video, indices[:count])):
        native = cv2.resize(frame.rgb, (1080, 1920), interpolation=cv2.INTER_LINEAR)
        placement = CropPlacement.of(crop, frames.shape[1], 1920, 1080)
        started = time.perf_counter()
        deliver_frame(native, frames[i], renders[i], regions[i], placement)
        total += time.perf_counter() - started
    return total / count


def portrait_1080p_clip(workdir: Path, seconds: int) -> Path:
    """A ``seconds`` long 1080 x 1920 clip: the wide clip scaled to 1080 x 1440 on a portrait canvas, played forth
    and back (it lasts 22 s)."""
    path = workdir / f"portrait_1080x1920_{seconds}s.mp4"
    if path.exists():
        return path
    video = VideoFrames(SHARED_VIDEOS / CLIPS[0])
    order = list(range(video.frame_count)) + list(range(video.frame_count - 2, -1, -1))
    with open_mp4(path, FPS) as writer:
        for start in range(0, seconds * int(FPS), 25):
            for frame in video.get(np.array(order[start : start + 25])):
                canvas = np.zeros((1920, 1080, 3), np.uint8)
                canvas[240:1680] = cv2.resize(frame, (1080, 1440), interpolation=cv2.INTER_CUBIC)
                writer.add(canvas)
    return path


def final_render_rss(workdir: Path, seconds: int) -> dict:
    """Every stage's peak RSS (MiB) and time on a ``seconds`` long 1080 x 1920 clip at ``preview``, each stage in
    a process of its own as a worker runs it (benchmarks/stage_capacity.py)."""
    from benchmarks.stage_capacity import DEFAULT_DRIVER, measure_preset

    clip = portrait_1080p_clip(workdir, seconds)
    stages = measure_preset("preview", clip, DEFAULT_DRIVER, 0, print, baseline=False)["stages"]
    return {stage: {"peak_rss_mib": row["peak_rss_mib"], "seconds": row["seconds"]} for stage, row in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path(".cosavatar/benchmarks/delivery"))
    parser.add_argument(
        "--pipeline-rss",
        action="store_true",
        help="also run every stage on 10 s and 30 s 1080 x 1920 clips for final_render's peak RSS (~40 min)",
    )
    args = parser.parse_args()
    cv2.setNumThreads(2)
    started = time.perf_counter()
    report = {"prompt": PROMPT, "preset": "preview", "machine": "2 CPU cores, no GPU", "clips": {}}
    for name in CLIPS:
        report["clips"][name] = clip_figures(SHARED_VIDEOS / name, args.out, args.frames)
        print(name, json.dumps(report["clips"][name], indent=1), flush=True)
    report["edges_synthetic"] = edge_figures()
    report["delivery_seconds_per_frame_1080x1920"] = speed_1080p(args.out)
    report["streaming_1080x1920"] = {
        "4 s": streaming_rss(args.out, 4),
        "12 s": streaming_rss(args.out, 12),
    }
    if args.pipeline_rss:
        report["pipeline_1080x1920_preview"] = {f"{s} s": final_render_rss(args.out, s) for s in (10, 30)}
    elif RESULTS.exists():  # keep the last measured one
        previous = json.loads(RESULTS.read_text()).get("pipeline_1080x1920_preview")
        if previous:
            report["pipeline_1080x1920_preview"] = previous
    report["wall_seconds"] = time.perf_counter() - started
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "clips"}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
