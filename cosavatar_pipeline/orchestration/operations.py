"""What the CLI does, as functions over the persistent Dagster instance (``DAGSTER_HOME``).

Runs are recorded in the instance, so they appear in the web UI's run history. With the default executor their
steps run in this process; with ``COSAVATAR_EXECUTOR=celery`` or ``k8s`` this process orchestrates and the steps run
on the workers.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from cosavatar_pipeline.errors import RegistryError
from cosavatar_pipeline.home import HomeLayout, layout
from cosavatar_pipeline.orchestration.executors import executor_name
from cosavatar_pipeline.orchestration.instance_config import write_instance_config
from cosavatar_pipeline.registry import EditSpec, Registry, VideoRegistration, sha256_of_file
from cosavatar_pipeline.stages.face_parsing import load_labels
from cosavatar_pipeline.video.frames import check_video

LAUNCHER_TAG, PID_TAG, HOST_TAG = "cosavatar/launcher", "cosavatar/pid", "cosavatar/host"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _job(kind: str) -> dg.JobDefinition:
    """The code location's ``video``, ``edit`` or ``animation`` job (``assets/jobs.py``). The asset graph is imported on
    first use: it imports torch and mediapipe, which registering a video does not need."""
    from assets import jobs
    from cosavatar_pipeline.orchestration.definitions import defs

    job = {"video": jobs.reconstruct_video_job, "edit": jobs.apply_edit_job, "animation": jobs.check_animation_job}
    return defs.resolve_job_def(job[kind].name)


def dagster_home_for(home: HomeLayout) -> Path:
    """``DAGSTER_HOME``, else ``<COSAVATAR_HOME>/dagster``."""
    return Path(os.environ.get("DAGSTER_HOME") or home.dagster_home)


def instance_for(home: HomeLayout) -> dg.DagsterInstance:
    """The persistent instance in ``dagster_home_for(home)``, its dagster.yaml written from the repository's and the
    environment (sqlite, or PostgreSQL with ``DAGSTER_POSTGRES_URL``)."""
    dagster_home = dagster_home_for(home)
    write_instance_config(dagster_home)
    return dg.DagsterInstance.from_config(str(dagster_home))


@dataclass
class StepOutcome:
    partition: str
    success: bool
    failures: list[str]
    run_id: str


class Pipeline:
    """The project's registry and its Dagster instance, kept in step."""

    def __init__(self, home: HomeLayout | None = None, instance: dg.DagsterInstance | None = None):
        """home: default the one ``COSAVATAR_HOME`` names, which every process of a run (Celery workers included)
        reads from its own environment; a home given here travels with each run's config instead."""
        self.home = home or layout()
        self.registry = Registry(self.home.registry)
        self.instance = instance or instance_for(self.home)
        # Step logs at INFO (progress lines, results); Dagster's DEBUG event stream stays in the run's event log.
        self.run_config: dict = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
        if home is not None:
            self.run_config["resources"] = {"storage": {"config": {"root": str(self.home.root)}}}

    # registration -----------------------------------------------------------------------------------------------
    def add_video(self, path: Path, name: str | None = None, preset: str | None = None) -> VideoRegistration:
        check_video(Path(path))
        entry = self.registry.register_video(Path(path), name=name, preset=preset)
        self.instance.add_dynamic_partitions("video", [entry.name])
        return entry

    def ensure_video(self, path: Path, name: str | None = None, preset: str | None = None) -> VideoRegistration:
        """Register ``path`` unless the same file is registered already; either way the partition exists."""
        existing = self.registry.find_video_by_sha256(sha256_of_file(Path(path)))
        if existing is None:
            return self.add_video(path, name=name, preset=preset)
        self.instance.add_dynamic_partitions("video", [existing.name])
        return existing

    def add_edit(self, prompt: str, **options) -> EditSpec:
        """Register the edit (``options`` as ``Registry.register_edit`` takes them) and add its partition."""
        spec = self.registry.register_edit(prompt, **options)
        self.instance.add_dynamic_partitions("edit", [spec.name])
        return spec

    def ensure_edit(self, prompt: str, name: str) -> EditSpec:
        if name in self.registry.edit_names():
            spec = self.registry.get_edit(name)
            self.instance.add_dynamic_partitions("edit", [name])
            return spec
        return self.add_edit(prompt, name=name)

    # runs ---------------------------------------------------------------------------------------------------------
    def materialize_video(
        self, video: str, select: list[str] | None = None, asset_config: dict[str, dict] | None = None
    ) -> StepOutcome:
        """Run the video-stage job for one partition; ``asset_config`` maps asset names to their run config."""
        self.registry.get_video(video)
        if video not in self.instance.get_dynamic_partitions("video"):
            self.instance.add_dynamic_partitions("video", [video])
        if select:
            self._check_upstream_stored(video, select)
        return self._execute(_job("video"), video, select, asset_config)

    def _check_upstream_stored(self, video: str, select: list[str]) -> None:
        """Before a run of only some stages: each input they read is selected too or already stored."""
        from cosavatar_pipeline.orchestration.definitions import defs

        graph, chosen = defs.resolve_asset_graph(), set(select)
        for name in select:
            if not graph.has(dg.AssetKey(name)):
                continue  # an unknown name: _execute says which exist
            for parent in sorted(graph.get(dg.AssetKey(name)).parent_keys):
                stage = parent.path[-1]
                if stage in self.video_asset_names() and stage not in chosen and video not in self.materialized(stage):
                    raise RegistryError(
                        f"{name} of video {video!r} reads {stage}, which is not stored: run `cosavatar materialize "
                        f"--video {video} --select {stage}` first, or add {stage} to --select"
                    )

    def materialize_animation(self, video: str, driver: str = "") -> StepOutcome:
        """`avatar_reenactment` of one video: its unedited avatar driven by ``driver`` (default: see the asset)."""
        self.registry.get_video(video)
        if video not in self.materialized("avatar"):
            raise RegistryError(f"video {video!r} has no avatar yet: run `cosavatar materialize --video {video}` first")
        config = {"avatar_reenactment": {"driver": driver}} if driver else None
        return self._execute(_job("animation"), video, None, config)

    def check_edit(self, edit: str, video: str) -> None:
        """What would fail an edit's first round, checked before launching it: both registered, the video's avatar
        stored, the edit's region present in the video, its editor able to run here."""
        from assets.edit_rounds import check_edit_can_run
        from cosavatar_pipeline.orchestration.definitions import editor_here

        spec = self.registry.get_edit(edit)
        self.registry.get_video(video)
        missing = [name for name in ("face_parsing", "avatar") if video not in self.materialized(name)]
        if missing:
            raise RegistryError(
                f"video {video!r} has no {' or '.join(missing)} yet: run `cosavatar materialize --video {video}` first"
            )
        labels = load_labels(self.asset_folder("face_parsing", video))
        check_edit_can_run(spec, video, labels, editor_here())

    def materialize_edit(
        self, edit: str, video: str, select: list[str] | None = None, asset_config: dict[str, dict] | None = None
    ) -> StepOutcome:
        """Run the edit-stage job for one (edit, video) partition; the video's own stages are read as they are."""
        self.check_edit(edit, video)
        for dimension, key in (("edit", edit), ("video", video)):
            if key not in self.instance.get_dynamic_partitions(dimension):
                self.instance.add_dynamic_partitions(dimension, [key])
        return self._execute(_job("edit"), dg.MultiPartitionKey({"edit": edit, "video": video}), select, asset_config)

    def _execute(
        self, job, partition_key: str, select: list[str] | None, asset_config: dict[str, dict] | None
    ) -> StepOutcome:
        selection = None
        if select:
            known = {key.path[-1]: key for key in job.asset_layer.executable_asset_keys}
            unknown = [name for name in select if name not in known]
            if unknown:
                raise RegistryError(f"unknown asset(s) {unknown}; {job.name} runs {sorted(known)}")
            selection = [known[name] for name in select]
        run_config = {
            **self.run_config,
            "ops": {name: {"config": values} for name, values in (asset_config or {}).items()},
        }
        self.reap_dead_runs()
        tags = {LAUNCHER_TAG: "cli", PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
        if executor_name() == "multiprocess":
            result = job.execute_in_process(
                run_config=run_config,
                tags=tags,
                partition_key=partition_key,
                instance=self.instance,
                asset_selection=selection,
                raise_on_error=False,
            )
        else:
            # Steps go to the configured executor (Celery workers, Kubernetes jobs); this process orchestrates.
            result = dg.execute_job(
                dg.build_reconstructable_job("cosavatar_pipeline.orchestration.definitions", "job_named", (job.name,)),
                instance=self.instance,
                run_config=run_config,
                tags={**tags, **job.partitions_def.get_tags_for_partition_key(partition_key)},
                asset_selection=selection,
            )
        return StepOutcome(str(partition_key), result.success, step_failure_messages(result), result.run_id)

    def reap_dead_runs(self) -> list[str]:
        """Mark runs of this machine's CLI whose process died (killed, crashed) as failed and free the pool slots
        they held; otherwise a dead run keeps the `gpu` slot and every later GPU step waits for it forever."""
        reaped = []
        started = self.instance.get_runs(
            filters=dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.STARTED], tags={LAUNCHER_TAG: "cli", HOST_TAG: socket.gethostname()}
            )
        )
        for run in started:
            pid = int(run.tags.get(PID_TAG, "0"))
            if pid and pid != os.getpid() and not _process_alive(pid):
                self.instance.report_run_failed(run, f"its process {pid} ended without finishing (killed or crashed)")
                self.instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
                reaped.append(run.run_id)
        return reaped

    def materialized(self, asset_name: str) -> set[str]:
        return set(self.instance.get_materialized_partitions(dg.AssetKey(asset_name)))

    def asset_folder(self, asset_name: str, partition: str) -> Path:
        from resources.storage import partition_folder

        return partition_folder(self.home.store, asset_name, partition)

    def video_asset_names(self) -> list[str]:
        return self._job_asset_names("video")

    def edit_asset_names(self) -> list[str]:
        return self._job_asset_names("edit")

    def edit_prerequisites(self) -> list[str]:
        """The video stages the edit stages read (upstream of them), in graph order."""
        from cosavatar_pipeline.orchestration.definitions import defs

        graph = defs.resolve_asset_graph()
        edit_keys = [dg.AssetKey(name) for name in self.edit_asset_names()]
        upstream = dg.AssetSelection.assets(*edit_keys).upstream().resolve(graph)
        return [name for name in self.video_asset_names() if dg.AssetKey(name) in upstream]

    @staticmethod
    def _job_asset_names(kind: str) -> list[str]:
        from cosavatar_pipeline.orchestration.definitions import defs

        in_job = _job(kind).asset_layer.executable_asset_keys
        return [key.path[-1] for key in defs.resolve_asset_graph().toposorted_asset_keys if key in in_job]


def step_failure_messages(result) -> list[str]:
    """One line per failed step: the user-facing description of a Failure, else the error message."""
    messages = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        data = event.step_failure_data
        description = data.user_failure_data.description if data.user_failure_data else None
        messages.append(f"{event.step_key}: {description or data.error.message.strip()}")
    return messages
