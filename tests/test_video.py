"""Decoding, constant-rate resampling and cropping on real files."""

import numpy as np
import pytest

from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.presets import get_preset
from cosavatar_pipeline.stages.frames import load_frames
from cosavatar_pipeline.video.decode import VideoFrames, constant_rate_source_indices
from cosavatar_pipeline.video.frames import check_video, extract_frames
from cosavatar_pipeline.video.probe import probe_video
from tests.conftest import DRIVING_MAN, shared_video
from tests.media import portrait_frames, write_clip, write_phone_clip, write_variable_rate_clip


def test_constant_rate_indices_by_hand():
    # 30 fps source resampled to 25 fps: output t = 0, .04, ..., .28 fall in source frames
    # [0, 1/30), [1/30, 2/30), ...: 0, 1, 2, 3, 4, then t = .20 starts frame 6 exactly (frame 5 is dropped)
    starts = np.arange(10) / 30
    assert constant_rate_source_indices(starts, 10 / 30, 25).tolist() == [0, 1, 2, 3, 4, 6, 7, 8]
    # 10 fps source upsampled to 25 fps repeats frames
    assert constant_rate_source_indices(np.arange(3) / 10, 0.3, 25).tolist() == [0, 0, 0, 1, 1, 2, 2]
    # a gap (dropped frames) holds the last frame shown
    starts = np.array([0.0, 0.04, 0.20, 0.24])
    assert constant_rate_source_indices(starts, 0.28, 25).tolist() == [0, 1, 1, 1, 1, 2, 3]


def test_variable_frame_rate_input_gives_constant_rate_output(tmp_path):
    # 1.6 s with irregular spacing: 30 fps, then a 150 ms stall, then 15 fps
    times = [i / 30 for i in range(24)] + [0.8 + 0.15 + i / 15 for i in range(10)]
    clip = write_variable_rate_clip(tmp_path / "vfr.mp4", times)
    info = probe_video(clip)
    assert info.variable_frame_rate
    video = VideoFrames(clip)
    np.testing.assert_allclose(video.timestamps[:, 0], times, atol=2e-3)
    result = extract_frames(clip, tmp_path, get_preset("preview"))
    expected = int(np.floor(video.duration_s * 25 + 1e-3))
    assert result.frame_count == expected
    assert load_frames(tmp_path).shape == (expected, 128, 128, 3)


@pytest.mark.real_clips
def test_frames_of_a_real_clip_are_face_centred():
    clip = shared_video(DRIVING_MAN)
    video = VideoFrames(clip)
    assert video.frame_count == 216
    from cosavatar_pipeline.video.crop import FaceDetector
    from cosavatar_pipeline.video.frames import sample_face_crop

    with FaceDetector() as detector:
        crop = sample_face_crop(video, detector)
        # the crop is square, inside the frame, and holds the face at about the target fraction of its height
        assert 0 <= crop.left and crop.left + crop.size <= 480 and 0 <= crop.top and crop.top + crop.size <= 480
        frame = crop.apply(video.get(np.array([0]))[0])
        faces = detector.detect(frame)
    assert len(faces) == 1
    face = faces[0]
    assert 0.35 <= face.height / crop.size <= 0.7
    assert abs((face.x + face.width / 2) - crop.size / 2) < 0.1 * crop.size


@pytest.mark.parametrize("preset", ["preview", "standard"])
def test_extract_frames_sizes(tmp_path, sample_clips, preset):
    result = extract_frames(sample_clips["astronaut_talking"], tmp_path, get_preset(preset))
    frames = load_frames(tmp_path)
    size = get_preset(preset).resolution
    assert frames.shape == (100, size, size, 3) and frames.dtype == np.uint8
    assert result.frame_count == 100  # 4.0 s at 25 fps
    assert frames.std() > 20  # real picture content, not a blank array


@pytest.mark.parametrize("rotation", [90, 270, 180])
def test_a_phone_clip_is_read_upright_by_every_stage_that_reads_frames(tmp_path, rotation):
    # portrait frames (256 tall, 192 wide) stored turned, with the display matrix a phone writes
    upright = [np.ascontiguousarray(frame[:, 32:224]) for frame in portrait_frames(30)]
    phone = write_phone_clip(tmp_path / "phone.mp4", upright, rotation)
    info = probe_video(phone)
    assert (info.rotation_degrees, info.width, info.height) == (rotation, 192, 256)
    decoded = VideoFrames(phone).get(np.arange(3))
    assert decoded.shape == (3, 256, 192, 3)
    assert np.abs(decoded.astype(int) - np.stack(upright[:3])).mean() < 4  # codec noise, not a turned picture
    check_video(phone)  # finds the face
    reference = write_clip(tmp_path / "upright.mp4", upright)
    crops = {}
    for name, clip in {"reference": reference, "phone": phone}.items():
        (tmp_path / name).mkdir()
        crops[name] = extract_frames(clip, tmp_path / name, get_preset("preview")).crop
    # the face detector sees codec noise, so the crop may move by a pixel or two; a turned picture differs by ~90
    reference_crop, phone_crop = crops["reference"], crops["phone"]
    assert max(abs(phone_crop.left - reference_crop.left), abs(phone_crop.top - reference_crop.top)) <= 3
    assert abs(phone_crop.size - reference_crop.size) <= 4
    frames, expected = load_frames(tmp_path / "phone").astype(int), load_frames(tmp_path / "reference").astype(int)
    assert np.abs(frames - expected).mean() < 15


def test_a_mirrored_clip_is_refused_naming_the_file(tmp_path):
    upright = [np.ascontiguousarray(frame[:, 32:224]) for frame in portrait_frames(30)]
    mirrored = write_phone_clip(tmp_path / "selfie.mp4", upright, 0, mirrored=True)
    with pytest.raises(InputError, match=r"selfie\.mp4.*mirrored"):
        probe_video(mirrored)
