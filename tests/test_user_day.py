"""A user's day on a real instance: `dagster dev` (webserver + daemon) with a temp DAGSTER_HOME, videos dropped
into the inbox, an edit registered from the CLI and backfilled over every video through GraphQL, and the lineage
checked in headless Chromium. Everything runs at the `tiny` preset with one editing round."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from assets.jobs import ANIMATION_GROUP, EDIT_STAGE_GROUPS, VIDEO_STAGE_GROUPS
from cosavatar_pipeline.orchestration.instance_config import write_instance_config
from tests.conftest import materialization_counts
from tests.dagster_dev import (
    BACKFILL_STATUS,
    LAUNCH_BACKFILL,
    PROJECT_ROOT,
    SENSOR_STATE,
    SET_NUX_SEEN,
    DagsterDev,
)

EDIT = "pink_hair"
VIDEOS = ("astronaut_driver", "astronaut_talking")  # the sample and its driver: each drives the other's reenactment
SCREENSHOTS = Path(os.environ.get("COSAVATAR_SCREENSHOTS", PROJECT_ROOT / "test-artifacts"))
RUNNING_BACKFILL = {"REQUESTED", "CANCELING", "FAILING"}


@dataclass
class Day:
    dev: DagsterDev
    env: dict[str, str]
    dagster_home: Path
    sensor_runs: list[dict] = field(default_factory=list)
    backfill_id: str = ""
    backfill_status: str = ""
    video_counts_before_backfill: dict[str, int] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.dagster_home))


@pytest.fixture(scope="module")
def day(tmp_path_factory, short_sample_clips, mlflow_uri):
    root = tmp_path_factory.mktemp("user_day")
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    write_instance_config(dagster_home, environ={})  # as `make ui` does: sqlite
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "COSAVATAR_HOME": str(root / "home"),
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "COSAVATAR_PRESET": "tiny",
        "COSAVATAR_IP2P_MODEL": str(root / "no_ip2p_weights"),  # none exist on these machines: procedural editor
    }
    dev = DagsterDev(env, root / "dagster_dev.log")
    day = Day(dev, env, dagster_home)
    started = time.monotonic()
    try:
        dev.wait_until_loaded()
        day.timings_s["load"] = time.monotonic() - started
        dev.graphql(SET_NUX_SEEN)  # the first-visit pop-up would cover every page
        for sensor in ("video_inbox_sensor", "edit_registry_sensor"):  # on by default: nothing to switch on
            result = dev.graphql(SENSOR_STATE, selector={**dev.repository_selector(), "sensorName": sensor})
            assert result["sensorOrError"].get("sensorState", {}).get("status") == "RUNNING", result

        # 1. Videos dropped into the inbox become partitions and reconstruct_video runs.
        inbox = root / "home" / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        for name in VIDEOS:
            shutil.copyfile(short_sample_clips[name], inbox / f"{name}.mp4")
        started = time.monotonic()
        day.sensor_runs = dev.wait_for_runs("reconstruct_video", len(VIDEOS), timeout_s=600)
        day.timings_s["sensor_runs"] = time.monotonic() - started

        # 2. An edit registered from the CLI, backfilled over every video through the webserver's GraphQL API.
        cli = [sys.executable, "-c", "from cosavatar_pipeline.cli import main; main()"]
        added = subprocess.run(
            cli + ["add-edit", "give her pink hair", "--name", EDIT, "--rounds", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert added.returncode == 0, added.stdout + added.stderr
        with day.instance() as instance:
            day.video_counts_before_backfill = materialization_counts(instance, day.dev.asset_names(VIDEO_STAGE_GROUPS))
        launched = dev.graphql(
            LAUNCH_BACKFILL,
            params={
                "title": f"{EDIT} over all videos",
                "assetSelection": [{"path": [name]} for name in day.dev.asset_names(EDIT_STAGE_GROUPS)],
                "partitionNames": [f"{EDIT}|{video}" for video in VIDEOS],
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        day.backfill_id = launched["backfillId"]
        started = time.monotonic()
        deadline = started + 600
        while time.monotonic() < deadline:
            backfill = dev.graphql(BACKFILL_STATUS, backfillId=day.backfill_id)["partitionBackfillOrError"]
            day.backfill_status = backfill["status"]
            if day.backfill_status not in RUNNING_BACKFILL:
                break
            time.sleep(3)
        day.timings_s["backfill"] = time.monotonic() - started
        yield day
    finally:
        dev.stop()
        print(f"\nuser day timings (s): { {k: round(v, 1) for k, v in day.timings_s.items()} }")


@pytest.mark.slow
def test_inbox_videos_become_partitions_and_reconstruct(day):
    assert len(day.sensor_runs) == len(VIDEOS)
    assert {dict((t["key"], t["value"]) for t in run["tags"])["dagster/partition"] for run in day.sensor_runs} == set(
        VIDEOS
    )
    with day.instance() as instance:
        assert set(instance.get_dynamic_partitions("video")) == set(VIDEOS)
        for name in day.dev.asset_names(VIDEO_STAGE_GROUPS):
            assert set(instance.get_materialized_partitions(dg.AssetKey(name))) == set(VIDEOS), name


@pytest.mark.slow
def test_edit_backfill_covers_every_video_and_recomputes_no_reconstruction(day):
    assert day.backfill_status == "COMPLETED_SUCCESS", f"backfill {day.backfill_status}:\n{day.dev.log_tail()}"
    with day.instance() as instance:
        assert (
            materialization_counts(instance, day.dev.asset_names(VIDEO_STAGE_GROUPS))
            == day.video_counts_before_backfill
        )
        for name in day.dev.asset_names(EDIT_STAGE_GROUPS):
            assert set(instance.get_materialized_partitions(dg.AssetKey(name))) == {f"{EDIT}|{v}" for v in VIDEOS}, name
        backfill_runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": day.backfill_id}))
        assert len(backfill_runs) >= len(VIDEOS)
        materialized_by_backfill = {
            event.dagster_event.asset_key.path[-1]
            for run in backfill_runs
            for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        }
        assert materialized_by_backfill == set(day.dev.asset_names(EDIT_STAGE_GROUPS))


@pytest.mark.slow
def test_gpu_pool_never_runs_two_gpu_steps_at_once(day):
    """Both sensor runs and both backfill runs ran side by side (max_concurrent_runs 2); their GPU steps did not."""
    gpu_steps = {name for name, node in day.dev.asset_nodes().items() if "gpu" in node["pools"]}
    intervals = []
    with day.instance() as instance:
        for run in instance.get_runs():
            starts = {}
            for record in instance.all_logs(
                run.run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
            ):
                step = record.step_key
                if step not in gpu_steps:
                    continue
                if record.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                    starts[step] = record.timestamp
                else:
                    intervals.append((starts[step], record.timestamp, run.run_id, step))
    intervals.sort()
    assert len(intervals) >= 2 * len(VIDEOS) + 4 * len(VIDEOS)  # avatar + reconstruction_render; 2 rounds + 2 renders
    overlaps, latest = [], intervals[0]
    for interval in intervals[1:]:
        if interval[0] < latest[1]:
            overlaps.append((latest, interval))
        latest = max(latest, interval, key=lambda i: i[1])
    assert not overlaps, overlaps


# --- the web UI, in headless Chromium -------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
GROUPS_LEFT_TO_RIGHT = [
    "ingest",
    "face",
    "parsing",
    "reconstruction",
    "editing",
    "renders",
]  # animation hangs off reconstruction

# Every node of the lineage graph (asset or collapsed group) with its box, and every edge's end points.
GRAPH_GEOMETRY_JS = """
const box = f => ({
  x: +f.getAttribute('x'), y: +f.getAttribute('y'), w: +f.getAttribute('width'), h: +f.getAttribute('height'),
});
const assets = [], groups = [];
for (const f of document.querySelectorAll('foreignObject')) {
  const asset = f.querySelector('[class*="assetName"]');
  const group = f.querySelector('[class*="collapsedGroupNodeBox"]');
  if (asset) assets.push({name: asset.textContent.trim(), ...box(f)});
  else if (group) groups.push({name: group.querySelector('[data-tooltip]').getAttribute('data-tooltip'), ...box(f)});
}
const edges = [...document.querySelectorAll('path[stroke*="lineage-edge"]')].map(p => {
  const numbers = p.getAttribute('d').match(/-?[0-9.]+/g).map(Number);
  return {x0: numbers[0], y0: numbers[1], x1: numbers[numbers.length - 2], y1: numbers[numbers.length - 1]};
});
return {assets, groups, edges};
"""


def _shown_as(full_name: str, label: str) -> bool:
    """Zoomed-out nodes shorten long names: `edited_da…_round_1`."""
    if "…" not in label:
        return label == full_name
    head, tail = label.split("…", 1)
    return full_name.startswith(head) and full_name.endswith(tail)


def _node(nodes: list[dict], name: str) -> dict:
    matches = [node for node in nodes if _shown_as(name, node["name"])]
    assert len(matches) == 1, f"node {name!r}: {len(matches)} matches among {[n['name'] for n in nodes]}"
    return matches[0]


def _edge_drawn(edges: list[dict], parent: dict, child: dict, slack: float = 12) -> bool:
    """An edge leaves the parent's box on its right side and ends at the child's box's left side."""

    def inside(x, y, node):
        return node["x"] - slack <= x <= node["x"] + node["w"] + slack and node["y"] <= y <= node["y"] + node["h"]

    return any(inside(e["x0"], e["y0"], parent) and inside(e["x1"], e["y1"], child) for e in edges)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=2000,1300",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium_profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def _open(browser, day: Day, path: str, ready_css: str, timeout_s: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(day.dev.url + path)
    WebDriverWait(browser, timeout_s).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ready_css))
    )
    time.sleep(2)  # layout and edges settle after the first node appears


def _screenshot(browser, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


@pytest.mark.slow
def test_lineage_graph_shows_every_stage_and_edge(day, browser):

    # Collapsed groups read left to right in pipeline order.
    _open(browser, day, "/asset-groups", '[class*="collapsedGroupNodeBox"]')
    _screenshot(browser, "lineage_groups")
    geometry = browser.execute_script(GRAPH_GEOMETRY_JS)
    group_x = {name: _node(geometry["groups"], name)["x"] for name in GROUPS_LEFT_TO_RIGHT}
    assert sorted(GROUPS_LEFT_TO_RIGHT, key=group_x.get) == GROUPS_LEFT_TO_RIGHT, group_x

    # Every asset descends from source_video: its downstream lineage is the whole graph, laid out to fit the page.
    # Every asset is a node, every dependency an edge between the two nodes.
    _open(
        browser,
        day,
        "/assets/source_video?view=lineage&lineageScope=downstream&lineageDepth=50",
        '[class*="assetName"]',
    )
    geometry = browser.execute_script(GRAPH_GEOMETRY_JS)
    _screenshot(browser, "lineage_assets")
    served = day.dev.asset_nodes()
    nodes = {name: _node(geometry["assets"], name) for name in served}
    missing_edges = [
        (parent["path"][-1], name)
        for name, node in served.items()
        for parent in node["dependencyKeys"]
        if not _edge_drawn(geometry["edges"], nodes[parent["path"][-1]], nodes[name])
    ]
    assert not missing_edges, missing_edges
    chain = [
        "source_video",
        "frames",
        "face_landmarks",
        "face_coefficients",
        "avatar",
        "edited_dataset_round_1",
        "edited_avatar_round_1",
        "final_render",
    ]
    assert [nodes[a]["x"] < nodes[b]["x"] for a, b in zip(chain, chain[1:])] == [True] * (len(chain) - 1)


@pytest.mark.slow
@pytest.mark.parametrize(
    "asset, partition", [("avatar", "astronaut_talking"), ("final_render", f"{EDIT}|astronaut_talking")]
)
def test_partition_page_links_mlflow_and_shows_preview(day, browser, asset, partition):
    from urllib.parse import quote

    from selenium.webdriver.common.by import By

    _open(browser, day, f"/assets/{asset}?view=partitions&partition={quote(partition)}", 'a[href*="/#/experiments/"]')
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, 'a[href*="/#/experiments/"]')]
    assert any(re.fullmatch(r"http://127\.0\.0\.1:5000/#/experiments/\d+/runs/[0-9a-f]{32}", link) for link in links), (
        links
    )
    _screenshot(browser, f"partition_{asset}")
    browser.find_element(By.XPATH, "//*[text()='[Show Markdown]']").click()
    time.sleep(1)
    previews = [
        img for img in browser.find_elements(By.CSS_SELECTOR, 'img[src^="data:image/png"]') if img.size["width"] > 50
    ]
    assert previews, "the preview markdown shows no image"
    _screenshot(browser, f"partition_{asset}_preview")


@pytest.mark.slow
def test_every_served_asset_has_a_description_kinds_and_a_stage_group(day):
    nodes = day.dev.asset_nodes()
    assert len(nodes) >= 13
    for name, node in nodes.items():
        assert len(node["description"] or "") > 40, name
        assert node["kinds"], name
        assert node["groupName"] in (*VIDEO_STAGE_GROUPS, ANIMATION_GROUP, *EDIT_STAGE_GROUPS), name
