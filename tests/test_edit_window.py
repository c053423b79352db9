"""Where frames are edited at the editor's resolution: the window around head and region, and the paste back."""

import numpy as np
import pytest

from cosavatar_pipeline.editing.dataset_update import edit_in_windows
from cosavatar_pipeline.editing.edit_window import EditWindow, edit_window
from cosavatar_pipeline.editing.procedural import ProceduralEditor
from cosavatar_pipeline.presets import PRESETS


def _face_and_hair(size: int):
    """A hand-made frame: a face (landmarks on a ring) in the upper middle, hair as a band above it."""
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    centre, radius = np.array([0.45 * size, 0.4 * size]), 0.12 * size
    face_points = np.stack([centre[0] + radius * np.cos(angles), centre[1] + 1.3 * radius * np.sin(angles)], axis=1)
    hair = np.zeros((size, size), bool)
    hair[int(0.15 * size) : int(0.25 * size), int(0.3 * size) : int(0.6 * size)] = True
    return face_points, hair


class WindowedRecolour(ProceduralEditor):
    """The real procedural edit, but run on windows at a fixed resolution, as InstructPix2Pix is."""

    def __init__(self, resolution: int):
        self.resolution = resolution
        self.seen_shapes = []

    def edit(self, renders, originals, prompt, masks, seeds):
        self.seen_shapes.append(renders.shape)
        return super().edit(renders, originals, prompt, masks, seeds)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_only_the_window_changes_and_the_paste_lands_in_place(preset):
    size = PRESETS[preset].resolution
    face_points, hair = _face_and_hair(size)
    window = edit_window("hair", hair, face_points)
    assert window.side < size and 0 <= window.x0 <= size - window.side and 0 <= window.y0 <= size - window.side
    rows, columns = np.nonzero(hair)
    for x, y in [*face_points, *zip(columns, rows)]:  # the face and the region lie inside, with margin
        assert window.x0 <= x < window.x0 + window.side and window.y0 <= y < window.y0 + window.side

    # a smooth frame (waves 1/8 of the side long) cut out, upscaled to 512, downscaled and pasted back comes back
    # where it was
    ys, xs = np.mgrid[0:size, 0:size] * (2 * np.pi * 8 / size)
    frame = (127 + 100 * np.stack([np.sin(xs), np.sin(ys), np.sin(xs + ys)], axis=-1)).astype(np.uint8)
    round_trip = np.abs(window.paste(window.crop(frame, 512), frame).astype(int) - frame)
    assert round_trip.max() <= 3 and round_trip.mean() < 0.2
    shifted = EditWindow(window.x0 + 3, window.y0, window.side).paste(window.crop(frame, 512), frame)
    assert np.abs(shifted.astype(int) - frame).max() > 5  # a paste three pixels off would show

    editor = WindowedRecolour(resolution=512)
    masks = hair[None].astype(np.float32)
    edited = edit_in_windows(editor, [window], frame[None], frame[None], "give her pink hair", masks, np.array([0]))[0]
    assert editor.seen_shapes == [(1, 512, 512, 3)]
    inside = np.zeros((size, size), bool)
    inside[window.y0 : window.y0 + window.side, window.x0 : window.x0 + window.side] = True
    assert np.array_equal(edited[~inside], frame[~inside])
    assert np.abs(edited[hair].astype(int) - frame[hair]).mean() > 20  # the hair was recoloured


@pytest.mark.parametrize("region", ["person", "all", "background"])
def test_whole_frame_regions_edit_the_whole_frame(region):
    face_points, hair = _face_and_hair(128)
    assert edit_window(region, hair, face_points) == EditWindow(0, 0, 128)


def test_a_region_too_large_for_a_square_inside_the_frame_edits_the_whole_frame():
    face_points, _ = _face_and_hair(128)
    everywhere = np.zeros((128, 128), bool)
    everywhere[2:126, 5:120] = True
    assert edit_window("clothes", everywhere, face_points) == EditWindow(0, 0, 128)
