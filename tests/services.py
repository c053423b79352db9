"""Throw-away PostgreSQL, Redis and MLflow tracking servers on localhost for the scale-out test.

Each runs from the machine's own binaries (Debian's `postgresql` and `redis-server`, installed by .ci/run; the
venv's `mlflow`) on a free port, with its data in a temp folder, and is stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.dagster_dev import free_port

# Debian installs each major version under its own folder; take the newest.
_INITDBS = sorted(
    Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0
)
POSTGRES_BIN = _INITDBS[-1].parent if _INITDBS else Path("/usr/lib/postgresql/15/bin")


def missing_services() -> list[str]:
    missing = [] if (POSTGRES_BIN / "initdb").exists() else ["postgresql (Debian package)"]
    if not shutil.which("redis-server"):
        missing.append("redis-server (Debian package)")
    return missing


def _as_postgres_user(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root (CI runs as root); Debian's package creates the `postgres` user.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _wait(ready, what: str, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not start in {timeout_s:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


@contextmanager
def postgres_server(folder: Path) -> Iterator[str]:
    """A fresh cluster with a `dagster` database; yields its URL (trust auth, localhost only).

    The cluster lives in its own folder under the system temp dir, owned by `postgres` when we are root: pytest's
    temp folders are private to their owner, and the server may not run as root."""
    cluster = Path(tempfile.mkdtemp(prefix="cosavatar-postgres-"))
    data, sockets, log = cluster / "data", cluster / "sockets", cluster / "postgres.log"
    for path in (data, sockets):
        path.mkdir()
    if os.geteuid() == 0:
        for path in (cluster, data, sockets):
            shutil.chown(path, "postgres")
    _run(
        _as_postgres_user([str(POSTGRES_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "dagster", "--no-sync"])
    )
    port = free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    try:
        _run(
            _as_postgres_user(
                [str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"]
            )
        )
        _run([str(POSTGRES_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "dagster"])
        yield f"postgresql+psycopg2://dagster@127.0.0.1:{port}/dagster"
    finally:
        subprocess.run(
            _as_postgres_user([str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        folder.mkdir(parents=True, exist_ok=True)
        if log.exists():
            shutil.copyfile(log, folder / "postgres.log")
        shutil.rmtree(cluster, ignore_errors=True)


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """An in-memory Redis (no snapshots); yields its URL."""
    port, log = free_port(), folder / "redis.log"
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--logfile",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(
            lambda: (
                subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip()
                == "PONG"
            ),
            "redis-server",
            log,
        )
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def mlflow_server(folder: Path) -> Iterator[tuple[str, Path]]:
    """An MLflow tracking server that stores artifacts itself (clients upload over HTTP, as workers on other
    machines would); yields its URL and its artifact folder."""
    port, log, artifacts = free_port(), folder / "mlflow.log", folder / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    with open(log, "w") as log_handle:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("mlflow")),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{folder / 'mlflow.db'}",
                "--serve-artifacts",
                "--artifacts-destination",
                artifacts.as_uri(),
                "--workers",
                "1",
            ],
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        _wait(answers, "mlflow server", log, timeout_s=120)
        yield url, artifacts
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
