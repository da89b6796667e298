"""Heatmap maximum and sub-pixel refinement, vectorised over all N*K maps.

All functions take heatmaps ``[N, K, H, W]`` (any float dtype) and coordinates ``[N, K, 2]`` as
``(x, y)`` in heatmap pixels (x = column, y = row), and return new arrays (inputs are never modified).

* ``argmax_coords``: the reference ``get_max_preds``.
* ``quarter_offset``: the reference ``get_final_preds`` post-processing (+-0.25 towards the larger
  neighbour).
* ``dark_refine``: DARK (Zhang et al., CVPR 2020): modulate by a Gaussian blur that keeps each map's
  maximum, take the log, and do one Newton step of the second-order Taylor expansion at the argmax.
* ``dark_udp_refine``: the DARK variant used with UDP (Huang et al., CVPR 2020; mmpose
  ``refine_keypoints_dark_udp``): step-1 differences on an edge-padded log map, eps-regularised Hessian.
"""

import cv2
import numpy as np

BLUR_KERNEL = 11  # DARK's modulation kernel; cv2 derives sigma 0.3 * ((11 - 1) / 2 - 1) + 0.8 = 2.0


def argmax_coords(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference ``get_max_preds``: (coords float64 [N, K, 2], maxvals float32 [N, K]).

    The first maximum wins (``np.argmax``); ``x = idx % W``, ``y = idx // W``; coords are set to 0
    where the maximum is <= 0 (as the reference, so empty maps decode to the crop's corner).
    """
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = np.argmax(flat, axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float64)
    coords *= (maxvals > 0)[..., None]
    return coords, maxvals.astype(np.float32)


def _gather(heatmaps: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``heatmaps[n, k, ys[n, k], xs[n, k]]`` for integer index arrays [N, K]; returns [N, K]."""
    w = heatmaps.shape[3]
    flat = heatmaps.reshape(heatmaps.shape[0], heatmaps.shape[1], -1)
    return np.take_along_axis(flat, (ys * w + xs)[..., None], axis=2)[..., 0]


def quarter_offset(heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Reference post-processing: ``coords += sign(neighbour difference) * 0.25`` per axis.

    Applied only where ``1 < px < W - 1`` and ``1 < py < H - 1`` with ``px = floor(x + 0.5)``: the
    strict ``1 <`` is a reference quirk (column/row 1 get no offset) kept for identical results.
    """
    _, _, h, w = heatmaps.shape
    px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
    py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
    ok = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    # Clamp the indices so the gather is valid everywhere; the mask discards the clamped ones.
    cx, cy = np.clip(px, 1, w - 2), np.clip(py, 1, h - 2)
    dx = _gather(heatmaps, cx + 1, cy) - _gather(heatmaps, cx - 1, cy)
    dy = _gather(heatmaps, cx, cy + 1) - _gather(heatmaps, cx, cy - 1)
    offset = np.stack([np.sign(dx), np.sign(dy)], axis=-1) * 0.25 * ok[..., None]
    return coords + offset


def _blur(hm: np.ndarray, kernel: int) -> np.ndarray:
    """Zero-border Gaussian blur of every map [N, K, h, w] (float32) in one OpenCV call.

    The maps are stacked into one tall image with ``r`` zero rows between them, so no map sees its
    neighbour; the separable kernel is ``cv2.getGaussianKernel(kernel, 0)``, i.e. exactly what
    ``cv2.GaussianBlur(map, (kernel, kernel), 0)`` applies to a map padded with ``r`` zeros (DarkPose).
    """
    n, k, h, w = hm.shape
    r = (kernel - 1) // 2
    taps = cv2.getGaussianKernel(kernel, 0)
    tall = np.zeros((n * k, h + r, w), dtype=np.float32)
    tall[:, :h] = hm.reshape(n * k, h, w)
    blurred = cv2.sepFilter2D(tall.reshape(-1, w), -1, taps, taps, borderType=cv2.BORDER_CONSTANT)
    return blurred.reshape(n * k, h + r, w)[:, :h].reshape(n, k, h, w)


def _keep_max_ratio(hm: np.ndarray, blurred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per map (float32 ratio original max / blurred max [N, K], valid [N, K]); valid needs both > 0."""
    n, k = hm.shape[:2]
    orig_max = hm.reshape(n, k, -1).max(axis=2)
    new_max = blurred.reshape(n, k, -1).max(axis=2)
    valid = (orig_max > 0) & (new_max > 0)
    return np.where(valid, orig_max / np.where(valid, new_max, 1), 1).astype(np.float32), valid


def blur_keep_max(heatmaps: np.ndarray, kernel: int = BLUR_KERNEL) -> np.ndarray:
    """DARK modulation of whole maps: blur (zero border), rescaled to keep each map's max; float32.

    Maps whose maximum is <= 0 are returned unchanged. (The refinements below only sample this at a
    few points per map, see ``_log_sampler``.)
    """
    hm = np.asarray(heatmaps, dtype=np.float32)
    blurred = _blur(hm, kernel)
    ratio, valid = _keep_max_ratio(hm, blurred)
    return np.where(valid[..., None, None], blurred * ratio[..., None, None], hm)


def _log_sampler(heatmaps: np.ndarray, kernel: int, lo: float, hi: float):
    """``at(xs, ys) -> log(clip(blur_keep_max(hm)[n, k, ys, xs], lo, hi))`` as float64 [N, K].

    Only the sampled points are rescaled and logged (the log is pointwise, so this equals taking
    the log of the whole modulated map). Indices are clamped to the map, which is the same as
    reading an edge-padded map.
    """
    hm = np.asarray(heatmaps, dtype=np.float32)
    _, _, h, w = hm.shape
    blurred = _blur(hm, kernel)
    ratio, valid = _keep_max_ratio(hm, blurred)

    def at(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        xs, ys = np.clip(xs, 0, w - 1), np.clip(ys, 0, h - 1)
        values = np.where(valid, _gather(blurred, xs, ys) * ratio, _gather(hm, xs, ys))
        return np.log(np.clip(values.astype(np.float64), lo, hi))

    return at


def dark_refine(heatmaps: np.ndarray, coords: np.ndarray, kernel: int = BLUR_KERNEL) -> np.ndarray:
    """DARK Taylor refinement at the integer argmax ``coords`` [N, K, 2]; returns float64 [N, K, 2].

    On ``L = log(max(blur_keep_max(hm), 1e-10))``: gradient by step-1 central differences, Hessian by
    step-2 central differences (``0.25 * (L[x+2] - 2 L[x] + L[x-2])``, as DarkPose), offset
    ``-H^-1 g``. Skipped (coordinate unchanged) unless ``1 < x < W - 2`` and ``1 < y < H - 2`` (all
    taps inside the map) and ``det(H) != 0``.
    """
    _, _, h, w = heatmaps.shape
    sample = _log_sampler(heatmaps, kernel, 1e-10, np.inf)
    px = np.rint(coords[..., 0]).astype(np.int64)
    py = np.rint(coords[..., 1]).astype(np.int64)
    ok = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)

    def at(dx: int, dy: int) -> np.ndarray:
        return sample(px + dx, py + dy)

    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    hxx = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
    hyy = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    return coords + _newton_offset(gx, gy, hxx, hxy, hyy, ok)


def _newton_offset(gx, gy, hxx, hxy, hyy, ok) -> np.ndarray:
    """``-H^-1 g`` for 2x2 symmetric Hessians in closed form; 0 where ``~ok``, det == 0 or non-finite."""
    det = hxx * hyy - hxy * hxy
    use = ok & (det != 0)
    safe = np.where(use, det, 1.0)
    ox = -(hyy * gx - hxy * gy) / safe
    oy = -(hxx * gy - hxy * gx) / safe
    offset = np.stack([ox, oy], axis=-1)
    use = use & np.isfinite(offset).all(axis=-1)
    return np.where(use[..., None], offset, 0.0)


def dark_udp_refine(heatmaps: np.ndarray, coords: np.ndarray, kernel: int = BLUR_KERNEL) -> np.ndarray:
    """DARK-UDP refinement at the integer argmax ``coords`` [N, K, 2]; returns float64 [N, K, 2].

    As mmpose's ``refine_keypoints_dark_udp``: blur keeping the max, clip to ``[1e-3, 50]``, log,
    edge-pad by one pixel (so border maxima are refined too), step-1 central differences for the
    gradient and Hessian, ``H + eps*I`` (float32 eps) to avoid singular matrices, offset ``-H^-1 g``.
    Joints whose map maximum is <= 0 (coords zeroed by ``argmax_coords``) are left unchanged.
    Near the border (within ~5 px) the zero-border blur biases the result (up to ~1 px on exact
    targets, as in mmpose); see tests/codecs/test_udp.py.
    """
    n, k = heatmaps.shape[:2]
    sample = _log_sampler(heatmaps, kernel, 1e-3, 50.0)
    x = np.rint(coords[..., 0]).astype(np.int64)
    y = np.rint(coords[..., 1]).astype(np.int64)
    has_max = np.asarray(heatmaps).reshape(n, k, -1).max(axis=2) > 0

    def at(dx: int, dy: int) -> np.ndarray:
        return sample(x + dx, y + dy)  # indices clamped = the edge-padded map

    centre = at(0, 0)
    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    hxx = at(1, 0) - 2 * centre + at(-1, 0)
    hyy = at(0, 1) - 2 * centre + at(0, -1)
    hxy = 0.5 * (at(1, 1) - at(1, 0) - at(0, 1) + 2 * centre - at(-1, 0) - at(0, -1) + at(-1, -1))
    eps = float(np.finfo(np.float32).eps)
    return coords + _newton_offset(gx, gy, hxx + eps, hxy, hyy + eps, has_max)
