"""Where GPU steps go: the `gpu` pool (one slot per GPU, see dagster.yaml) everywhere, and the op tags that send them
to the `gpu` Celery queue or give them a GPU pod on Kubernetes (other executors ignore the tags)."""

import json

GPU_POOL = "gpu"
GPU_QUEUE = "gpu"
CELERY_QUEUE_TAG = "dagster-celery/queue"
K8S_CONFIG_TAG = "dagster-k8s/config"

# A GPU step's Kubernetes pod: one GPU, and room for the NeRF's batches and the editor's weights.
GPU_STEP_K8S_CONFIG = {
    "container_config": {
        "resources": {
            "requests": {"cpu": "4", "memory": "24Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "48Gi", "nvidia.com/gpu": "1"},
        }
    },
    "pod_spec_config": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
}

GPU_STEP_TAGS = {CELERY_QUEUE_TAG: GPU_QUEUE, K8S_CONFIG_TAG: json.dumps(GPU_STEP_K8S_CONFIG)}
