"""Per-stage time and memory at each preset: the table behind `cosavatar capacity` (README "Capacity").

    python benchmarks/stage_capacity.py [--presets tiny,preview] [--video PATH] [--driver PATH]
                                        [--cap-steps 60] [--out benchmarks/results/capacity.json]

For each preset, a fresh home with the clip (and a driver clip for the reenactment), then every stage of the video
job and of one edit (all K = EDIT_ROUNDS rounds) materialized one at a time, each in its own process,
as a worker runs a step: wall time of the materialization (imports excluded; Dagster's per-run start-up and the
step's MLflow run included) and the process's peak RSS (imports included: a worker holds them too).

Training stages at presets whose full step count would take hours on this CPU (`--cap-steps`, for standard and
high) train that many steps; their time is extrapolated as (wall - training time) + full steps x measured time per
step, and marked so. Memory is what the capped run used (same model, same batch).

Baseline, same run: the whole video job in ONE process (what `cosavatar materialize` does), with the same step caps,
next to the sum of the per-stage times: how far the per-stage table, which the capacity model adds up, is from a
real run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cosavatar_pipeline.editing.config import EDIT_ROUNDS  # noqa: E402

SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "videos"
DEFAULT_VIDEO = SHARED_VIDEOS / "talking_woman_bluebg.mp4"
DEFAULT_DRIVER = SHARED_VIDEOS / "driving_man_expressions.mp4"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "capacity.json"
CAPPED_PRESETS = {"standard", "high"}
VIDEO, DRIVER, EDIT = "subject", "driver", "pink_hair"


def _environment(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "COSAVATAR_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "COSAVATAR_DRIVER": DRIVER,
        "COSAVATAR_IP2P_MODEL": str(home / "no_ip2p_weights"),  # none here: the procedural editor
        "GLOG_minloglevel": "2",
    }


def _step_caps(preset: str, cap_steps: int) -> dict[str, dict]:
    if preset not in CAPPED_PRESETS:
        return {}
    return {"avatar": {"steps": cap_steps}, "edited_*_round_*": {"finetune_steps": cap_steps}}


def _config_for(asset: str, caps: dict[str, dict]) -> dict[str, dict]:
    if asset == "avatar" and "avatar" in caps:
        return {"avatar": caps["avatar"]}
    if asset.startswith("edited_avatar_round_") and caps:
        return {asset: caps["edited_*_round_*"]}
    return {}


def peak_rss_mib() -> float:
    """This process's own peak resident memory. Not getrusage's ru_maxrss: Linux carries that across execve, so a
    child would report its parent's peak when that was higher; VmHWM belongs to the address space exec created."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure_one(asset: str, partition: str, config: dict[str, dict]) -> dict:
    """In a worker-like process: materialize one stage, report wall time, peak RSS and training figures."""
    import dagster as dg

    from cosavatar_pipeline.orchestration.operations import Pipeline
    from cosavatar_pipeline.slugs import key_parts

    pipeline = Pipeline()
    started = time.perf_counter()
    parts = key_parts(partition)
    if len(parts) == 2:
        edit, video = parts
        outcome = pipeline.materialize_edit(edit, video, select=[asset], asset_config=config)
    else:
        outcome = pipeline.materialize_video(partition, select=[asset], asset_config=config)
    seconds = time.perf_counter() - started
    if not outcome.success:
        raise SystemExit(f"{asset}[{partition}] failed: {outcome.failures}")
    records = pipeline.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    metadata = {key: value.value for key, value in records[0].asset_materialization.metadata.items()}
    return {
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "steps": metadata.get("steps"),
        "train_seconds": metadata.get("train_seconds"),
    }


def _in_subprocess(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)}:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_preset(preset: str, video: Path, driver: Path, cap_steps: int, log, baseline: bool = True) -> dict:
    from cosavatar_pipeline.cli import DRIVER_STAGES
    from cosavatar_pipeline.orchestration.definitions import defs
    from cosavatar_pipeline.orchestration.operations import Pipeline
    from cosavatar_pipeline.presets import get_preset

    caps = _step_caps(preset, cap_steps)
    settings = get_preset(preset)
    full_steps = {"avatar": settings.nerf.steps, "edited_avatar": settings.edit_rounds.finetune_steps}
    pools = {assets_def.key.path[-1]: assets_def.op.pool for assets_def in defs.assets}
    with tempfile.TemporaryDirectory(prefix=f"capacity-{preset}-") as scratch:
        home, baseline_home = Path(scratch) / "home", Path(scratch) / "baseline"
        env = _environment(home)
        os.environ.update({k: env[k] for k in ("COSAVATAR_HOME", "DAGSTER_HOME", "MLFLOW_TRACKING_URI")})
        pipeline = Pipeline()
        pipeline.add_video(video, name=VIDEO, preset=preset)
        pipeline.add_video(driver, name=DRIVER, preset=preset)
        assert pipeline.materialize_video(DRIVER, select=DRIVER_STAGES).success
        pipeline.add_edit("give her pink hair", name=EDIT)
        video_assets, edit_assets = pipeline.video_asset_names(), pipeline.edit_asset_names()
        pipeline.instance.dispose()

        stages = {}
        for asset, partition, per in [(a, VIDEO, "video") for a in video_assets] + [
            (a, f"{EDIT}|{VIDEO}", "edit") for a in edit_assets
        ]:
            config = _config_for(asset, caps)
            row = _in_subprocess(env, "measure", asset, partition, json.dumps(config))
            row.update(queue="gpu" if pools.get(asset) == "gpu" else "cpu", per=per, extrapolated=False)
            kind = "avatar" if asset == "avatar" else "edited_avatar" if asset.startswith("edited_avatar") else None
            if config and kind and row["steps"]:
                per_step = row["train_seconds"] / row["steps"]
                row["measured_seconds"] = row["seconds"]
                row["seconds"] = row["seconds"] - row["train_seconds"] + per_step * full_steps[kind]
                row["extrapolated"] = True
            stages[asset] = row
            log(
                f"  {preset:8s} {asset:24s} {row['seconds']:8.1f} s{' (extrapolated)' if row['extrapolated'] else ''}"
                f"  {row['peak_rss_mib']:7.0f} MiB  {row['queue']}"
            )

        if not baseline:
            return {"stages": stages, "step_caps": caps}
        # Baseline: the whole video job in one process, same caps.
        baseline_env = _environment(baseline_home)
        row = _in_subprocess(
            baseline_env, "whole-video-job", str(video), preset, json.dumps(_config_for("avatar", caps))
        )
        summed = sum(stages[a].get("measured_seconds", stages[a]["seconds"]) for a in video_assets)
        log(f"  {preset:8s} video job in one process {row['seconds']:.1f} s, sum of its stages {summed:.1f} s")
        return {
            "stages": stages,
            "video_job_one_process_seconds": row["seconds"],
            "video_job_sum_of_stages_seconds": summed,
            "step_caps": caps,
        }


def whole_video_job(video: Path, preset: str, config: dict[str, dict]) -> dict:
    from cosavatar_pipeline.orchestration.operations import Pipeline

    pipeline = Pipeline()
    pipeline.add_video(video, name=VIDEO, preset=preset)
    started = time.perf_counter()
    outcome = pipeline.materialize_video(VIDEO, asset_config=config)
    if not outcome.success:
        raise SystemExit(f"video job failed: {outcome.failures}")
    return {"seconds": time.perf_counter() - started}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        print(json.dumps(measure_one(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "whole-video-job":
        print(json.dumps(whole_video_job(Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,preview")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--driver", type=Path, default=DEFAULT_DRIVER)
    parser.add_argument("--cap-steps", type=int, default=60)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    for clip in (args.video, args.driver):
        if not clip.exists():
            raise SystemExit(f"{clip}: no such clip (see ../shared/videos/SOURCES.md)")
    table = json.loads(args.out.read_text()) if args.out.exists() else {"presets": {}}
    table["measured_on"] = {
        "date": date.today().isoformat(),
        "cpu_cores": os.cpu_count(),
        "machine": platform.machine(),
        "accelerator": "none (GPU-queue stages timed on the CPU)",
        "video": args.video.name,
        "edit_rounds": EDIT_ROUNDS,
    }
    for preset in args.presets.split(","):
        started = time.perf_counter()
        table["presets"][preset] = measure_preset(preset, args.video, args.driver, args.cap_steps, print)
        print(f"{preset}: {time.perf_counter() - started:.0f} s to measure", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(table, indent=2, sort_keys=True) + "\n"
        )  # after each preset: keep partial results
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
