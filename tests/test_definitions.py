import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from cosavatar_pipeline.orchestration.definitions import defs

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_asset_graph_and_partitions():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"source_video", "frames"} <= keys
    frames_node = graph.get(dg.AssetKey("frames"))
    assert frames_node.parent_keys == {dg.AssetKey("source_video")}
    assert frames_node.partitions_def.name == "video"
    job = defs.resolve_job_def("reconstruct_video")
    assert {dg.AssetKey("source_video"), dg.AssetKey("frames")} <= set(job.asset_layer.executable_asset_keys)
    assert defs.resolve_sensor_def("video_inbox_sensor").job_name == "reconstruct_video"


AVATAR_DATA = {"frames", "face_coefficients", "face_parsing", "background_plate"}
# asset: (partition dimensions, group, pool, inputs); K = 3 edit rounds
EXPECTED_GRAPH = {
    "source_video": (["video"], "ingest", None, set()),
    "frames": (["video"], "ingest", None, {"source_video"}),
    "face_landmarks": (["video"], "face", None, {"frames"}),
    "face_coefficients": (["video"], "face", None, {"frames", "face_landmarks"}),
    "driving_motion": (["video"], "face", None, {"face_coefficients"}),
    "face_parsing": (["video"], "parsing", None, {"frames", "face_landmarks"}),
    "background_plate": (["video"], "parsing", None, {"frames", "face_parsing"}),
    "avatar": (["video"], "reconstruction", "gpu", AVATAR_DATA),
    "reconstruction_render": (["video"], "reconstruction", "gpu", AVATAR_DATA | {"avatar", "source_video"}),
    "avatar_reenactment": (["video"], "animation", "gpu", AVATAR_DATA | {"avatar", "driving_motion"}),
    "final_render": (
        ["edit", "video"],
        "renders",
        "gpu",
        AVATAR_DATA | {"edited_avatar_round_3", "edited_dataset_round_1", "face_landmarks", "source_video"},
    ),
    "reenacted_render": (
        ["edit", "video"],
        "renders",
        "gpu",
        AVATAR_DATA | {"edited_avatar_round_3", "driving_motion"},
    ),
}
for k, previous in ((1, "avatar"), (2, "edited_avatar_round_1"), (3, "edited_avatar_round_2")):
    EXPECTED_GRAPH[f"edited_dataset_round_{k}"] = (
        ["edit", "video"],
        "editing",
        "gpu",
        AVATAR_DATA | {previous, "face_landmarks", "source_video"},  # the editor's conditioning: native frames
    )
    EXPECTED_GRAPH[f"edited_avatar_round_{k}"] = (
        ["edit", "video"],
        "editing",
        "gpu",
        AVATAR_DATA | {previous, f"edited_dataset_round_{k}"},
    )


def test_every_asset_has_its_partitions_group_pool_and_inputs():
    """The whole graph, asset by asset: video stages partitioned by video, edit stages by (edit, video); GPU work
    in the `gpu` pool; each asset reads exactly the inputs listed (a dropped or extra input fails here)."""
    graph = defs.resolve_asset_graph()
    pools = {key.path[-1]: assets_def.op.pool for assets_def in defs.assets for key in assets_def.keys}
    found = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        partitions = node.partitions_def
        dims = (
            [d.name for d in partitions.partitions_defs]
            if hasattr(partitions, "partitions_defs")
            else [partitions.name]
        )
        found[key.path[-1]] = (dims, node.group_name, pools[key.path[-1]], {k.path[-1] for k in node.parent_keys})
    assert found == EXPECTED_GRAPH


def test_edit_video_partitions_are_keyed_edit_then_video():
    from assets.partitions import edit_video_partitions

    assert [d.name for d in edit_video_partitions.partitions_defs] == ["edit", "video"]


def test_dagster_cli_validates_the_workspace(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "COSAVATAR_HOME": str(tmp_path / "home")}
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def _imported_modules(path: Path) -> set[str]:
    import ast

    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_the_domain_library_never_imports_dagster_or_the_layers_above_it():
    """Layers call downwards only (CLI -> orchestration -> assets -> resources -> domain): outside
    `orchestration/` and `cli.py`, no module of the package imports Dagster, assets, resources or orchestration."""
    package = PROJECT_ROOT / "cosavatar_pipeline"
    above = (
        "dagster",
        "dagster_celery",
        "dagster_k8s",
        "dagster_postgres",
        "assets",
        "resources",
        "cosavatar_pipeline.orchestration",
    )
    offenders = {}
    for path in package.rglob("*.py"):
        relative = path.relative_to(package)
        if relative.parts[0] == "orchestration" or relative == Path("cli.py"):
            continue
        bad = {m for m in _imported_modules(path) if m.split(".")[0] in above or m.startswith(above[-1])}
        if bad:
            offenders[str(relative)] = sorted(bad)
    assert offenders == {}
    # and the check sees an import where there is one
    assert "dagster" in _imported_modules(package / "orchestration" / "definitions.py")


def test_stage_modules_never_import_each_other():
    """A stage's files and loaders live in `cosavatar_pipeline/stages/`; asset modules share only the helpers below
    (partitions, reporting, GPU placement, the avatar's inputs, jobs, the edit graph, the driving step, NeRF
    training)."""
    shared = {"partitions", "reporting", "placement", "inputs", "jobs", "edit_graph", "driving", "training"}
    offenders = {}
    for path in (PROJECT_ROOT / "assets").glob("*.py"):
        if path.stem in shared | {"__init__"}:
            continue
        bad = {m for m in _imported_modules(path) if m.startswith("assets.") and m.split(".")[1] not in shared}
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_edit_video_keys_are_spelled_as_dagster_spells_them():
    from cosavatar_pipeline.slugs import edit_video_key, key_parts

    assert edit_video_key("pink_hair", "woman") == str(dg.MultiPartitionKey({"video": "woman", "edit": "pink_hair"}))
    assert key_parts(edit_video_key("pink_hair", "woman")) == ["pink_hair", "woman"]
    assert key_parts("woman") == ["woman"]


def test_resources_read_the_environment_through_envvars_and_a_given_home_travels_with_the_run(
    tmp_path, monkeypatch, sample_clips, mlflow_uri
):
    """The code location binds environment settings as `dg.EnvVar`s (resolved when a run starts); a `Pipeline` given
    a home passes it in each run's config and changes nothing in the process's environment."""
    from cosavatar_pipeline.home import layout
    from cosavatar_pipeline.orchestration.definitions import IP2P_MODEL_ENV, build_resources
    from cosavatar_pipeline.orchestration.operations import Pipeline

    elsewhere = tmp_path / "the environment's home"
    monkeypatch.setenv("COSAVATAR_HOME", str(elsewhere))
    monkeypatch.setenv(IP2P_MODEL_ENV, str(tmp_path / "weights"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    resources = build_resources()
    assert resources["editor"].model == dg.EnvVar(IP2P_MODEL_ENV)
    assert resources["editor"].process_config_and_initialize().model == str(tmp_path / "weights")
    assert resources["manifest_io_manager"].storage is resources["storage"]  # a declared dependency, not its own

    import decord  # noqa: F401  (it appends its own folder to PATH when first imported, as the frames stage does)

    environment_before = dict(os.environ)
    pipeline = Pipeline(home=layout(tmp_path / "given home"))
    pipeline.add_video(sample_clips["astronaut_talking"], name="astronaut")
    outcome = pipeline.materialize_video("astronaut", select=["source_video", "frames"])
    pipeline.instance.dispose()
    assert outcome.success, outcome.failures
    assert dict(os.environ) == environment_before
    assert (tmp_path / "given home" / "store" / "frames" / "astronaut" / "manifest.json").exists()
    assert not elsewhere.exists()
