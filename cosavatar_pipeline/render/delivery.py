"""The edit delivered in the user's own frame, at its own resolution.

The avatar works in one fixed S×S face-centred crop (``frames``). Delivery puts its edit back into every native
frame of the source video:

- outside the edit's region, and everywhere beyond the crop box, the frame is the source's pixels as decoded;
- inside it, the edit's change (render − source, at S px, spread a little past the region) is upsampled to the
  native crop and added to the native source, so the source's own detail above the crop's resolution stays
  wherever the edit kept the structure; where the edit changed the structure (the render's local
  structure no longer matches the source's, see ``structure_kept``) the render's upsampled pixels are used instead;
- the region's edge is a matte: the region mask, upsampled, refined by a guided filter against the native
  frame (the guide), so hair edges follow the native strands instead of the render's pixel staircase;
- on the region's rim, where the native pixels mix the region's colour with what lies behind it (anti-aliased
  strands over a pale wall), each pixel's share of the region is read off the line between the two local colours
  (the colour-line model behind closed-form matting) wherever the two are told apart clearly, and the interior's
  change is added in that share: a half-covered pixel gets half the change, not a halo;
- where the crop's edge cuts the region and the frame goes on (the crown above a tight crop), the region is
  followed past the edge by its colour (``past_the_crop``), so the edit ends where the hair does, not in a seam.

Everything here works on one frame at a time, so memory does not grow with the clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cosavatar_pipeline.editing.regions import dilate
from cosavatar_pipeline.render.past_the_crop import continue_past_the_crop
from cosavatar_pipeline.video.crop import CropPlacement

# SSIM's contrast constant for 0-255 images: keeps the structure score near 1 where both images are flat.
_STRUCTURE_C2 = (0.03 * 255) ** 2


@dataclass(frozen=True)
class DeliveryConfig:
    """How the crop's edit is carried to the native frame. Lengths in crop pixels (S px), scaled to native."""

    structure_window_px: float = 1.5  # σ of the Gaussian window the structure score is taken over
    structure_changed_below: float = 0.2  # structure score under which the render's own pixels are delivered
    structure_kept_above: float = 0.5  # over which the source's native detail is kept in full
    matte_radius_px: float = 1.0  # the guided filter's window radius
    matte_eps: float = 1e-2  # its regulariser, in (0-1 intensity)²: lower snaps harder to the frame's edges
    matte_sharpness: float = 4.0  # the filtered mask's slope around 0.5: > 1 narrows the soft edge the filter leaves
    rim_band_px: int = 2  # crop px either side of the region's edge where the colour-line model may set the weight
    # the region's and the backdrop's local colours must lie this many times their summed local spreads apart for
    # the colour-line share to be used at all, and twice as far for it to be used alone
    rim_min_separation: float = 2.0
    # "colour_line": guided matte and colour-line rim; "guided": the matte alone; "nearest": the region and the
    # change only upsampled (the last two are the baselines the figures rank)
    edge: str = "colour_line"
    continue_past_crop: bool = True  # the region goes on past the crop's edges where its colour does (past_the_crop)
    # final.mp4's x264 quality: at 12 the pixels the edit left alone come back within 45 dB of the source as
    # decoded, at about 3x a phone clip's bit rate (docs/delivery.md has the figures); 20 halves the file, 41-43 dB
    final_crf: int = 12


@dataclass
class DeliveredFrame:
    frame: np.ndarray  # (H, W, 3) uint8: the native frame with the edit
    rows: slice  # the part of the frame the edit may have changed (native pixels)
    columns: slice
    matte: np.ndarray  # (h, w) float32 in [0, 1] over rows × columns: how much of the edit each pixel shows
    structure_kept: np.ndarray  # (h, w) float32 in [0, 1]: 1 where the source's native detail is kept


def structure_kept(render: np.ndarray, source: np.ndarray, config: DeliveryConfig) -> np.ndarray:
    """(S, S, 3) uint8 each -> (S, S) float32 in [0, 1]: 1 where the render keeps the source's local structure.

    The score is SSIM's contrast-structure term on luminance over Gaussian windows: 1 where the render's local
    variations follow the source's (a recolouring, or a slightly blurred reconstruction: 0.8 for half the
    contrast), near 0 where they are unrelated (a new object, a changed shape), negative where they are inverted.
    It is mapped linearly from ``structure_changed_below`` (0) to ``structure_kept_above`` (1)."""
    grey = [
        cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32) for image in (render, source)
    ]
    sigma = config.structure_window_px

    def mean(image):
        return cv2.GaussianBlur(image, (0, 0), sigma)

    mu_r, mu_s = mean(grey[0]), mean(grey[1])
    var_r = mean(grey[0] * grey[0]) - mu_r * mu_r
    var_s = mean(grey[1] * grey[1]) - mu_s * mu_s
    covariance = mean(grey[0] * grey[1]) - mu_r * mu_s
    score = (2 * covariance + _STRUCTURE_C2) / (np.maximum(var_r, 0) + np.maximum(var_s, 0) + _STRUCTURE_C2)
    low, high = config.structure_changed_below, config.structure_kept_above
    return np.clip((score - low) / (high - low), 0, 1).astype(np.float32)


def _upsampled(
    image: np.ndarray, placement: CropPlacement, rows: slice, columns: slice, interpolation: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """(S, S[, C]) -> the crop's native rows × columns of it, bilinear (pixel centres aligned) by default."""
    native = cv2.resize(image, (placement.size, placement.size), interpolation=interpolation)
    return native[rows, columns]


def _matte(guide, region, placement: CropPlacement, rows, columns, config: DeliveryConfig) -> np.ndarray:
    """(h, w) float32 in [0, 1]: the region upsampled to the native rows × columns and snapped to the native
    frame's edges by a guided filter (``guide``: the native pixels there, float 0-255), its soft edge narrowed by
    ``matte_sharpness``; weights under 1/255 are 0, so those pixels keep the source exactly."""
    if config.edge == "nearest":
        return _upsampled(region.astype(np.uint8), placement, rows, columns, cv2.INTER_NEAREST).astype(np.float32)
    upsampled = _upsampled(region.astype(np.float32), placement, rows, columns)
    radius = max(1, round(config.matte_radius_px * placement.scale))
    filtered = cv2.ximgproc.guidedFilter(guide / 255, upsampled, radius, config.matte_eps, dDepth=-1)
    matte = np.clip((filtered - 0.5) * config.matte_sharpness + 0.5, 0, 1)
    matte[matte < 1 / 255] = 0
    return matte


def _filled_outward(change: np.ndarray, region: np.ndarray, reach: int) -> np.ndarray:
    """(S, S[, C]) change, kept inside the (S, S) bool region and filled outside it with the nearby region's change
    (normalised convolution), so that upsampling does not fade the change towards the region's edge: where the
    edge ends is the matte's to say."""
    weight = cv2.GaussianBlur(region.astype(np.float32), (0, 0), reach / 2)
    if change.ndim == 3:
        region, weight = region[..., None], weight[..., None]
    spread = cv2.GaussianBlur(change * region, (0, 0), reach / 2) / np.maximum(weight, 1e-3)
    return np.where(region, change, spread * (weight > 1e-3))


def _local_colour(image: np.ndarray, where: np.ndarray, sigma: float):
    """(S, S, 3) float image, (S, S) bool pixels -> the mean colour (S, S, 3) of ``where``'s pixels in a Gaussian
    window around each pixel, their spread (S, S: the standard deviation's length over the channels), and (S, S)
    bool: whether the window holds enough of them for either to mean anything."""
    where = where.astype(np.float32)
    weight = cv2.GaussianBlur(where, (0, 0), sigma)[..., None]
    norm = np.maximum(weight, 1e-3)
    mean = cv2.GaussianBlur(image * where[..., None], (0, 0), sigma) / norm
    square = cv2.GaussianBlur(image * image * where[..., None], (0, 0), sigma) / norm
    spread = np.sqrt(np.maximum(square - mean * mean, 0).sum(-1))
    return mean, spread, weight[..., 0] > 0.05


@dataclass
class _Rim:
    """The colour-line reading of the region's rim, over the touched native rows × columns."""

    share: np.ndarray  # (h, w): how much of each native pixel is the region's colour, on the local colour line
    trust: np.ndarray  # (h, w) in [0, 1]: 1 where ``share`` replaces the matte, 0 where the matte stands
    foreground: np.ndarray  # (h, w, 3): the native pixel with the region interior's change added in full


def _colour_line_rim(
    guide, source_low, render_low, kept_low, region, placement, rows, columns, reach, config: DeliveryConfig
) -> _Rim | None:
    """Near the region's edge a native pixel is a mix ``share * F + (1 - share) * B`` of the region's local colour F
    (its interior, one crop pixel in) and the backdrop's B (one crop pixel out), both from the source crop. Its
    share is its projection on the line from B to F. Trusted where F and B lie far apart for their local spreads
    (not against a textured backdrop, nor a backdrop of the hair's own colour), where the edit kept the interior's
    structure, and only within ``rim_band_px`` of the edge. None when the region has no interior or no backdrop."""
    interior, backdrop = ~dilate(~region, 1), ~dilate(region, 1)
    if not interior.any() or not backdrop.any():
        return None

    def native(image):
        return _upsampled(image, placement, rows, columns)

    sigma = (reach + 1) / 2
    hair, hair_spread, near_hair = _local_colour(source_low, interior, sigma)
    back, back_spread, near_back = _local_colour(source_low, backdrop, sigma)
    line = hair - back
    length = np.sqrt((line * line).sum(-1))
    separation = length / (hair_spread + back_spread + 1)
    band = dilate(region, config.rim_band_px) & dilate(~region, config.rim_band_px) & near_hair & near_back
    trust_low = np.clip(separation / config.rim_min_separation - 1, 0, 1) * band
    trust_low *= _filled_outward(kept_low, interior, reach)  # a reshaped region is no mix of the two colours
    back, line = native(back), native(line)
    share = ((guide - back) * line).sum(-1) / np.maximum((line * line).sum(-1), 1.0)
    change = native(_filled_outward(render_low - source_low, interior, reach))
    return _Rim(np.clip(share, 0, 1), native(trust_low.astype(np.float32)), guide + change)


def _edit_rows_columns(region: np.ndarray, placement: CropPlacement, crop_rows: slice, crop_columns: slice, reach: int):
    """The native crop rows and columns the edit can touch: the region's bounding box grown by ``reach`` crop px,
    within the visible part. None when the region is empty."""
    rows, columns = np.nonzero(dilate(region, reach))
    if len(rows) == 0:
        return None
    scale = placement.scale
    top = max(int(np.floor(rows.min() * scale)), crop_rows.start)
    bottom = min(int(np.ceil((rows.max() + 1) * scale)), crop_rows.stop)
    left = max(int(np.floor(columns.min() * scale)), crop_columns.start)
    right = min(int(np.ceil((columns.max() + 1) * scale)), crop_columns.stop)
    if bottom <= top or right <= left:
        return None
    return slice(top, bottom), slice(left, right)


def deliver_frame(
    native: np.ndarray,
    source: np.ndarray,
    render: np.ndarray,
    region: np.ndarray,
    placement: CropPlacement,
    config: DeliveryConfig = DeliveryConfig(),
) -> DeliveredFrame:
    """One native frame with the edit in it.

    native: (H, W, 3) uint8, the source frame as decoded (upright); source, render: (S, S, 3) uint8, the crop of
    that frame and the edited avatar's render of it; region: (S, S) bool, where the edit may change the crop (the
    composite's grown region). Pixels the matte gives no weight keep their decoded value exactly."""
    _, _, crop_rows, crop_columns = placement.visible()
    reach = int(np.ceil(config.matte_radius_px)) + 2
    touched = _edit_rows_columns(region, placement, crop_rows, crop_columns, reach)
    delivered = np.array(native)
    if touched is None:
        empty = np.zeros((0, 0), np.float32)
        return DeliveredFrame(delivered, slice(0, 0), slice(0, 0), empty, empty)
    rows, columns = touched
    native_rows = slice(rows.start + placement.top, rows.stop + placement.top)
    native_columns = slice(columns.start + placement.left, columns.stop + placement.left)
    guide = native[native_rows, native_columns].astype(np.float32)
    matte, foreground, kept = _inside_the_crop(guide, source, render, region, placement, rows, columns, config)
    touched_native = (native_rows, native_columns)
    if config.continue_past_crop:
        grown = continue_past_the_crop(native, native_rows, native_columns, matte, foreground - guide, placement)
        margins = [(old.start - new.start, new.stop - old.stop) for old, new in zip(touched_native, grown.rectangle)]
        native_rows, native_columns = grown.rectangle
        matte, change, kept = grown.weight, grown.change, np.pad(kept, margins)
    else:
        change = foreground - guide
    mixed = native[native_rows, native_columns] + matte[..., None] * change
    delivered[native_rows, native_columns] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return DeliveredFrame(delivered, native_rows, native_columns, matte, kept)


def _inside_the_crop(guide, source, render, region, placement, rows, columns, config: DeliveryConfig):
    """Over the crop's native rows × columns (``guide``: the native pixels there, (h, w, 3) float): the weight of
    the edit (h, w), the pixels at full weight (h, w, 3) and where the source's detail is kept (h, w)."""
    reach = int(np.ceil(config.matte_radius_px)) + 2
    matte = _matte(guide, region, placement, rows, columns, config)
    kept_low = structure_kept(render, source, config)
    kept = _upsampled(kept_low, placement, rows, columns)
    source_low, render_low = source.astype(np.float32), render.astype(np.float32)
    # where the native pixel belongs to the region (matte >= 0.5): the source with the edit's change, its own
    # detail dropped where the structure changed; at the matte's soft rim, the region's render colour: adding the
    # region's change to a background pixel would overshoot it into a halo
    change = _upsampled(_filled_outward(render_low - source_low, region, reach), placement, rows, columns)
    detail = guide - _upsampled(source_low, placement, rows, columns)
    inside = guide + change - (1 - kept)[..., None] * detail
    beyond = _upsampled(_filled_outward(render_low, region, reach), placement, rows, columns)
    foreground = np.where((matte >= 0.5)[..., None], inside, beyond)
    rim = None
    if config.edge == "colour_line":
        rim = _colour_line_rim(guide, source_low, render_low, kept_low, region, placement, rows, columns, reach, config)
    if rim is not None:
        matte = rim.trust * rim.share + (1 - rim.trust) * matte
        matte[matte < 1 / 255] = 0
        foreground = rim.trust[..., None] * rim.foreground + (1 - rim.trust[..., None]) * foreground
    return matte, foreground, kept
