"""Scale-out configuration, each piece on its own: instance storage, executor choice, GPU step tags for Kubernetes,
store and MLflow artifact URIs, the capacity model. The distributed run itself is tests/test_scale_out.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from assets.placement import GPU_QUEUE
from cosavatar_pipeline.capacity import StageCost, estimate, stage_costs
from cosavatar_pipeline.home import HomeLayout, cosavatar_home
from cosavatar_pipeline.orchestration.executors import celery_settings, executor_name
from cosavatar_pipeline.orchestration.instance_config import MARKER, instance_settings, write_instance_config

PG_URL = "postgresql+psycopg2://dagster:secret@db.internal:5432/dagster"


def test_instance_config_is_sqlite_by_default_and_postgres_from_the_environment(tmp_path):
    default = instance_settings({})
    assert "storage" not in default and default["run_retries"] == {"enabled": True, "max_retries": 1}

    path = write_instance_config(tmp_path, {"DAGSTER_POSTGRES_URL": PG_URL, "COSAVATAR_GPU_SLOTS": "4"})
    text = path.read_text()
    assert text.startswith(MARKER) and "secret" not in text  # the URL stays in the environment
    written = yaml.safe_load(text)
    assert written["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_POSTGRES_URL"}}}
    assert written["concurrency"]["pools"]["default_limit"] == 4

    # Dagster itself accepts the file and builds PostgreSQL storages from it (no connection is made to build them).
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("DAGSTER_POSTGRES_URL", PG_URL)
        instance_ref = dg._core.instance.ref.InstanceRef.from_dir(str(tmp_path))  # noqa: SLF001
        assert instance_ref.run_storage_data.class_name == "PostgresRunStorage"
        assert instance_ref.event_storage_data.class_name == "PostgresEventLogStorage"

    # A file the user wrote themselves is theirs, but it may not silently ignore a request for PostgreSQL.
    path.write_text("telemetry:\n  enabled: false\n")
    write_instance_config(tmp_path, {})
    assert path.read_text() == "telemetry:\n  enabled: false\n"
    with pytest.raises(ValueError, match="DAGSTER_POSTGRES_URL is set, but .* keeps the instance in sqlite"):
        write_instance_config(tmp_path, {"DAGSTER_POSTGRES_URL": PG_URL})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"DAGSTER_POSTGRES_URL": "postgresql://dagster@db/dagster"},
            re.escape("must start with postgresql+psycopg2://"),
        ),
        ({"COSAVATAR_GPU_SLOTS": "0"}, "COSAVATAR_GPU_SLOTS='0'"),
        ({"COSAVATAR_MAX_CONCURRENT_RUNS": "many"}, "expected a whole number"),
    ],
)
def test_instance_config_refuses_bad_settings_by_name(environ, message):
    with pytest.raises(ValueError, match=message):
        instance_settings(environ)


def test_executor_is_chosen_by_environment(monkeypatch):
    from cosavatar_pipeline.orchestration.executors import step_executor

    assert executor_name() == "multiprocess"
    monkeypatch.setenv("COSAVATAR_EXECUTOR", "celery")
    monkeypatch.setenv("COSAVATAR_CELERY_BROKER", "redis://broker.internal:6379/0")
    assert step_executor().name == "celery"
    settings = celery_settings()
    assert settings["broker"] == settings["backend"] == "redis://broker.internal:6379/0"
    assert settings["config_source"]["task_acks_late"] is True
    monkeypatch.setenv("COSAVATAR_EXECUTOR", "k8s")
    assert step_executor().name == "k8s"
    monkeypatch.setenv("COSAVATAR_EXECUTOR", "spark")
    with pytest.raises(ValueError, match="COSAVATAR_EXECUTOR='spark': choose one of multiprocess, celery, k8s"):
        executor_name()


@pytest.mark.parametrize("chosen, seen", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_step_processes_start_with_passive_openmp_waiting_unless_the_environment_chose(chosen, seen):
    """What a run's forkserver inherits from the process that loaded the code location (steps of parallel runs
    oversubscribe the cores; busy-waiting torch threads then ran 4-7x slower)."""
    import os

    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | (
        {"OMP_WAIT_POLICY": chosen} if chosen else {}
    )
    printed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, cosavatar_pipeline.orchestration.definitions; print(os.environ['OMP_WAIT_POLICY'])",
        ],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert printed.stdout.split()[-1:] == [seen], printed.stderr[-2000:]
    from cosavatar_pipeline.orchestration.executors import step_process_environment

    assert step_process_environment(environ)["OMP_WAIT_POLICY"] == seen  # what `cosavatar worker` starts Celery with


def test_gpu_steps_get_the_gpu_queue_and_a_gpu_pod_the_others_neither():
    from dagster_k8s.job import get_user_defined_k8s_config

    from cosavatar_pipeline.orchestration.definitions import defs

    job = defs.resolve_job_def("reconstruct_video")
    tags = {node.name: node.definition.tags for node in job.graph.nodes}
    assert tags["avatar"]["dagster-celery/queue"] == GPU_QUEUE
    assert "dagster-celery/queue" not in tags["face_parsing"]
    # dagster-k8s validates the tag as it would before launching the step's job.
    gpu_pod = get_user_defined_k8s_config(tags["avatar"])
    assert gpu_pod.container_config["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert get_user_defined_k8s_config(tags["face_parsing"]).container_config == {}


def test_k8s_values_file_names_the_k8s_executor_and_psycopg2():
    values = yaml.safe_load((Path(__file__).resolve().parents[1] / "deploy" / "k8s" / "values.yaml").read_text())
    deployment = values["dagster-user-deployments"]["deployments"][0]
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert env["COSAVATAR_EXECUTOR"] == "k8s" and deployment["dagsterApiGrpcArgs"] == [
        "-m",
        "cosavatar_pipeline.orchestration.definitions",
    ]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"


def test_store_root_takes_a_path_or_file_uri_and_refuses_object_stores(monkeypatch, tmp_path):
    monkeypatch.setenv("COSAVATAR_HOME", (tmp_path / "shared store").as_uri())
    assert cosavatar_home() == tmp_path / "shared store"
    monkeypatch.setenv("COSAVATAR_HOME", "s3://bucket/cosavatar")
    with pytest.raises(
        ValueError, match="COSAVATAR_HOME='s3://bucket/cosavatar': the store must be a shared filesystem"
    ):
        cosavatar_home()


def test_mlflow_artifact_root_follows_the_tracking_store(monkeypatch, tmp_path):
    home = HomeLayout(tmp_path)
    monkeypatch.delenv("COSAVATAR_MLFLOW_ARTIFACTS", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert home.mlflow_artifact_root == (tmp_path / "mlartifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert home.mlflow_artifact_root is None  # the server decides (and proxies uploads)
    monkeypatch.setenv("COSAVATAR_MLFLOW_ARTIFACTS", "s3://bucket/mlflow")
    assert home.mlflow_artifact_root == "s3://bucket/mlflow"


COSTS = {
    "frames": StageCost(10.0, 500, "cpu", "video"),
    "avatar": StageCost(100.0, 2000, "gpu", "video"),
    "edit_round": StageCost(30.0, 1500, "gpu", "edit"),
    "final_render": StageCost(5.0, 1200, "gpu", "edit"),
}


def test_capacity_bounds_add_up_work_per_worker_and_the_longest_chain():
    result = estimate(COSTS, videos=10, edits=4, cpu_workers=2, gpu_workers=5)
    assert result.cpu_work_s == 100.0  # 10 videos x 10 s
    assert result.gpu_work_s == 10 * 100.0 + 40 * 35.0  # videos x avatar + (video, edit) pairs x edit stages
    assert result.chain_s == 145.0
    assert result.makespan_lower_s == max(100.0 / 2, 2400.0 / 5, 145.0) == 480.0
    assert result.makespan_upper_s == 50.0 + 480.0 + 145.0
    assert (result.cpu_worker_memory_mib, result.gpu_worker_memory_mib) == (500, 2000)
    # Doubling GPU workers halves the GPU-bound part, and no more.
    assert estimate(COSTS, 10, 4, 2, 10).makespan_lower_s == 240.0
    with pytest.raises(ValueError):
        estimate(COSTS, 10, 4, 0, 1)


def test_capacity_cli_reports_from_a_table_and_names_a_missing_one(tmp_path):
    table = tmp_path / "capacity.json"
    rows = {
        name: {"seconds": c.seconds, "peak_rss_mib": c.peak_rss_mib, "queue": c.queue, "per": c.per}
        for name, c in COSTS.items()
    }
    table.write_text(
        json.dumps({"measured_on": {"date": "2026-11-29", "cpu_cores": 2}, "presets": {"tiny": {"stages": rows}}})
    )
    cli = [sys.executable, "-c", "from cosavatar_pipeline.cli import main; main()", "capacity"]
    done = subprocess.run(
        cli
        + [
            "--videos",
            "10",
            "--edits",
            "4",
            "--cpu-workers",
            "2",
            "--gpu-workers",
            "5",
            "--preset",
            "tiny",
            "--table",
            str(table),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "between 0.13 h" in done.stdout and "and 0.19 h" in done.stdout, done.stdout
    missing = subprocess.run(
        cli + ["--videos", "1", "--edits", "1", "--preset", "high", "--table", str(table)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "preset 'high' is not in the capacity table (measured: tiny)" in missing.stderr


def test_committed_capacity_table_covers_every_stage_of_the_graph():
    """benchmarks/results/capacity.json is measured (make bench-capacity); the model needs a row for every stage."""
    from cosavatar_pipeline.capacity import DEFAULT_TABLE, load_table

    table = load_table(DEFAULT_TABLE)
    rounds = table["measured_on"]["edit_rounds"]
    expected = {
        "source_video",
        "frames",
        "face_landmarks",
        "face_coefficients",
        "face_parsing",
        "background_plate",
        "driving_motion",
        "avatar",
        "reconstruction_render",
        "final_render",
        "reenacted_render",
    }
    expected |= {f"edited_{kind}_round_{k}" for kind in ("dataset", "avatar") for k in range(1, rounds + 1)}
    for preset in ("tiny", "preview"):
        costs = stage_costs(table, preset)
        assert set(costs) == expected, preset
        assert all(cost.seconds > 0 and cost.peak_rss_mib > 100 for cost in costs.values()), preset
        assert {name for name, cost in costs.items() if cost.queue == "gpu"} == {
            name
            for name in expected
            if name.startswith(("avatar", "edited_", "reconstruction_", "final_", "reenacted_"))
        }
