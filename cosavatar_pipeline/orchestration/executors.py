"""Where steps run, chosen by ``COSAVATAR_EXECUTOR``: on this machine, on Celery workers, or as Kubernetes jobs.

- ``multiprocess`` (default): one process per step, forked from a server per run that has imported the code
  location once (a fresh interpreter per step would import torch, mediapipe and diffusers again: ~4 s a step).
- ``celery``: ``dagster-celery``. CPU steps go to the ``dagster`` queue, GPU steps (the ``gpu`` pool,
  ``assets/placement.py``) to the ``gpu`` queue, so the two kinds of worker scale independently. Start workers with
  ``cosavatar worker --queue gpu``.
- ``k8s``: ``dagster-k8s``'s ``k8s_job_executor``: one Kubernetes job per step; GPU steps request a GPU through
  their ``dagster-k8s/config`` tag. Configured by the Helm chart (``deploy/k8s/values.yaml``), not tested here.

Every setting is read from the environment of the process that builds the code location, so the webserver, the
daemon, the run worker and the Celery workers agree when they share one environment.
"""

from __future__ import annotations

import os

import dagster as dg

from cosavatar_pipeline.errors import SettingError

EXECUTOR_ENV = "COSAVATAR_EXECUTOR"
EXECUTORS = ("multiprocess", "celery", "k8s")

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
# Redis gives an unacknowledged task back to the queue this long after a worker took it: it must exceed the
# longest step (a `high` avatar on a GPU), or a step still running is started a second time elsewhere.
DEFAULT_VISIBILITY_TIMEOUT_S = 12 * 3600


def executor_name() -> str:
    name = os.environ.get(EXECUTOR_ENV, "multiprocess").strip() or "multiprocess"
    if name not in EXECUTORS:
        raise SettingError(f"{EXECUTOR_ENV}={name!r}: choose one of {', '.join(EXECUTORS)}")
    return name


def celery_settings() -> dict:
    """The ``celery_executor`` config; workers are started with the same block (``cosavatar worker``).

    Tasks are acknowledged when they end, not when they start: a worker that dies mid-step leaves its task to be
    delivered again (at once on RabbitMQ, after the visibility timeout on Redis). A step whose process is killed
    while its worker lives (out of memory) fails, and the run retry in dagster.yaml re-runs it from failure."""
    broker = os.environ.get("COSAVATAR_CELERY_BROKER") or DEFAULT_BROKER
    visibility_timeout = int(os.environ.get("COSAVATAR_CELERY_VISIBILITY_TIMEOUT_S") or DEFAULT_VISIBILITY_TIMEOUT_S)
    return {
        "broker": broker,
        "backend": os.environ.get("COSAVATAR_CELERY_BACKEND") or broker,
        "config_source": {
            "task_acks_late": True,
            "worker_prefetch_multiplier": 1,
            "broker_transport_options": {"visibility_timeout": visibility_timeout},
            "result_backend_transport_options": {"visibility_timeout": visibility_timeout},
            "broker_connection_retry_on_startup": True,
        },
    }


def step_executor() -> dg.ExecutorDefinition:
    name = executor_name()
    if name == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_settings(), name="celery")
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {"preload_modules": ["cosavatar_pipeline.orchestration.definitions"]}}},
        name="multiprocess",
    )
