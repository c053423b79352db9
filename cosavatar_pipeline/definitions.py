"""The Dagster code location: the asset graph from ``assets/`` wired to the resources from ``resources/``."""

import warnings

import dagster as dg

# Partitioned asset checks are "preview" in Dagster 1.13; they are what keeps a check from loading every partition.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")
# Data versions from content hashes are what make lineage show a changed input; the parameter is "beta" in 1.13.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*data_version.*")

from assets import ALL_ASSET_CHECKS, ALL_ASSETS, ALL_JOBS, ALL_SENSORS
from resources import ComputeDevice, ManifestIOManager, MlflowTracking, StorageResource


def build_resources() -> dict:
    """Resources read their roots from the environment at run time (``COSAVATAR_HOME``, ``MLFLOW_TRACKING_URI``)."""
    return {
        "storage": StorageResource(),
        "manifest_io_manager": ManifestIOManager(),
        "tracking": MlflowTracking(),
        "device": ComputeDevice(),
    }


defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_ASSET_CHECKS,
    jobs=ALL_JOBS,
    sensors=ALL_SENSORS,
    resources=build_resources(),
)
