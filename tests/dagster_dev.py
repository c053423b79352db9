"""`dagster dev` (webserver + daemon) as a user starts it, and its GraphQL API, for the end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REPOSITORY_NAME = "__repository__"  # what Dagster calls a code location's single Definitions object


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _default_sigint() -> None:
    # A process started from a non-interactive shell may inherit SIGINT as ignored; dagster dev must see it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class DagsterDev:
    """One `dagster dev -w workspace.yaml` process group in the project root, on a free localhost port."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        dagster = Path(sys.executable).parent / "dagster"
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_sigint,
        )
        self.location_name = ""

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def graphql(self, query: str, **variables) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"GraphQL HTTP {exc.code}: {exc.read().decode(errors='replace')[:3000]}") from None
        if answer.get("errors"):
            raise AssertionError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def wait_until_loaded(self, timeout_s: float = 180) -> None:
        """Until the webserver answers and the code location is LOADED (a load error fails at once)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"dagster dev exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                data = self.graphql(WORKSPACE_QUERY)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
                continue
            entries = data["workspaceOrError"]["locationEntries"]
            if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                error = entries[0]["locationOrLoadError"]
                assert error["__typename"] == "RepositoryLocation", f"code location failed to load: {error}"
                self.location_name = entries[0]["name"]
                return
            time.sleep(1)
        raise AssertionError(f"dagster dev did not load the workspace in {timeout_s} s:\n{self.log_tail()}")

    def asset_nodes(self) -> dict[str, dict]:
        """The graph as the webserver serves it (its process's environment decides K, the number of edit rounds)."""
        return {node["assetKey"]["path"][-1]: node for node in self.graphql(ASSET_NODES)["assetNodes"]}

    def asset_names(self, groups: tuple[str, ...]) -> list[str]:
        return sorted(name for name, node in self.asset_nodes().items() if node["groupName"] in groups)

    def wait_for_runs(self, job_name: str, count: int, timeout_s: float, allow_failed: bool = False) -> list[dict]:
        """Until ``count`` runs of the job have succeeded; a failed or canceled run fails at once unless allowed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            runs = self.graphql(RUNS_QUERY, filter={"pipelineName": job_name})["runsOrError"]["results"]
            failed = [run for run in runs if run["status"] in ("FAILURE", "CANCELED")]
            assert allow_failed or not failed, f"{job_name} runs failed: {failed}\n{self.log_tail()}"
            if sum(run["status"] == "SUCCESS" for run in runs) >= count:
                return runs
            time.sleep(3)
        raise AssertionError(f"no {count} successful {job_name} runs in {timeout_s} s:\n{self.log_tail()}")

    def repository_selector(self) -> dict:
        return {"repositoryLocationName": self.location_name, "repositoryName": REPOSITORY_NAME}

    def stop(self, timeout_s: float = 30) -> None:
        """Ctrl-C to the process group (webserver, daemon and their children), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()


WORKSPACE_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""

ASSET_NODES = """
{ assetNodes { assetKey { path } groupName pools kinds description dependencyKeys { path } } }
"""

SET_NUX_SEEN = "mutation { setNuxSeen }"

SENSOR_STATE = """
query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
} }
"""

RUNS_QUERY = """
query($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results {
    runId jobName status tags { key value }
} } } }
"""

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on PartitionKeysNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
} }
"""

BACKFILL_STATUS = """
query($backfillId: String!) { partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill { status numPartitions error { message } }
    ... on PythonError { message }
} }
"""
