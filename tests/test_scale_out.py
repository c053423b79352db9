"""The pipeline on a distributed engine: PostgreSQL instance storage, Celery workers fed through Redis (one CPU
worker on the `dagster` queue, one GPU worker on the `gpu` queue), an MLflow tracking server that stores the
artifacts the workers upload, and a store shared by every process (given as a file:// URI).

A user's day at scale, as they would run it: `dagster dev` (webserver + daemon) over that instance, two videos
registered from the CLI and backfilled through GraphQL at the tiny preset, then one edit with `cosavatar materialize`.
While the first avatar trains, the process running it on the GPU worker is killed (SIGKILL, as the kernel's OOM killer
would); the run fails, the daemon retries it from the failure, and the retried step resumes from the avatar's
checkpoint.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from assets.jobs import EDIT_STAGE_GROUPS, VIDEO_STAGE_GROUPS
from cosavatar_pipeline.nerf.checkpoint import META_FILE
from cosavatar_pipeline.orchestration.instance_config import write_instance_config
from tests.conftest import latest_materialization, materialization_counts
from tests.dagster_dev import BACKFILL_STATUS, LAUNCH_BACKFILL, SET_NUX_SEEN, DagsterDev
from tests.services import missing_services, mlflow_server, postgres_server, redis_server

VIDEOS = ("astronaut_talking", "astronaut_driver")
KILLED_VIDEO = "astronaut_talking"
EDIT = "pink_hair"
CLI = [sys.executable, "-c", "from cosavatar_pipeline.cli import main; main()"]
DONE_BACKFILL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

pytestmark = pytest.mark.slow


@dataclass
class Worker:
    name: str
    queue: str
    process: subprocess.Popen
    log: Path

    def process_ids(self) -> set[int]:
        """The worker and every process below it (Celery's main process and its pool)."""
        found, frontier = {self.process.pid}, [self.process.pid]
        while frontier:
            parent = frontier.pop()
            children = Path(f"/proc/{parent}/task/{parent}/children")
            for child in children.read_text().split() if children.exists() else []:
                found.add(int(child))
                frontier.append(int(child))
        return found


@dataclass
class Cluster:
    env: dict[str, str]
    home: Path
    mlflow_url: str
    mlflow_artifacts: Path
    dev: DagsterDev
    workers: dict[str, Worker]
    killed_run_id: str = ""
    backfill_status: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])


def _start_worker(env: dict[str, str], name: str, queue: str, folder: Path) -> Worker:
    log = folder / f"worker_{name}.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            CLI + ["worker", "--queue", queue, "--name", name],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = Worker(name, queue, process, log)
    deadline = time.monotonic() + 120
    while f"{name}@" not in log.read_text(errors="replace") or " ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"worker {name} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(1)
    return worker


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(CLI + list(args), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def _backfill(dev: DagsterDev, title: str, assets: list[str], partitions: list[str]) -> str:
    launched = dev.graphql(
        LAUNCH_BACKFILL,
        params={
            "title": title,
            "assetSelection": [{"path": [name]} for name in assets],
            "partitionNames": partitions,
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def _wait_backfill(dev: DagsterDev, backfill_id: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = dev.graphql(BACKFILL_STATUS, backfillId=backfill_id)["partitionBackfillOrError"]["status"]
        if status in DONE_BACKFILL:
            return status
        time.sleep(3)
    raise AssertionError(f"backfill {backfill_id} not done in {timeout_s} s:\n{dev.log_tail()}")


def _step_start_pid(instance: dg.DagsterInstance, step_key: str, partition: str) -> tuple[str, int] | None:
    for run in instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": partition})):
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START):
            if record.step_key == step_key:
                return run.run_id, record.dagster_event.pid
    return None


def _kill_avatar_after_first_checkpoint(cluster: Cluster, timeout_s: float = 600) -> None:
    """SIGKILL the process training KILLED_VIDEO's avatar on the GPU worker once a checkpoint is on disk."""
    checkpoint = cluster.home / "checkpoints" / "avatar" / KILLED_VIDEO / META_FILE
    deadline = time.monotonic() + timeout_s
    while not checkpoint.exists():
        assert time.monotonic() < deadline, f"no avatar checkpoint for {KILLED_VIDEO}:\n{cluster.dev.log_tail()}"
        time.sleep(0.5)
    with cluster.instance() as instance:
        found = _step_start_pid(instance, "avatar", KILLED_VIDEO)
    assert found, "the avatar step has a checkpoint but no STEP_START event"
    run_id, pid = found
    assert pid in cluster.workers["gpu"].process_ids(), f"avatar step pid {pid} is not a gpu worker process"
    os.kill(pid, signal.SIGKILL)
    cluster.killed_run_id = run_id


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, short_sample_clips):
    missing = missing_services()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install {', '.join(missing)} (.ci/run does)")
        pytest.skip(f"not installed: {', '.join(missing)} (apt-get install postgresql redis-server)")
    root = tmp_path_factory.mktemp("scale_out")
    with ExitStack() as stack:
        started = time.monotonic()
        postgres_url = stack.enter_context(postgres_server(root / "postgres"))
        broker_url = stack.enter_context(redis_server(root / "redis"))
        mlflow_url, mlflow_artifacts = stack.enter_context(mlflow_server(root / "mlflow"))
        home = root / "shared_home"
        env = {
            **os.environ,
            "DAGSTER_HOME": str(root / "dagster_home"),
            "DAGSTER_POSTGRES_URL": postgres_url,
            "COSAVATAR_HOME": home.as_uri(),
            "COSAVATAR_EXECUTOR": "celery",
            "COSAVATAR_CELERY_BROKER": broker_url,
            "MLFLOW_TRACKING_URI": mlflow_url,
            "COSAVATAR_MLFLOW_UI": mlflow_url,
            "COSAVATAR_PRESET": "tiny",
            "COSAVATAR_IP2P_MODEL": str(root / "no_ip2p_weights"),  # none on these machines: procedural editor
            "GLOG_minloglevel": "2",
        }
        write_instance_config(Path(env["DAGSTER_HOME"]), env)
        monkeypatch = stack.enter_context(pytest.MonkeyPatch.context())
        monkeypatch.setenv("DAGSTER_POSTGRES_URL", postgres_url)  # this process reads the instance too
        workers = {name: _start_worker(env, name, queue, root) for name, queue in (("cpu", "dagster"), ("gpu", "gpu"))}
        for worker in workers.values():
            stack.callback(lambda w=worker: (os.killpg(w.process.pid, signal.SIGKILL), w.process.wait(30)))
        dev = DagsterDev(env, root / "dagster_dev.log")
        stack.callback(dev.stop)
        dev.wait_until_loaded()
        dev.graphql(SET_NUX_SEEN)
        cluster = Cluster(env, home, mlflow_url, mlflow_artifacts, dev, workers)
        cluster.timings_s["services_and_workers"] = time.monotonic() - started

        for video in VIDEOS:
            _cli(env, "add-video", str(short_sample_clips[video]), "--name", video)
        started = time.monotonic()
        videos_backfill = _backfill(dev, "two videos", dev.asset_names(VIDEO_STAGE_GROUPS), list(VIDEOS))
        _kill_avatar_after_first_checkpoint(cluster)
        cluster.backfill_status["videos"] = _wait_backfill(dev, videos_backfill, timeout_s=900)
        cluster.timings_s["videos"] = time.monotonic() - started

        # The edit from the CLI: its process orchestrates the run, the steps go to the workers.
        _cli(env, "add-edit", "give her pink hair", "--name", EDIT, "--rounds", "1")
        started = time.monotonic()
        _cli(env, "materialize", "--edit", EDIT, "--video", KILLED_VIDEO)
        cluster.timings_s["edit"] = time.monotonic() - started
        yield cluster
        print(f"\nscale-out timings (s): { {k: round(v, 1) for k, v in cluster.timings_s.items()} }")


def test_instance_storage_is_postgres(cluster):
    with cluster.instance() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert not list(Path(cluster.env["DAGSTER_HOME"]).rglob("*.db")), "no sqlite files beside a PostgreSQL instance"
    # the workers' settings carry the broker URL (a password, in production): owner-only
    assert stat.S_IMODE((Path(cluster.env["DAGSTER_HOME"]) / "celery-worker.yaml").stat().st_mode) == 0o600


def test_two_videos_and_one_edit_materialized(cluster):
    with cluster.instance() as instance:
        edit_runs = instance.get_runs(filters=dg.RunsFilter(tags={"cosavatar/launcher": "cli"}))
        assert [run.status for run in edit_runs] == [dg.DagsterRunStatus.SUCCESS]
        for name in cluster.dev.asset_names(VIDEO_STAGE_GROUPS):
            assert set(instance.get_materialized_partitions(dg.AssetKey(name))) == set(VIDEOS), name
        for name in cluster.dev.asset_names(EDIT_STAGE_GROUPS):
            assert set(instance.get_materialized_partitions(dg.AssetKey(name))) == {f"{EDIT}|{KILLED_VIDEO}"}, name


def test_gpu_steps_ran_only_on_the_gpu_worker(cluster):
    """Celery reports in each step's event log which worker ran it; every step that started is accounted for."""
    backfilled = set(cluster.dev.asset_names(VIDEO_STAGE_GROUPS)) | set(cluster.dev.asset_names(EDIT_STAGE_GROUPS))
    gpu_assets = {
        name for name, node in cluster.dev.asset_nodes().items() if "gpu" in node["pools"] and name in backfilled
    }
    ran_on: dict[str, set[str]] = {"cpu": set(), "gpu": set()}
    started = set()
    with cluster.instance() as instance:
        for run in instance.get_runs():
            for record in instance.all_logs(run.run_id):
                event = record.dagster_event
                if event is None:
                    continue
                if event.event_type == dg.DagsterEventType.ENGINE_EVENT and "in celery worker" in (event.message or ""):
                    worker = event.engine_event_data.metadata["Celery worker"].value.split("@")[0]
                    ran_on[worker].add(record.step_key)
                if event.event_type == dg.DagsterEventType.STEP_START:
                    started.add(record.step_key)
    assert ran_on["gpu"] == gpu_assets, ran_on["gpu"]  # every GPU asset ran there, and nothing else did
    assert not ran_on["cpu"] & gpu_assets, ran_on["cpu"] & gpu_assets
    assert {"source_video", "face_parsing", "face_coefficients"} <= ran_on["cpu"]
    assert started == ran_on["cpu"] | ran_on["gpu"]


def test_killed_step_is_retried_from_its_checkpoint_and_nothing_is_lost(cluster):
    assert cluster.backfill_status["videos"] in {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED"}
    killed_run_id = cluster.killed_run_id
    with cluster.instance() as instance:
        assert instance.get_run_by_id(killed_run_id).status == dg.DagsterRunStatus.FAILURE
        retries = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": killed_run_id}))
        assert [run.status for run in retries] == [dg.DagsterRunStatus.SUCCESS]
        retried_steps = {
            r.step_key for r in instance.all_logs(retries[0].run_id, of_type=dg.DagsterEventType.STEP_START)
        }
        assert "avatar" in retried_steps and "face_parsing" not in retried_steps, retried_steps
        # Every video stage was materialized once per video: nothing finished before the kill was redone.
        names = cluster.dev.asset_names(VIDEO_STAGE_GROUPS)
        assert materialization_counts(instance, names) == {name: len(VIDEOS) for name in names}
        resumed_from = latest_materialization(instance, "avatar", KILLED_VIDEO).metadata["resumed_from_step"].value
    assert resumed_from >= 50, f"the retried avatar trained from step {resumed_from}, not from its checkpoint"
    assert not (cluster.home / "checkpoints" / "avatar" / KILLED_VIDEO).exists(), "scratch is cleared after success"


def test_mlflow_runs_and_artifacts_went_to_the_tracking_server(cluster):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=cluster.mlflow_url)
    experiment = client.get_experiment_by_name("cosavatar")
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    names = {run.info.run_name for run in runs}
    for video in VIDEOS:
        assert f"avatar[{video}]" in names
    assert f"final_render[{EDIT}|{KILLED_VIDEO}]" in names
    avatar = next(
        run for run in runs if run.info.run_name == f"avatar[{KILLED_VIDEO}]" and run.info.status == "FINISHED"
    )
    assert [a.path for a in client.list_artifacts(avatar.info.run_id)] == ["holdout_gt_render_depth.png"]
    assert list(cluster.mlflow_artifacts.rglob("holdout_gt_render_depth.png")), "uploads land in the server's store"
    assert not (cluster.home / "mlartifacts").exists(), "workers wrote artifacts beside the store, not to the server"
