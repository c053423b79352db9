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


# Steps share the machine's cores: parallel steps of a run, and up to max_concurrent_runs runs. With OpenMP's
# default busy-waiting, torch threads of processes that oversubscribe the cores spin against each other: the face
# fit of a 165-frame clip took 70 s in each of two processes at once on 2 cores, 16 s with passive waiting (10.5 s
# and 11.5 s alone). libgomp reads this when torch is first imported, so it must be in a step process's environment
# from its start: the forkserver and Celery workers are started with it.
STEP_PROCESS_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}


# What the forkserver imports once per run, so each step's process starts with it: the code location, and what
# steps import lazily (MLflow in every step, 1.1 s; scikit-learn in face_parsing, 1.4 s). diffusers (2.9 s) is left
# to the edit steps that load a model.
FORKSERVER_PRELOAD = ["cosavatar_pipeline.orchestration.definitions", "mlflow", "sklearn.mixture"]


def step_process_environment(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` plus ``STEP_PROCESS_ENVIRONMENT`` where it does not choose otherwise."""
    return {**STEP_PROCESS_ENVIRONMENT, **environ}


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
    # the forkserver inherits this process's environment when the run starts it
    for name, value in STEP_PROCESS_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    return dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {"preload_modules": FORKSERVER_PRELOAD}}},
        name="multiprocess",
    )
