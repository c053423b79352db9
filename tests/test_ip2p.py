"""The real InstructPix2Pix code path on a tiny, randomly initialised pipeline saved to disk and loaded back
offline (no weights exist on this machine; the output is noise-like, what is tested is the path)."""

import numpy as np
import pytest

from cosavatar_pipeline.editing.config import IP2PSettings
from cosavatar_pipeline.editing.ip2p import EditorUnavailable, InstructPix2PixEditor


@pytest.fixture(scope="module")
def tiny_pipeline_dir(tmp_path_factory):
    from benchmarks.random_ip2p import random_ip2p_pipeline

    folder = tmp_path_factory.mktemp("tiny_ip2p")
    random_ip2p_pipeline("tiny", folder / "tokenizer").save_pretrained(folder / "pipeline")
    return folder / "pipeline"


def _frames(count: int, size: int = 64):
    rng = np.random.default_rng(0)
    renders = rng.integers(0, 255, (count, size, size, 3), dtype=np.uint8)
    originals = rng.integers(0, 255, (count, size, size, 3), dtype=np.uint8)
    return renders, originals, np.ones((count, size, size), np.float32)


def test_edit_runs_end_to_end_offline(tiny_pipeline_dir):
    settings = IP2PSettings(model=str(tiny_pipeline_dir), steps=3, noise_lower=0.3, noise_upper=0.6, edit_resolution=64)
    editor = InstructPix2PixEditor(settings, device="cpu")
    renders, originals, masks = _frames(1)
    first = editor.edit(renders, originals, "give her pink hair", masks, np.array([1]))
    again = editor.edit(renders, originals, "give her pink hair", masks, np.array([1]))
    other = editor.edit(renders, originals, "give her pink hair", masks, np.array([2]))
    assert first.shape == renders.shape and first.dtype == np.uint8
    assert np.array_equal(first, again)  # seeded: the same seed gives the same edit
    assert not np.array_equal(first, other)
    assert 0.3 <= editor.noise_level(1) <= 0.6 and editor.noise_level(1) != editor.noise_level(2)
    assert editor.batch_size == 1  # one frame per UNet call on a CPU


def test_a_frames_edit_does_not_depend_on_its_batch(tiny_pipeline_dir):
    """Each frame has its own generator, noise level and timesteps: three frames edited one by one and in one batch
    agree, and each differs from the others."""
    renders, originals, masks = _frames(3)
    seeds = np.array([11, 12, 13])
    results = {}
    for batch_size in (1, 3):
        settings = IP2PSettings(model=str(tiny_pipeline_dir), steps=3, edit_resolution=64, batch_size=batch_size)
        results[batch_size] = InstructPix2PixEditor(settings, device="cpu").edit(
            renders, originals, "make it blue", masks, seeds
        )
    difference = np.abs(results[1].astype(int) - results[3].astype(int))
    assert difference.max() <= 1, difference.max()
    assert not np.array_equal(results[1][0], results[1][1])


def test_settings_presets_and_their_checks():
    from cosavatar_pipeline.editing.config import IP2P_SETTING_PRESETS, ip2p_settings
    from cosavatar_pipeline.errors import InputError

    assert ip2p_settings("in2n") == IP2PSettings() == IP2P_SETTING_PRESETS["in2n"]
    portrait = ip2p_settings("portraitgen", batch_size=4, steps=None)
    assert (portrait.steps, portrait.noise_lower, portrait.batch_size) == (15, 0.70, 4)
    with pytest.raises(InputError, match="edit_resolution.*multiple of 64"):
        IP2PSettings(edit_resolution=500)
    with pytest.raises(InputError, match="unknown; choose one of"):
        ip2p_settings("fast")


def test_missing_weights_say_where_we_looked(tmp_path):
    with pytest.raises(
        EditorUnavailable, match=r"InstructPix2Pix weights not found: looked for '.*nowhere'.*nothing is downloaded"
    ):
        InstructPix2PixEditor(IP2PSettings(model=str(tmp_path / "nowhere")))


def test_auto_picks_ip2p_when_weights_exist_and_says_why(tiny_pipeline_dir, tmp_path):
    from cosavatar_pipeline.editing.choice import choose_editor

    editor, reason = choose_editor("auto", IP2PSettings(model=str(tiny_pipeline_dir)))
    assert editor.name == "ip2p" and reason.startswith("ip2p: weights from")
    editor, reason = choose_editor("auto", IP2PSettings(model=str(tmp_path / "nowhere")))
    assert editor.name == "procedural" and "auto fell back because no InstructPix2Pix weights" in reason
    with pytest.raises(EditorUnavailable):
        choose_editor("ip2p", IP2PSettings(model=str(tmp_path / "nowhere")))
    assert choose_editor("procedural")[0].name == "procedural"
