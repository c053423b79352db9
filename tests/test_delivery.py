"""Delivery in the user's own frame: where crop pixels land natively, what stays the source's, detail, edges, audio
and phone rotation, on real video files and real encoding."""

import av
import cv2
import numpy as np
import pytest
from skimage import data

from cosavatar_pipeline.editing.edit_window import EditWindow
from cosavatar_pipeline.editing.regions import dilate
from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.render.delivery import DeliveryConfig, deliver_frame, structure_kept
from cosavatar_pipeline.render.delivery_video import bicubic_delivery, deliver_video, detail_ratio
from cosavatar_pipeline.video.crop import CropPlacement
from cosavatar_pipeline.video.native import native_frames
from tests.media import write_clip_with_audio, write_phone_clip

S = 48  # crop resolution


def crop_of(native: np.ndarray, placement: CropPlacement) -> np.ndarray:
    """The S×S crop as the frames stage makes it (area resize), parts past the frame's edge filled by replication."""
    pad = placement.size
    padded = cv2.copyMakeBorder(native, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    top, left = placement.top + pad, placement.left + pad
    square = padded[top : top + placement.size, left : left + placement.size]
    return cv2.resize(square, (S, S), interpolation=cv2.INTER_AREA)


def textured_frame(height: int, width: int) -> np.ndarray:
    """A real photograph's texture (fine detail everywhere), at the given size."""
    return cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_AREA)


def test_a_marked_crop_pixel_lands_at_its_native_place_and_nothing_else_changes():
    native = textured_frame(150, 200)
    # the square reaches 20 px past the left edge and 30 px past the bottom
    placement = CropPlacement(left=-20, top=60, size=120, resolution=S, frame_height=150, frame_width=200)
    source = crop_of(native, placement)
    render, region = source.copy(), np.zeros((S, S), bool)
    render[20:24, 30:34] = (0, 255, 0)  # crop pixels x 30..33, y 20..23
    region[18:26, 28:36] = True
    delivered = deliver_frame(native, source, render, region, placement)
    # the block's centre, crop (32, 22) -> native x = 32 * 2.5 - 20 = 60, y = 22 * 2.5 + 60 = 115 (pixel edges)
    pixels = delivered.frame.astype(int)
    green = (pixels[..., 1] > 180) & (pixels[..., 0] < 90) & (pixels[..., 2] < 90)
    ys, xs = np.nonzero(green)
    assert green.sum() > 60 and abs(xs.mean() + 0.5 - 60) < 1 and abs(ys.mean() + 0.5 - 115) < 1
    changed = np.any(delivered.frame != native, axis=-1)
    rows, columns = np.nonzero(changed)
    # everything the edit changed lies within the region's native box, grown by the matte's reach
    assert rows.min() >= 18 * 2.5 + 60 - 8 and rows.max() <= 26 * 2.5 + 60 + 8
    assert columns.min() >= 28 * 2.5 - 20 - 8 and columns.max() <= 36 * 2.5 - 20 + 8
    # an edit near the frame's edge: the part of the square past it is simply not pasted
    edge_render, edge_region = source.copy(), np.zeros((S, S), bool)
    edge_render[:, :10], edge_region[:, :10] = (255, 0, 255), True
    at_edge = deliver_frame(native, source, edge_render, edge_region, placement)
    assert at_edge.frame.shape == native.shape
    inside = at_edge.frame[70:170, 0:2].reshape(-1, 3).astype(int)  # crop x 8..9 -> native x 0..3
    assert (inside[:, 1] < 80).all()  # magenta arrived at the frame's left edge
    beyond = np.ones(native.shape[:2], bool)
    beyond[60:150, 0:100] = False  # the visible part of the square
    assert np.array_equal(at_edge.frame[beyond], native[beyond])


def test_outside_the_region_the_source_pixels_stay_exactly():
    native = textured_frame(160, 160)
    placement = CropPlacement(left=20, top=10, size=120, resolution=S, frame_height=160, frame_width=160)
    source = crop_of(native, placement)
    region = np.zeros((S, S), bool)
    region[5:20, 10:38] = True
    render = source.copy()
    render[region] = (render[region] * 0.5 + np.array([120, 0, 60])).astype(np.uint8)
    delivered = deliver_frame(native, source, render, region, placement)
    near = dilate(region, 4)
    outside = np.ones(native.shape[:2], bool)
    ys, xs = np.nonzero(near)
    outside[
        int(ys.min() * 2.5) + 10 : int((ys.max() + 1) * 2.5) + 10,
        int(xs.min() * 2.5) + 20 : int((xs.max() + 1) * 2.5) + 20,
    ] = False
    assert np.array_equal(delivered.frame[outside], native[outside])
    assert np.abs(delivered.frame[30:45, 60:100].astype(int) - native[30:45, 60:100]).mean() > 20  # the edit arrived


def hair_case(scale: int = 4):
    """A synthetic 'hair' region with fine strands at native size, its crop, and a recolouring edit of it: the
    native truth of both the region and the edit is known."""
    size = S * scale
    rng = np.random.default_rng(0)
    native = textured_frame(size, size)
    yy, xx = np.mgrid[0:size, 0:size]
    # a wavy-edged blob, with strands (thin dark lines) inside
    radius = size * 0.3 + size * 0.03 * np.sin(np.arctan2(yy - size / 2, xx - size / 2) * 9)
    truth = np.hypot(yy - size / 2, xx - size / 2) < radius
    strands = (np.sin(xx * 1.3 + 0.2 * yy + rng.random()) > 0.6)[..., None]
    native = np.where(truth[..., None], np.where(strands, 40, 90), native).astype(np.uint8)
    placement = CropPlacement(0, 0, size, S, size, size)
    pink = np.array([230, 60, 160], np.float32)

    def recolour(image, mask):
        grey = image.astype(np.float32).mean(-1, keepdims=True) / 255
        return np.where(mask[..., None], (pink * (0.5 + grey)).clip(0, 255), image).astype(np.uint8)

    source = cv2.resize(native, (S, S), interpolation=cv2.INTER_AREA)
    region = cv2.resize(truth.astype(np.float32), (S, S), interpolation=cv2.INTER_AREA) > 0.5
    render = cv2.GaussianBlur(recolour(source, region), (0, 0), 0.6)  # a render is a little blurred
    return native, source, render, region, truth, placement, recolour(native, np.ones_like(truth))


def wispy_case(scale: int = 4, supersampling: int = 4):
    """Dark hair with strands reaching past its edge over a pale wall, anti-aliased (drawn ``supersampling`` times
    finer, then area-averaged), so the edge's native pixels mix the two colours; the edit recolours the hair. Gives
    the native frame, its crop, the render, the crop's region, the native share of hair per pixel, the placement and
    the native reference: the same recolouring applied to the hair's share of each pixel."""
    size = S * scale
    fine = np.mgrid[0 : size * supersampling, 0 : size * supersampling] / supersampling
    yy, xx = fine
    angle = np.arctan2(yy - size / 2, xx - size / 2)
    distance = np.hypot(yy - size / 2, xx - size / 2)
    edge = size * (0.3 + 0.03 * np.sin(angle * 9))
    hair_mask = (distance < edge) | ((np.sin(angle * 140) > 0.85) & (distance < edge + 6))
    hair = np.where(np.sin(xx * 1.3 + 0.2 * yy) > 0.6, 35.0, 75.0)[..., None] * np.ones(3)
    wall = np.array([205.0, 212.0, 222.0]) + 6 * np.sin(xx * 0.05)[..., None]
    pink = np.array([230.0, 60.0, 160.0]) * (0.5 + hair / 255)

    def area(image):
        return cv2.resize(image.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)

    share = area(hair_mask)
    native = np.clip(area(np.where(hair_mask[..., None], hair, wall)) + 0.5, 0, 255).astype(np.uint8)
    reference = area(np.where(hair_mask[..., None], pink, wall))
    placement = CropPlacement(0, 0, size, S, size, size)
    return native, *crop_inputs(native, reference, share, placement), share, placement, reference


def crop_inputs(native, reference, share, placement):
    """The crop of ``native`` at ``placement`` (inside the frame), its render (the reference's crop, a little
    blurred) and its region (where the crop's share of hair is over half)."""
    square = (
        slice(placement.top, placement.top + placement.size),
        slice(placement.left, placement.left + placement.size),
    )

    def crop(image):
        return cv2.resize(image[square].astype(np.float32), (S, S), interpolation=cv2.INTER_AREA)

    render = np.clip(cv2.GaussianBlur(crop(reference), (0, 0), 0.6) + 0.5, 0, 255).astype(np.uint8)
    return np.clip(crop(native) + 0.5, 0, 255).astype(np.uint8), render, crop(share) > 0.5


def rim_errors(delivered: np.ndarray, reference: np.ndarray, share: np.ndarray) -> tuple[float, float]:
    """Within 2 px of the pixels that mix hair and wall: the mean error against the reference, and the mean
    brightening over it (a halo: luminance above the reference's)."""
    band = dilate((share > 0.02) & (share < 0.98), 2)
    difference = delivered.astype(np.float32) - reference
    brighter = np.maximum(difference @ np.array([0.299, 0.587, 0.114], np.float32), 0)
    return float(np.abs(difference)[band].mean()), float(brighter[band].mean())


def test_a_mixed_hair_edge_over_a_pale_wall_gets_no_halo():
    native, source, render, region, share, placement, reference = wispy_case()
    errors = {
        edge: rim_errors(
            deliver_frame(native, source, render, region, placement, DeliveryConfig(edge=edge)).frame, reference, share
        )
        for edge in ("colour_line", "guided", "nearest")
    }
    # the matte alone: 8.8 levels off and 2.4 brighter on average; the colour line: 2.7 and 1.4
    assert errors["colour_line"][0] < 0.5 * errors["guided"][0] < errors["nearest"][0]
    assert errors["colour_line"][1] < 0.7 * errors["guided"][1]
    far = ~dilate(share > 0, 8)
    delivered = deliver_frame(native, source, render, region, placement).frame
    assert np.array_equal(delivered[far], native[far])  # the wall away from the hair stays as it was


def test_hair_cut_by_the_crop_goes_on_past_its_edge():
    """A tight crop cuts the crown: the hair above the crop's top edge takes the edit too, the wall does not."""
    native, _, _, _, share, _, reference = wispy_case()
    placement = CropPlacement(left=30, top=60, size=132, resolution=S, frame_height=192, frame_width=192)
    source, render, region = crop_inputs(native, reference, share, placement)
    above = np.zeros(share.shape, bool)
    above[:60] = True
    crown, wall = above & (share > 0.99), above & ~dilate(share > 0, 3)
    assert crown.sum() > 300

    def error_on_the_crown(config):
        delivered = deliver_frame(native, source, render, region, placement, config).frame
        return float(np.abs(delivered.astype(np.float32) - reference)[crown].mean()), delivered

    continued, delivered = error_on_the_crown(DeliveryConfig())
    cut, _ = error_on_the_crown(DeliveryConfig(continue_past_crop=False))
    assert continued < 15 and cut > 50, (continued, cut)  # the crown recoloured, not a dark cap on pink hair
    assert np.array_equal(delivered[wall], native[wall])


def test_detail_figure_ranks_bicubic_below_the_delivery():
    native, source, render, region, truth, placement, _ = hair_case()
    delivered = deliver_frame(native, source, render, region, placement)
    from cosavatar_pipeline.editing.blend import blend, feathered_mask

    composite = blend(render, source, feathered_mask(region, 1))
    bicubic = bicubic_delivery(native, composite, placement)
    inner = ~dilate(~truth, 6)
    ours, baseline = detail_ratio(delivered.frame, native, inner), detail_ratio(bicubic, native, inner)
    assert ours > 0.7 and baseline < 0.3 and ours > 3 * baseline


def test_edges_follow_the_native_region_better_than_a_nearest_neighbour_mask():
    """The boundary figure: error in a band around the true native edge against the edit applied with the native
    truth; the guided matte must beat the render's pixel staircase (the same change, nearest-neighbour mask)."""
    native, source, render, region, truth, placement, recoloured = hair_case()
    reference = np.where(truth[..., None], recoloured, native)
    ours = deliver_frame(native, source, render, region, placement).frame
    nearest = deliver_frame(native, source, render, region, placement, DeliveryConfig(edge="nearest")).frame
    band = dilate(truth, 4) & dilate(~truth, 4)  # within 4 px of the true edge, both sides

    def band_error(image):
        return float(np.abs(image.astype(np.float32) - reference.astype(np.float32))[band].mean())

    assert band_error(ours) < band_error(nearest)


def test_structure_score_keeps_a_recolouring_and_drops_a_new_object():
    native, source, render, region, *_ = hair_case()
    kept = structure_kept(render, source, DeliveryConfig())
    assert kept[region].mean() > 0.8  # recoloured and blurred: the same structure
    new_object = render.copy()
    checker = (np.indices((S, S)).sum(0) // 2 % 2 * 255).astype(np.uint8)
    new_object[10:30, 10:30] = checker[10:30, 10:30, None]
    assert structure_kept(new_object, source, DeliveryConfig())[14:26, 14:26].mean() < 0.3


def deliver_clip(tmp_path, path, count, audio, config=DeliveryConfig()):
    frames = list(native_frames(path, np.arange(count)))
    natives = [f.rgb for f in frames]
    height, width = natives[0].shape[:2]
    side = min(height, width)
    crop = {"left": (width - side) // 2, "top": (height - side) // 2, "size": side}
    placement = CropPlacement.of(crop, S, height, width)
    sources = np.stack([crop_of(n, placement) for n in natives])
    regions = np.zeros((count, S, S), bool)
    regions[:, 8:20, 10:30] = True
    renders = sources.copy()
    renders[regions] = 255 - renders[regions]
    result = deliver_video(
        iter(frames),
        sources,
        renders,
        renders,
        regions,
        crop,
        25.0,
        tmp_path / "final.mp4",
        tmp_path / "side.mp4",
        audio_from=path if audio else None,
        config=config,
    )
    return natives, result


def decoded(path):
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        return frames, bool(container.streams.audio)


def test_final_keeps_the_sources_audio_and_frame(tmp_path):
    upright = [textured_frame(144, 208)] * 30
    clip = write_clip_with_audio(tmp_path / "talk.mp4", upright)
    natives, result = deliver_clip(tmp_path, clip, 30, audio=True)
    frames, has_audio = decoded(tmp_path / "final.mp4")
    assert has_audio and decoded(tmp_path / "side.mp4")[1]
    assert len(frames) == 30 and frames[0].shape == (144, 208, 3)
    assert decoded(tmp_path / "side.mp4")[0][0].shape == (144, 416, 3)
    # far from the edit, only the encoder's loss
    error = np.abs(frames[5][100:, :].astype(float) - natives[5][100:, :]).mean()
    assert error < 3


def test_untouched_pixels_reach_the_encoder_as_the_source_stored_them(tmp_path):
    # a lossless encode shows what the delivery itself hands the encoder: the source's own values, where a trip
    # through RGB would have changed luma by about a level
    clip = write_clip_with_audio(tmp_path / "talk.mp4", [textured_frame(144, 208)] * 6)
    natives, result = deliver_clip(tmp_path, clip, 6, audio=False, config=DeliveryConfig(final_crf=0))
    frames, _ = decoded(tmp_path / "final.mp4")
    changed = np.any(frames[2] != natives[2], axis=2)
    assert changed[:, 140:].sum() == 0 and changed[75:].sum() == 0  # beyond the region's reach (native 24-60, 62-122)
    assert changed.any()  # the region itself was edited
    roundtrip = av.VideoFrame.from_ndarray(natives[2], format="rgb24").reformat(format="yuv420p")
    assert np.any(roundtrip.to_ndarray(format="rgb24") != natives[2])  # what passing RGB would have cost


def test_a_source_that_stops_decoding_names_the_file_and_frame(tmp_path):
    clip = write_clip_with_audio(tmp_path / "talk.mp4", [textured_frame(144, 208)] * 40)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(InputError, match=r"my_clip\.mp4.*source frame \d+"):
        list(native_frames(cut, np.arange(40), label="my_clip.mp4"))


@pytest.mark.parametrize("rotation", [90, 270])
def test_a_rotated_phone_clip_is_delivered_upright(tmp_path, rotation):
    upright = [textured_frame(208, 144)] * 20  # portrait, as the user sees it
    phone = write_phone_clip(tmp_path / "phone.mp4", upright, rotation)
    natives, result = deliver_clip(tmp_path, phone, 20, audio=False)
    frames, _ = decoded(tmp_path / "final.mp4")
    assert (result.height, result.width) == (208, 144) and frames[0].shape == (208, 144, 3)
    error = np.abs(frames[3][150:].astype(float) - upright[0][150:]).mean()
    turned = np.abs(frames[3][150:].astype(float) - upright[0][::-1][150:]).mean()
    assert error < 8 and turned > 3 * error  # upright (two encodings' loss), not turned


def test_a_native_window_is_cut_at_the_crop_windows_place():
    native = textured_frame(300, 400)
    placement = CropPlacement(left=100, top=50, size=200, resolution=S, frame_height=300, frame_width=400)
    window = EditWindow(x0=12, y0=6, side=24)  # crop pixels -> native x 150..250, y 75..175
    sharp = window.crop_native(native, placement, 100)
    assert np.abs(sharp.astype(int) - native[75:175, 150:250]).mean() < 1
    assert EditWindow(x0=0, y0=0, side=48).crop_native(native, CropPlacement(-10, 0, 200, S, 300, 400), 64) is None
