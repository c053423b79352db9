"""The Dagster code location: the asset graph from ``assets/`` wired to the resources from ``resources/``."""

import os

import dagster as dg

from assets import ALL_ASSET_CHECKS, ALL_ASSETS, ALL_JOBS, ALL_SENSORS
from cosavatar_pipeline.home import HOME_ENV
from cosavatar_pipeline.orchestration.executors import step_executor
from resources import ComputeDevice, EditorResource, ManifestIOManager, MlflowTracking, StorageResource
from resources.tracking import DEFAULT_MLFLOW_UI

MLFLOW_UI_ENV = "COSAVATAR_MLFLOW_UI"  # where the MLflow UI serves, for the links in asset metadata
IP2P_MODEL_ENV = "COSAVATAR_IP2P_MODEL"  # InstructPix2Pix weights: a saved folder or a repo id in the HF cache


def from_environment(name: str, default: str = "") -> str:
    """``dg.EnvVar(name)`` when this process's environment sets ``name`` (Dagster reads it when a run starts, and
    the web UI shows the variable as the value's source), else ``default``."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def build_resources() -> dict:
    """The resources, their settings from the environment. ``storage`` is configured at launch: a run's config may
    name another home (the CLI passes its own), and the IO manager and tracking, which depend on it, follow."""
    storage = StorageResource.configure_at_launch(root=from_environment(HOME_ENV))
    return {
        "storage": storage,
        "manifest_io_manager": ManifestIOManager(storage=storage),
        "tracking": MlflowTracking(storage=storage, ui_url=from_environment(MLFLOW_UI_ENV, DEFAULT_MLFLOW_UI)),
        "device": ComputeDevice(),
        "editor": EditorResource(model=from_environment(IP2P_MODEL_ENV)),
    }


defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_ASSET_CHECKS,
    jobs=ALL_JOBS,
    sensors=ALL_SENSORS,
    resources=build_resources(),
    executor=step_executor(),  # COSAVATAR_EXECUTOR: multiprocess (default), celery, k8s
)


def job_named(name: str) -> dg.JobDefinition:
    """A job of this code location by name: how another process (a Celery worker, the CLI's run) rebuilds it."""
    return defs.resolve_job_def(name)


def editor_here() -> EditorResource:
    """The editor resource as a run in this process would see it (its settings read from the environment now)."""
    return build_resources()["editor"].process_config_and_initialize()
