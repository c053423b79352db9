"""Editing building blocks (the round assets come with issue 6): blending and the procedural editor."""

import cv2
import numpy as np
import pytest

from cosavatar_pipeline.editing.blend import blend, change_inside_outside, feathered_mask
from cosavatar_pipeline.editing.procedural import COLOURS, STYLES, ProceduralEditor, parse_prompt
from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.parsing.labels import region_mask
from tests.conftest import manifest_of


def test_blend_by_hand():
    edited = np.full((1, 3, 3), 200, np.uint8)
    original = np.full((1, 3, 3), 100, np.uint8)
    out = blend(edited, original, np.array([[0.0, 0.25, 1.0]]))
    assert out[0, :, 0].tolist() == [100, 125, 200]


def test_vocabulary_and_unsupported_prompts():
    assert len({c for c in COLOURS if c != "gray"}) >= 20 and len(STYLES) == 7
    assert parse_prompt("Give her PINK hair") == ("colour", "pink")
    assert parse_prompt("give her hot pink hair") == ("colour", "hot pink")
    assert parse_prompt("turn him into a bronze statue") == ("style", "bronze statue")
    assert parse_prompt("make it a pencil sketch") == ("style", "pencil sketch")
    with pytest.raises(InputError, match=r"does not support it .* colours: .*pink.*; styles: pencil sketch, sepia"):
        parse_prompt("make her look like a cyborg")


def test_hair_edit_changes_only_the_hair_region_and_keeps_its_texture(real_clips):
    frames = np.load(manifest_of(real_clips, "frames", "woman").path("frames.npy"), mmap_mode="r")
    labels = np.load(manifest_of(real_clips, "face_parsing", "woman").path("labels.npy"), mmap_mode="r")
    frame, hair = np.asarray(frames[40]), region_mask(np.asarray(labels[40]), "hair")
    feather_px = 2.0
    mask = feathered_mask(hair, feather_px)
    edited = ProceduralEditor().edit_frame(frame, "give her pink hair", mask)
    result = blend(edited, frame, mask)
    reach = cv2.dilate(hair.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # the feather's reach
    assert np.array_equal(result[~reach], frame[~reach])
    inside, outside = change_inside_outside(result, frame, hair)
    assert inside > 30 and outside < 2
    hsv = cv2.cvtColor(result, cv2.COLOR_RGB2HSV)[hair & (mask > 0.99)]
    assert np.median(hsv[:, 0]) > 150  # pink/magenta hue on OpenCV's 0-180 scale
    grey_before = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[hair].astype(float)
    grey_after = cv2.cvtColor(result, cv2.COLOR_RGB2GRAY)[hair].astype(float)
    assert np.corrcoef(grey_before, grey_after)[0, 1] > 0.8  # strands and shading survive the recolouring


@pytest.mark.parametrize("style", sorted(STYLES))
def test_styles_change_the_image(style, sample_clips):
    from cosavatar_pipeline.video.decode import VideoFrames

    frame = VideoFrames(sample_clips["astronaut_talking"]).get(np.array([0]))[0]
    out = ProceduralEditor().edit_frame(frame, style, np.ones(frame.shape[:2], np.float32))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.abs(out.astype(float) - frame).mean() > 5


def test_region_grows_only_where_it_may():
    from cosavatar_pipeline.editing.regions import grown_region
    from cosavatar_pipeline.parsing import labels as L

    original = np.full((1, 12), L.BACKGROUND, np.uint8)
    original[0, 4:6] = L.HAIR
    original[0, 6:8] = L.SKIN
    original[0, 2:4] = L.CLOTH
    edited = np.full_like(original, L.HAIR)  # the edit's parser calls everything hair
    grown = grown_region("hair", original, edited, max_growth_px=3)
    # hair grows over clothes and background within 3 px (column 8 is 3 px from column 5), never into the skin
    assert np.flatnonzero(grown[0]).tolist() == [1, 2, 3, 4, 5, 8]
    assert grown_region("lips", original, edited, max_growth_px=3).sum() == 0  # no lips here; lips never grow
