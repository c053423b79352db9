"""Time and peak memory of the frames stage, ours vs a decode-everything baseline, in one run.

    python benchmarks/frames_stage.py [VIDEO ...]   (default: ../shared/videos/talking_woman_bluebg.mp4)

Each measurement runs in a fresh subprocess so peak RSS (ru_maxrss) belongs to that measurement alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "videos" / "talking_woman_bluebg.mp4"

MEASURE = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np, cv2
from cosavatar_pipeline.presets import get_preset
from cosavatar_pipeline.video.frames import extract_frames, sample_face_crop
from cosavatar_pipeline.video.decode import VideoFrames, constant_rate_source_indices
from cosavatar_pipeline.video.crop import FaceDetector

video, preset_name, method, out = sys.argv[1:5]
preset = get_preset(preset_name)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
if method == "ours":
    count = extract_frames(Path(video), Path(out), preset).frame_count
else:  # baseline: decode the whole clip into memory, then crop and resize every frame
    frames = VideoFrames(Path(video))
    with FaceDetector() as detector:
        crop = sample_face_crop(frames, detector)
    everything = frames.get(np.arange(frames.frame_count))
    picks = constant_rate_source_indices(frames.timestamps[:, 0], frames.duration_s, preset.fps)
    size = (preset.resolution,) * 2
    result = np.stack([cv2.resize(crop.apply(everything[i]), size, interpolation=cv2.INTER_AREA) for i in picks])
    np.save(Path(out) / "frames.npy", result)
    count = len(result)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak / 1024, "import_rss_mb": base / 1024, "frames": count}))
"""


def measure(video: Path, preset: str, method: str) -> dict:
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            [sys.executable, "-c", MEASURE, str(video), preset, method, out], capture_output=True, text=True, check=True
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    videos = [Path(v) for v in sys.argv[1:]] or [DEFAULT_VIDEO]
    print(
        f"{'video':<28} {'preset':<9} {'method':<9} {'frames':>6} {'seconds':>8} {'peak RSS MB':>12} "
        f"{'after imports':>14}"
    )
    for video in videos:
        for preset in ("preview", "standard"):
            rows = {method: measure(video, preset, method) for method in ("ours", "baseline")}
            for method, row in rows.items():
                print(
                    f"{video.name:<28} {preset:<9} {method:<9} {row['frames']:>6} {row['seconds']:>8.2f} "
                    f"{row['peak_rss_mb']:>12.0f} {row['import_rss_mb']:>14.0f}"
                )
            ratio = rows["baseline"]["peak_rss_mb"] / rows["ours"]["peak_rss_mb"]
            print(
                f"{'':<28} {preset:<9} baseline/ours peak memory: {ratio:.2f}x, time: "
                f"{rows['baseline']['seconds'] / rows['ours']['seconds']:.2f}x"
            )


if __name__ == "__main__":
    main()
