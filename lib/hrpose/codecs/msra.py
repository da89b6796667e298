"""MSRA heatmap codec: the reference HRNet targets, affine and decoding, vectorised.

Coordinates
-----------
* Crop pixels: the ``reference`` convention of ``hrpose.datasets.transforms`` (box centre -> (W/2, H/2)).
* Heatmap pixels: crop / stride with ``stride = input_size / heatmap_size`` per axis; the target is
  centred on the *integer* cell ``int(x / stride + 0.5)`` as in the reference (up to 0.5 cell of
  quantisation, which the quarter offset of the decoder partly undoes).
* Sizes are ``(w, h)``; arrays are ``[K, h, w]`` / ``[N, K, h, w]``.
"""

import numpy as np

from hrpose.codecs import refine
from hrpose.datasets import transforms as T


def codec_sizes(input_size, heatmap_size, sigma) -> tuple[tuple[int, int], tuple[int, int], float]:
    """Validate and normalise the codec arguments; raises ``ValueError`` naming the bad value."""
    sizes = []
    for name, size in (("input_size", input_size), ("heatmap_size", heatmap_size)):
        values = tuple(int(v) for v in size)
        if len(values) != 2 or min(values) < 2:
            raise ValueError(f"codec {name} must be [w, h] with both >= 2, got {list(size)}")
        sizes.append(values)
    if not float(sigma) > 0:
        raise ValueError(f"codec sigma must be > 0, got {sigma}")
    # Keep an int sigma an int so the reference arithmetic (tmp = 3 * sigma) stays integral.
    sigma = int(sigma) if float(sigma).is_integer() else float(sigma)
    return sizes[0], sizes[1], sigma


def target_weights(visible: np.ndarray) -> np.ndarray:
    """Reference target weight ``min(v, 1)`` (COCO v {0, 1, 2} -> {0, 1, 1}), floored at 0; float32 [K]."""
    return np.clip(np.asarray(visible, dtype=np.float32).reshape(-1), 0.0, 1.0)


def reference_gaussian_patch(sigma) -> np.ndarray:
    """The reference's unnormalised Gaussian patch, float32 [size, size], peak 1 at ``size // 2``.

    ``size = 2 * 3 * sigma + 1`` exactly as the reference computes it (``np.arange`` of a float size
    for a float sigma), in float32 arithmetic so gathered values are bit-identical to its pasted patch.
    """
    size = 2 * (sigma * 3) + 1
    x = np.arange(0, size, 1, np.float32)
    y = x[:, np.newaxis]
    x0 = y0 = size // 2
    return np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma ** 2))


def window_bounds(mu: np.ndarray, radius) -> tuple[np.ndarray, np.ndarray]:
    """Reference window ``ul = int(mu - r)``, ``br = int(mu + r + 1)`` (truncation toward 0); int64 [K, 2]."""
    mu = np.asarray(mu, dtype=np.float64)
    return np.trunc(mu - radius).astype(np.int64), np.trunc(mu + radius + 1).astype(np.int64)


def outside(ul: np.ndarray, br: np.ndarray, heatmap_size) -> np.ndarray:
    """The reference's skip test ``ul_x >= W or ul_y >= H or br_x < 0 or br_y < 0``; bool [K].

    ``br == 0`` is *not* outside: the reference then pastes an empty slice and keeps weight 1 (quirk).
    """
    w, h = heatmap_size
    return (ul[:, 0] >= w) | (ul[:, 1] >= h) | (br[:, 0] < 0) | (br[:, 1] < 0)


def window_mask(ul: np.ndarray, br: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Per joint, grid index ``g = 0..length-1``: (inside ``[ul, br)``, offset ``g - ul``); [K, length]."""
    grid = np.arange(length, dtype=np.int64)
    inside = (grid[None, :] >= ul[:, None]) & (grid[None, :] < br[:, None])
    return inside, grid[None, :] - ul[:, None]


class CodecBase:
    """What both codecs share: sizes, ``repr`` and the image -> crop matrix of their convention."""

    udp: bool
    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    sigma: float

    def __repr__(self) -> str:
        sizes = f"input_size={self.input_size}, heatmap_size={self.heatmap_size}"
        return f"{type(self).__name__}({sizes}, sigma={self.sigma})"

    def image_affine(self, center, scale, rotation: float, flip_width: int | None = None) -> np.ndarray:
        """Image -> crop matrix float64 [2, 3] at ``input_size`` (the codec's convention, flip folded in)."""
        return T.get_affine_matrix(center, scale, rotation, self.input_size, udp=self.udp,
                                   flip_width=flip_width)


class MSRAHeatmap(CodecBase):
    """Reference (MSRA / HRNet) Gaussian heatmap codec. ``udp = False``.

    Args:
        input_size: network input ``(w, h)`` in crop pixels.
        heatmap_size: network output ``(w, h)``.
        sigma: Gaussian sigma in heatmap pixels (int or float, as the reference).
    """

    udp = False

    def __init__(self, input_size, heatmap_size, sigma=2):
        self.input_size, self.heatmap_size, self.sigma = codec_sizes(input_size, heatmap_size, sigma)
        self.stride = np.asarray(self.input_size, np.float64) / np.asarray(self.heatmap_size, np.float64)
        self._patch = reference_gaussian_patch(self.sigma)
        self._windows = self._patch_windows()

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reference targets for one person.

        Args:
            keypoints: [K, 2] crop pixels (extra columns are ignored).
            visible: [K] visibility (COCO v or 0/1).
        Returns:
            heatmaps float32 [K, h, w] and weights float32 [K], equal to the reference ``generate_target``:
            the reference patch gathered (not recomputed) into the clipped window around
            ``mu = int(x / stride + 0.5)``, only for weight > 0.5; weight 0 when the window misses the map.
            Quirk kept: a window ending exactly at ``br == 0`` gives an empty map with weight 1.
            Non-finite keypoints get weight 0 (the reference would raise).
        """
        pts = np.asarray(keypoints, dtype=np.float64).reshape(-1, np.shape(keypoints)[-1])[:, :2]
        weights = target_weights(visible)
        finite = np.isfinite(pts).all(axis=1)
        mu = np.trunc(np.where(finite[:, None], pts, 0.0) / self.stride + 0.5)
        ul, br = window_bounds(mu, self.sigma * 3)
        weights = np.where(outside(ul, br, self.heatmap_size) | ~finite, np.float32(0), weights)
        heatmaps = self._paste(ul, br, weights > 0.5)
        return heatmaps, weights.astype(np.float32)

    def heatmap_keypoints(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What ``MSRATargetRenderer`` renders ``encode``'s maps from (``TRAIN.TARGETS_ON_DEVICE``).

        Args:
            keypoints: [K, 2] crop pixels (extra columns are ignored). visible: [K].
        Returns:
            float32 [K, 2] heatmap px ``crop / stride`` (0 for non-finite points) and float32 [K]
            ``clip(v, 0, 1)`` (0 for non-finite points; the window rule is the renderer's). Where the
            float32 rounding would move ``int(x + 0.5)`` off the float64 centre that ``encode`` uses,
            the value is moved back by one float32 ulp, so the rendered maps equal ``encode``'s.
        """
        pts = np.asarray(keypoints, dtype=np.float64).reshape(-1, np.shape(keypoints)[-1])[:, :2]
        finite = np.isfinite(pts).all(axis=1)
        exact = np.where(finite[:, None], pts, 0.0) / self.stride
        coords = exact.astype(np.float32)
        moved = np.trunc(coords.astype(np.float64) + 0.5) != np.trunc(exact + 0.5)
        # one ulp suffices: the rounding boundaries n - 0.5 are float32 values themselves
        toward = np.where(coords > exact, -np.inf, np.inf).astype(np.float32)
        coords = np.where(moved, np.nextafter(coords, toward), coords)
        weights = np.where(finite, target_weights(visible), np.float32(0))
        return coords.astype(np.float32), weights.astype(np.float32)

    def _patch_windows(self) -> np.ndarray:
        """Read-only view [h+n+1, w+n+1, h, w] of every (h, w) window of a zero canvas holding the patch.

        The canvas has h (w) zero rows (columns) before the n x n patch and as many after, so window
        ``(h - ul_y, w - ul_x)`` is the map with the patch's corner at ``ul``, for any pasted joint
        (``-n <= ul < (w, h)``).
        """
        w, h = self.heatmap_size
        n = self._patch.shape[0]
        canvas = np.zeros((2 * h + n, 2 * w + n), dtype=np.float32)
        canvas[h:h + n, w:w + n] = self._patch
        return np.lib.stride_tricks.sliding_window_view(canvas, (h, w))

    def _paste(self, ul: np.ndarray, br: np.ndarray, paste: np.ndarray) -> np.ndarray:
        """All K maps at once: ``map[y, x] = patch[y - ul_y, x - ul_x]`` inside ``[ul, br)``, else 0.

        Each map is one window of ``_windows`` (K block copies, no per-pixel index arithmetic).
        """
        w, h = self.heatmap_size
        n = self._patch.shape[0]
        windows = self._windows
        sy = np.clip(h - ul[:, 1], 0, h + n)
        sx = np.clip(w - ul[:, 0], 0, w + n)
        maps = windows[sy, sx]  # advanced indexing copies: [K, h, w]
        maps[~paste] = 0.0
        if np.any(br - ul != n):
            # Float sigma: truncation toward zero can make the window one shorter than the patch;
            # the reference slice then drops the patch's last row/column.
            in_x, _ = window_mask(ul[:, 0], br[:, 0], w)
            in_y, _ = window_mask(ul[:, 1], br[:, 1], h)
            maps *= in_y[:, :, None] & in_x[:, None, :]
        return maps

    def decode(self, heatmaps: np.ndarray, method: str = "standard", post_process: bool = True):
        """Heatmaps [N, K, h, w] -> (coords float64 [N, K, 2] heatmap px, scores float32 [N, K]).

        ``standard``: the reference argmax + quarter offset (strict ``1 < px < W-1`` bound).
        ``dark``: argmax + DARK Taylor refinement (Zhang et al., CVPR 2020). ``post_process=False``
        returns the raw argmax for both. Coordinates are zero where the map maximum is <= 0.
        """
        hm = np.asarray(heatmaps)
        if hm.ndim != 4:
            raise ValueError(f"decode expects heatmaps [N, K, h, w], got shape {hm.shape}")
        coords, scores = refine.argmax_coords(hm)
        if post_process:
            if method == "standard":
                coords = refine.quarter_offset(hm, coords)
            elif method == "dark":
                coords = refine.dark_refine(hm, coords)
            else:
                raise ValueError(f"decode method must be 'standard' or 'dark', got {method!r}")
        return coords.astype(np.float64), scores.astype(np.float32)

    def heatmap_to_image(self, coords: np.ndarray, centers: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """Heatmap px [N, K, 2] -> image px [N, K, 2] (float64): the reference ``transform_preds``.

        That is the inverse of ``reference_affine(center, scale, 0, heatmap_size)``. With rotation 0 it
        is an axis-aligned scale + shift, computed in closed form for all N from the same float32
        points the reference hands to ``cv2.getAffineTransform`` (so it matches that matrix).
        """
        pts = np.asarray(coords, dtype=np.float64)
        c = np.asarray(centers, dtype=np.float32).reshape(-1, 2)
        src_w = np.asarray(scales, dtype=np.float64).reshape(-1, 2)[:, 0] * T.PIXEL_STD
        half_src = (src_w * 0.5).astype(np.float32)
        # The reference's points: p1 = c + (0, -src_w/2); p2 = p1 + (-(c_y - p1_y), 0), all float32.
        p1_y = c[:, 1] - half_src
        p2_x = c[:, 0] - (c[:, 1] - p1_y)
        half_dst = float(self.heatmap_size[0]) * 0.5
        sx = (c[:, 0].astype(np.float64) - p2_x) / half_dst
        sy = (c[:, 1].astype(np.float64) - p1_y) / half_dst
        out_center = np.array([self.heatmap_size[0] * 0.5, self.heatmap_size[1] * 0.5])
        factor = np.stack([sx, sy], axis=1)[:, None, :]
        return (pts - out_center) * factor + c.astype(np.float64)[:, None, :]
