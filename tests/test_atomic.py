import json

import pytest

from cosavatar_pipeline.atomic import atomic_directory, atomic_file, write_json_atomic


def test_failed_write_keeps_the_earlier_output(tmp_path):
    target = tmp_path / "asset" / "video_a"
    with atomic_directory(target) as staging:
        (staging / "data.txt").write_text("first")
    assert (target / "data.txt").read_text() == "first"

    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            (staging / "data.txt").write_text("half-written")
            raise RuntimeError("step crashed")
    assert (target / "data.txt").read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == [
        "video_a"
    ]  # no staging leftovers

    with atomic_directory(target) as staging:
        (staging / "data.txt").write_text("second")
    assert (target / "data.txt").read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == ["video_a"]


def test_json_is_replaced_whole(tmp_path):
    path = tmp_path / "entry.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert path.read_text().strip().endswith("}") and '"a": 2' in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["entry.json"]


def test_outputs_get_ordinary_permissions(tmp_path):
    import os
    import stat

    previous = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "out") as staging:
            (staging / "a.txt").write_text("x")
        write_json_atomic(tmp_path / "out.json", {})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o644


def test_files_with_secrets_stay_private(tmp_path):
    """The worker's settings file carries the broker URL, password included: owner-only, whatever the umask."""
    import stat

    from cosavatar_pipeline.atomic import atomic_file

    with atomic_file(tmp_path / "celery-worker.yaml", "w", private=True) as handle:
        handle.write("broker: redis://:secret@host:6379/0\n")
    assert stat.S_IMODE((tmp_path / "celery-worker.yaml").stat().st_mode) == 0o600


def test_a_killed_writers_leftovers_are_cleared_by_the_next_write(tmp_path):
    target = tmp_path / "asset" / "video_a"
    leftover = tmp_path / "asset" / ".video_a.staging-abc123"
    leftover.mkdir(parents=True)
    (leftover / "half.npy").write_bytes(b"partial")
    with atomic_directory(target) as staging:
        (staging / "data.txt").write_text("whole")
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == ["video_a"]


def test_of_two_writers_racing_for_one_name_the_second_is_refused(tmp_path):
    """Registry files are created exclusively: two `add-edit` runs choosing one name cannot both win (with a rename
    the second would silently replace the first)."""
    import json

    import pytest

    from cosavatar_pipeline.atomic import write_json_exclusive

    write_json_exclusive(tmp_path / "pink.json", {"prompt": "first"})
    with pytest.raises(FileExistsError):
        write_json_exclusive(tmp_path / "pink.json", {"prompt": "second"})
    assert json.loads((tmp_path / "pink.json").read_text()) == {"prompt": "first"}
    assert [p.name for p in tmp_path.iterdir()] == ["pink.json"]  # no temp file left behind


def test_a_second_writer_of_one_folder_is_refused_and_the_first_commits(tmp_path):
    """Two writers of one partition in two processes: the second fails at once with a message naming the folder,
    and cannot delete the first's staging folder; the first commits. Once it is done the folder is free again."""
    import subprocess
    import sys

    import pytest

    from cosavatar_pipeline.atomic import FolderBusy, atomic_directory

    final = tmp_path / "frames" / "woman"
    second_writer = (
        "import sys; from cosavatar_pipeline.atomic import atomic_directory, FolderBusy\n"
        f"try:\n    with atomic_directory({str(final)!r}) as s: pass\n"
        "except FolderBusy as e:\n    print(e); sys.exit(3)\n"
    )
    with atomic_directory(final) as staging:
        (staging / "frames.npy").write_text("first")
        other = subprocess.run([sys.executable, "-c", second_writer], capture_output=True, text=True)
        assert other.returncode == 3, other.stderr
        assert f"{final}: another run is writing this output right now" in other.stdout
        assert staging.exists()
        with pytest.raises(FolderBusy):  # a second writer in this process too
            with atomic_directory(final):
                pass
    assert (final / "frames.npy").read_text() == "first"
    with atomic_directory(final) as staging:
        (staging / "frames.npy").write_text("second")
    assert (final / "frames.npy").read_text() == "second"


def test_a_writer_killed_between_the_two_renames_loses_nothing(tmp_path):
    """The commit moves the old output aside, then the new one in. Killed in between (state made by hand), the
    partition is missing and its old output sits in `.retired-*`: reading it puts the old output back, and the
    next write recovers and cleans up too."""
    import os

    from cosavatar_pipeline.atomic import atomic_directory
    from resources.storage import MANIFEST_FILE, stored_manifest

    final = tmp_path / "frames" / "woman"
    with atomic_directory(final) as staging:
        (staging / MANIFEST_FILE).write_text(f'{{"directory": "{final}", "files": {{}}, "info": {{"preset": "tiny"}}}}')
    retired = tmp_path / "frames" / ".woman.retired-x"
    retired.mkdir()
    os.rename(final, retired / "old")  # the first rename done, the process killed before the second
    assert not final.exists()
    assert stored_manifest(final, "frames partition 'woman'").info == {"preset": "tiny"}
    assert (final / MANIFEST_FILE).exists() and not (retired / "old").exists()

    retired.mkdir(exist_ok=True)
    os.rename(final, retired / "old")
    with atomic_directory(final) as staging:  # a rerun: recovers, then replaces, and leaves no leftovers
        (staging / "new.txt").write_text("new")
    assert (final / "new.txt").exists()
    assert sorted(p.name for p in final.parent.iterdir() if not p.name.endswith(".lock")) == ["woman"]


def test_a_full_disk_mid_write_keeps_the_earlier_output(tmp_path):
    """ENOSPC part way through a file or a folder: the earlier version stays whole, no temp file or staging folder is
    left to fill the disk further."""
    import errno

    def fill_disk(handle_or_folder):
        raise OSError(errno.ENOSPC, "No space left on device")

    write_json_atomic(tmp_path / "entry.json", {"a": 1})
    with pytest.raises(OSError, match="No space left"):
        with atomic_file(tmp_path / "entry.json", "w") as handle:
            handle.write('{"a": ')
            fill_disk(handle)
    assert json.loads((tmp_path / "entry.json").read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["entry.json"]

    target = tmp_path / "asset" / "video_a"
    with atomic_directory(target) as staging:
        (staging / "data.bin").write_bytes(b"first")
    with pytest.raises(OSError, match="No space left"):
        with atomic_directory(target) as staging:
            (staging / "data.bin").write_bytes(b"half")
            fill_disk(staging)
    assert (target / "data.bin").read_bytes() == b"first"
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == ["video_a"]
