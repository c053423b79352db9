"""Dagster resources: storage (and the manifest IO manager), MLflow tracking, compute device, editor."""

from resources.device import ComputeDevice
from resources.editor import EditorResource
from resources.storage import Manifest, ManifestIOManager, StorageResource
from resources.tracking import MlflowTracking, mlflow_metadata

__all__ = [
    "ComputeDevice",
    "EditorResource",
    "Manifest",
    "ManifestIOManager",
    "MlflowTracking",
    "StorageResource",
    "mlflow_metadata",
]
