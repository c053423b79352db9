"""The inbox sensor: registers settled video files, skips ones still being written, reports bad ones."""

import json
import os
import shutil
import time

import dagster as dg
import pytest

from assets.sensors import SETTLE_SECONDS, video_inbox_sensor
from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.video.probe import probe_video
from resources import StorageResource
from tests.media import portrait_frames, write_clip


def _tick(pipeline, cursor):
    context = dg.build_sensor_context(
        instance=pipeline.instance, cursor=cursor, resources={"storage": StorageResource(root=str(pipeline.home.root))}
    )
    return video_inbox_sensor(context)


def _age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_inbox_sensor(pipeline, bad_inputs, tmp_path):
    inbox = pipeline.home.inbox
    inbox.mkdir(parents=True)
    clip = write_clip(tmp_path / "Interview Take 2.mp4", portrait_frames(40))

    # a file appearing is only noted; unchanged but written just now, it is still not taken
    shutil.copyfile(clip, inbox / clip.name)
    first = _tick(pipeline, None)
    assert first.run_requests == [] and first.dynamic_partitions_requests == []
    assert _tick(pipeline, first.cursor).run_requests == []

    # settled (same size as last tick, untouched for SETTLE_SECONDS): registered, partition and run requested
    _age(inbox / clip.name, SETTLE_SECONDS + 1)
    shutil.copyfile(bad_inputs["text_as_mp4"], inbox / "broken.mp4")
    (inbox / "notes.txt").write_text("not a video")
    second = _tick(pipeline, first.cursor)
    _age(inbox / "broken.mp4", SETTLE_SECONDS + 1)
    assert [r.partition_key for r in second.run_requests] == ["interview_take_2"]
    assert second.dynamic_partitions_requests[0].partition_keys == ["interview_take_2"]
    assert pipeline.registry.get_video("interview_take_2").path == str(inbox / clip.name)

    # the bad file is reported and skipped, the good one is not requested again
    third = _tick(pipeline, second.cursor)
    assert third.run_requests == [] and third.dynamic_partitions_requests == []
    assert "broken.mp4" in json.loads(third.cursor)["handled"]
    assert pipeline.registry.video_names() == ["interview_take_2"]
    assert _tick(pipeline, third.cursor).run_requests == []


def test_a_tick_that_failed_after_registering_a_file_is_taken_up_again(pipeline, tmp_path):
    """The registry file is written during a tick, the partition and run only in its result: when the tick raised
    after the write (a corrupt file, a timeout), the next tick must still add the partition and request the run."""
    inbox = pipeline.home.inbox
    inbox.mkdir(parents=True)
    clip = write_clip(inbox / "talk.mp4", portrait_frames(40))
    _age(clip, SETTLE_SECONDS + 1)
    pipeline.registry.register_video(clip)  # what the failed tick left: a registry entry, no partition, no cursor
    first = _tick(pipeline, None)
    second = _tick(pipeline, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["talk"]
    assert second.dynamic_partitions_requests[0].partition_keys == ["talk"]


def test_inbox_sensor_skips_links_and_names_it_cannot_make(pipeline, tmp_path):
    """A symbolic link in a shared inbox would pull any file the daemon can read into the store: it is skipped. A
    file name with no a-z or 0-9 (all Chinese, say) gets no colliding 'unnamed': it is reported and skipped."""
    inbox = pipeline.home.inbox
    inbox.mkdir(parents=True)
    outside = write_clip(tmp_path / "elsewhere.mp4", portrait_frames(40))
    (inbox / "linked.mp4").symlink_to(outside)
    shutil.copyfile(outside, inbox / "采访.mp4")
    _age(inbox / "采访.mp4", SETTLE_SECONDS + 1)
    cursor = None
    for _ in range(3):
        result = _tick(pipeline, cursor)
        assert result.run_requests == [] and result.dynamic_partitions_requests == []
        cursor = result.cursor
    assert pipeline.registry.video_names() == []
    assert set(json.loads(cursor)["handled"]) == {"linked.mp4", "采访.mp4"}


def test_edit_registry_sensor(pipeline):
    """An edit spec written into the registry by another process becomes an `edit` partition; a bad file is
    reported and skipped; the cursor keeps what was read."""
    from dataclasses import asdict

    from assets.sensors import edit_registry_sensor
    from cosavatar_pipeline.atomic import write_json_atomic
    from cosavatar_pipeline.registry import EditSpec

    def tick(cursor):
        context = dg.build_sensor_context(
            instance=pipeline.instance,
            cursor=cursor,
            resources={"storage": StorageResource(root=str(pipeline.home.root))},
        )
        return edit_registry_sensor(context)

    pipeline.add_edit("give her pink hair", name="known")  # registered through the CLI: its partition exists
    spec = EditSpec(name="written_elsewhere", prompt="make the shirt red", region="clothes", region_inferred=True)
    write_json_atomic(pipeline.registry.edits_dir / "written_elsewhere.json", asdict(spec))
    (pipeline.registry.edits_dir / "broken.json").write_text('{"name": "broken", "prompt": ""}')
    first = tick(None)
    assert [r.partition_keys for r in first.dynamic_partitions_requests] == [["written_elsewhere"]]
    assert set(json.loads(first.cursor)["handled"]) == {"known.json", "written_elsewhere.json", "broken.json"}
    pipeline.instance.add_dynamic_partitions("edit", ["written_elsewhere"])
    assert tick(first.cursor).dynamic_partitions_requests == []


def test_a_tick_reads_only_headers(pipeline, bad_inputs):
    """A tick must stay short whatever the clip: what the header shows (too long, too large) is refused there;
    what only decoding shows (frames cut off behind an intact index) is registered and fails in its run."""
    inbox = pipeline.home.inbox
    inbox.mkdir(parents=True)
    for case in ("too_long", "truncated_faststart"):
        shutil.copyfile(bad_inputs[case], inbox / bad_inputs[case].name)
        _age(inbox / bad_inputs[case].name, SETTLE_SECONDS + 1)
    second = _tick(pipeline, _tick(pipeline, None).cursor)
    assert [r.partition_key for r in second.run_requests] == ["truncated_faststart"]
    assert pipeline.registry.video_names() == ["truncated_faststart"]
    with pytest.raises(InputError, match="truncated_faststart.mp4: is damaged or truncated"):
        probe_video(inbox / "truncated_faststart.mp4")  # what the run's source_video step reports
