"""Each bad input gets one clear message naming the file, writes nothing, and leaves other partitions intact."""

import pytest
from typer.testing import CliRunner

from cosavatar_pipeline.cli import app
from tests.media import portrait_frames, write_clip

runner = CliRunner()
INGEST = ["source_video", "frames"]  # the stages a bad source file can fail

EXPECTED = {
    "text_as_mp4": "notes.mp4: is not a readable video file",
    "zero_length": "empty.mp4: is empty (0 bytes)",
    "truncated": "truncated.mp4: is a damaged or truncated mp4",
    "truncated_faststart": "truncated_faststart.mp4: is damaged or truncated",
    "no_face": "no_face.mp4: no face found: a face was detected in",
    "two_faces": "two_faces.mp4: two faces of similar size",
    "too_short": "too_short.mp4: is too short: 0.48 s",
    "too_small": "tiny.mp4: resolution 64x64 is too small",
    "too_long": "two_hours.mp4: is too long: 310 s, the pipeline takes at most 300 s",
    "too_large": "eight_k.mp4: resolution 4160x160 is too large",
    "missing": "does_not_exist.mp4: does not exist",
}


def _cli(*args):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_cli_rejects_bad_video(pipeline, bad_inputs, case):
    result = _cli("add-video", str(bad_inputs[case]))
    assert result.exit_code == 1, result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("error: ") and EXPECTED[case] in message, message
    assert str(bad_inputs[case].parent) in message  # the full path, so the user knows which file
    assert "Traceback" not in result.output
    # nothing registered, no partition added
    assert pipeline.registry.video_names() == []
    assert pipeline.instance.get_dynamic_partitions("video") == []


def test_cli_rejects_duplicates_and_bad_names(pipeline, tmp_path):
    clip = write_clip(tmp_path / "portrait.mp4", portrait_frames(40))
    assert _cli("add-video", str(clip)).exit_code == 0
    assert pipeline.instance.get_dynamic_partitions("video") == ["portrait"]

    again = _cli("add-video", str(clip), "--name", "portrait_again")
    assert again.exit_code == 1
    assert "portrait.mp4: already registered as video 'portrait'" in again.output

    bad_name = _cli("add-video", str(clip), "--name", "My Clip")
    assert bad_name.exit_code == 1 and "'My Clip': not a valid name" in bad_name.output
    assert pipeline.instance.get_dynamic_partitions("video") == ["portrait"]

    for args, message in [
        (("add-edit", ""), "prompt: is empty"),
        (("add-edit", "x" * 600), "600 characters long"),
        (("add-edit", "glow", "--region", "aura"), "unknown region"),
    ]:
        result = _cli(*args)
        assert result.exit_code == 1 and message in result.output
    assert _cli("add-edit", "give her pink hair", "--name", "pink").exit_code == 0
    clash = _cli("add-edit", "make it pinker", "--name", "pink")
    assert clash.exit_code == 1 and "edit name 'pink' is taken" in clash.output
    assert pipeline.instance.get_dynamic_partitions("edit") == ["pink"]


def test_a_stage_whose_input_is_not_stored_says_what_to_materialize_first(pipeline, tmp_path):
    clip = write_clip(tmp_path / "portrait.mp4", portrait_frames(40))
    assert _cli("add-video", str(clip)).exit_code == 0
    result = _cli("materialize", "--video", "portrait", "--select", "frames")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "frames of video 'portrait' reads source_video, which is not stored: run `cosavatar materialize --video "
        "portrait --select source_video` first" in result.output
    )
    assert pipeline.instance.get_runs() == []  # refused before any run started
    assert _cli("materialize", "--video", "portrait", "--select", "source_video,frames").exit_code == 0
    # a stored input damaged since: the step that reads it names the file instead of reading it
    source = next(p for p in pipeline.asset_folder("source_video", "portrait").iterdir() if p.suffix == ".mp4")
    source.write_bytes(source.read_bytes()[:-100])
    damaged = _cli("materialize", "--video", "portrait", "--select", "frames")
    assert damaged.exit_code == 1
    assert f"{source}: does not match the sha256 source_video partition 'portrait'" in damaged.output


@pytest.mark.parametrize("case", ["no_face", "truncated", "two_faces"])
def test_dagster_step_fails_with_the_message_and_keeps_other_partitions(pipeline, bad_inputs, tmp_path, case):
    good = write_clip(tmp_path / "good.mp4", portrait_frames(40))
    pipeline.add_video(good, name="good")
    assert pipeline.materialize_video("good", select=INGEST).success
    good_folder = pipeline.asset_folder("frames", "good")
    before = {p.name: p.stat().st_mtime_ns for p in good_folder.iterdir()}

    # registered without the up-front checks, as a file dropped by another tool would be
    entry = pipeline.registry.register_video(bad_inputs[case], name="bad")
    pipeline.instance.add_dynamic_partitions("video", [entry.name])
    outcome = pipeline.materialize_video("bad", select=INGEST)

    assert not outcome.success
    assert len(outcome.failures) == 1
    assert EXPECTED[case] in outcome.failures[0], outcome.failures
    assert "Traceback" not in outcome.failures[0]
    # nothing partial for the bad partition, the good one untouched
    frames_store = good_folder.parent
    assert sorted(p.name for p in frames_store.iterdir() if not p.name.endswith(".lock")) == ["good"]
    assert {p.name: p.stat().st_mtime_ns for p in good_folder.iterdir()} == before
    assert pipeline.materialized("frames") == {"good"}


def test_a_video_changed_after_registration_is_not_stored(pipeline, tmp_path):
    """The store keeps a copy checked and hashed after copying: a file rewritten since `add-video` fails the step
    (its sha256 no longer matches) and leaves nothing stored."""
    clip = write_clip(tmp_path / "take.mp4", portrait_frames(40))
    assert _cli("add-video", str(clip)).exit_code == 0
    write_clip(clip, portrait_frames(45))  # another take saved over it
    outcome = pipeline.materialize_video("take", select=["source_video"])
    assert not outcome.success
    assert f"{clip}: changed since it was registered" in outcome.failures[0]
    assert pipeline.materialized("source_video") == set()
