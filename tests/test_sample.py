"""The bundled synthetic sample has real expression change and head motion for the face model to see."""

import numpy as np

from cosavatar_pipeline.face import landmarks as lm
from cosavatar_pipeline.video.decode import VideoFrames
from cosavatar_pipeline.video.probe import probe_video


def _mouth_and_eye_openings(path):
    video = VideoFrames(path)
    mouth, eye, nose = [], [], []
    with lm.FaceMesh(video_mode=True) as mesh:
        for frame in video.get(np.arange(video.frame_count)):
            points = mesh.detect(frame)
            assert points is not None
            scale = np.linalg.norm(points[lm.MOUTH_CORNERS[0], :2] - points[lm.MOUTH_CORNERS[1], :2])
            mouth.append(
                np.linalg.norm(points[lm.UPPER_INNER_LIP_CENTRE, :2] - points[lm.LOWER_INNER_LIP_CENTRE, :2]) / scale
            )
            eye.append(np.linalg.norm(points[159, :2] - points[145, :2]) / scale)
            nose.append(points[1, :2])
    return np.array(mouth), np.array(eye), np.array(nose)


def test_sample_clips_move_and_talk(sample_clips):
    for name, path in sample_clips.items():
        info = probe_video(path)
        assert (info.width, info.height, info.frame_count) == (512, 512, 120)
        mouth, eye, nose = _mouth_and_eye_openings(path)
        assert mouth.max() - mouth.min() > 0.1, name  # the mouth opens and closes
        assert eye.min() < 0.85 * np.median(eye), name  # at least one blink (FaceMesh under-reads closed lids)
        assert np.ptp(nose, axis=0).max() > 5, name  # the head moves (pixels)
