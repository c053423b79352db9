"""Dagster resources: storage (and the manifest IO manager), MLflow tracking, compute device."""

from resources.device import ComputeDevice
from resources.storage import Manifest, ManifestIOManager, StorageResource
from resources.tracking import MlflowTracking, mlflow_metadata

__all__ = ["ComputeDevice", "Manifest", "ManifestIOManager", "MlflowTracking", "StorageResource", "mlflow_metadata"]
