"""The Dagster code location: the asset graph from ``assets/`` wired to the resources from ``resources/``."""

import dagster as dg

from assets import ALL_ASSET_CHECKS, ALL_ASSETS, ALL_JOBS, ALL_SENSORS
from cosavatar_pipeline.orchestration.executors import step_executor
from resources import ComputeDevice, EditorResource, ManifestIOManager, MlflowTracking, StorageResource


def build_resources() -> dict:
    """Resources read their roots from the environment at run time (``COSAVATAR_HOME``, ``MLFLOW_TRACKING_URI``)."""
    return {
        "storage": StorageResource(),
        "manifest_io_manager": ManifestIOManager(),
        "tracking": MlflowTracking(),
        "device": ComputeDevice(),
        "editor": EditorResource(),
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
