"""The one drawing module (TensorBoard debug images, ``tools/show_samples.py``, ``tools/infer.py``).

Pure functions: every function returns a new BGR uint8 image and leaves its inputs unchanged.
Coordinates are pixels of the image drawn on (x right, y down); keypoints are ``[K, 2]`` or ``[K, 3]``
with a score / visibility in the third column.
"""

import colorsys

import cv2
import numpy as np

SHIFT = 4  # sub-pixel drawing: 4 fractional bits


def to_numpy(array) -> np.ndarray:
    """A numpy copy of a numpy array or a torch tensor (on any device)."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.array(array)


def tensor_to_image(image, rgb: bool) -> np.ndarray:
    """uint8 ``[3, H, W]`` (tensor or array, RGB when ``rgb``) -> BGR uint8 ``[H, W, 3]``."""
    out = to_numpy(image).transpose(1, 2, 0)
    out = out[..., ::-1] if rgb else out
    return np.ascontiguousarray(out.astype(np.uint8))


def palette(n: int, saturation: float = 0.85, value: float = 1.0) -> list[tuple[int, int, int]]:
    """``n`` well-separated BGR colours (hues evenly spaced, deterministic)."""
    colors = []
    for i in range(max(n, 1)):
        r, g, b = colorsys.hsv_to_rgb(i / max(n, 1), saturation, value)
        colors.append((int(b * 255), int(g * 255), int(r * 255)))
    return colors[:n]


def _pt(p) -> tuple[int, int]:
    return int(round(float(p[0]) * (1 << SHIFT))), int(round(float(p[1]) * (1 << SHIFT)))


def _shown(keypoints: np.ndarray, kpt_thr: float) -> np.ndarray:
    """Keypoints to draw: finite, and score/visibility >= kpt_thr when there is a third column."""
    ok = np.isfinite(keypoints[:, :2]).all(axis=1)
    if keypoints.shape[1] > 2:
        ok &= keypoints[:, 2] >= kpt_thr
    return ok


def draw_keypoints(image: np.ndarray, keypoints, skeleton=(), kpt_thr: float = 0.3, radius: int = 3,
                   thickness: int = 2, limb_colors=None, point_color=(255, 255, 255)) -> np.ndarray:
    """One person's keypoints and skeleton on a copy of ``image`` (BGR uint8 [H, W, 3]).

    Args:
        keypoints: [K, 2] or [K, 3] (x, y, score or v); those with score < ``kpt_thr`` are hidden, and
            so are limbs touching them.
        skeleton: [(a, b), ...] 0-based limbs; each limb gets its own colour (``limb_colors`` or
            ``palette(len(skeleton))``).
    """
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    kpts = to_numpy(keypoints).astype(np.float64)
    shown = _shown(kpts, kpt_thr)
    colors = limb_colors or palette(len(skeleton))
    for (a, b), color in zip(skeleton, colors, strict=False):
        if shown[a] and shown[b]:
            cv2.line(out, _pt(kpts[a]), _pt(kpts[b]), color, thickness, cv2.LINE_AA, SHIFT)
    r = max(1, int(radius)) << SHIFT
    for k in np.flatnonzero(shown):
        cv2.circle(out, _pt(kpts[k]), r, point_color, -1, cv2.LINE_AA, SHIFT)
        cv2.circle(out, _pt(kpts[k]), r, (0, 0, 0), 1, cv2.LINE_AA, SHIFT)
    return out


def draw_boxes(image: np.ndarray, boxes_xywh, scores=None, color=(0, 255, 0),
               thickness: int = 1) -> np.ndarray:
    """Boxes [N, 4] (x, y, w, h) and optional scores [N] on a copy of ``image``."""
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    boxes = to_numpy(boxes_xywh).reshape(-1, 4).astype(np.float64)
    for i, (x, y, w, h) in enumerate(boxes):
        cv2.rectangle(out, _pt((x, y)), _pt((x + w, y + h)), color, thickness, cv2.LINE_AA, SHIFT)
        if scores is not None:
            cv2.putText(out, f"{float(to_numpy(scores)[i]):.2f}", (int(x), max(10, int(y) - 2)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, color, 1, cv2.LINE_AA)
    return out


def draw_poses(image: np.ndarray, poses, skeleton=(), kpt_thr: float = 0.3, boxes_xywh=None,
               box_scores=None, radius: int = 3, thickness: int = 2) -> np.ndarray:
    """Several persons' keypoints [N, K, 2|3] (and optionally their boxes) on a copy of ``image``."""
    out = np.ascontiguousarray(image, dtype=np.uint8)
    if boxes_xywh is not None:
        out = draw_boxes(out, boxes_xywh, box_scores)
    for kpts in to_numpy(poses):
        out = draw_keypoints(out, kpts, skeleton, kpt_thr, radius, thickness)
    return out.copy() if out is image else out


def colorize_heatmap(heatmap, size=None) -> np.ndarray:
    """One heatmap [h, w] (values ~[0, 1]) -> JET BGR uint8, resized to ``size`` (w, h) if given."""
    hm = np.clip(to_numpy(heatmap).astype(np.float32), 0.0, 1.0)
    if size is not None:
        hm = cv2.resize(hm, (int(size[0]), int(size[1])), interpolation=cv2.INTER_LINEAR)
    return cv2.applyColorMap((hm * 255).astype(np.uint8), cv2.COLORMAP_JET)


def heatmap_grid(crop: np.ndarray, heatmaps, alpha: float = 0.6, names=None) -> np.ndarray:
    """The crop followed by one tile per joint: the joint's heatmap colour-mapped over the crop.

    Args:
        crop: BGR uint8 [H, W, 3] (the network input).
        heatmaps: [K, h, w] (any resolution; resized to the crop).
        names: optional K labels written on the tiles.
    Returns one row: BGR uint8 [H, (K + 1) * W, 3].
    """
    base = np.ascontiguousarray(crop, dtype=np.uint8)
    height, width = base.shape[:2]
    tiles = [base.copy()]
    for k, hm in enumerate(to_numpy(heatmaps)):
        tile = cv2.addWeighted(colorize_heatmap(hm, (width, height)), alpha, base, 1.0 - alpha, 0.0)
        if names is not None:
            cv2.putText(tile, str(names[k])[:12], (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 255), 1)
        tiles.append(tile)
    return np.concatenate(tiles, axis=1)


def batch_grid(images, ncols: int = 8, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """Images [N, H, W, 3] (or a list of equal-sized ones) tiled ``ncols`` per row with ``pad`` px
    between them; BGR uint8 [rows * (H + pad) + pad, ncols * (W + pad) + pad, 3]."""
    items = [np.asarray(im, dtype=np.uint8) for im in images]
    if not items:
        raise ValueError("batch_grid needs at least one image")
    height, width = items[0].shape[:2]
    ncols = max(1, min(int(ncols), len(items)))
    nrows = (len(items) + ncols - 1) // ncols
    grid = np.full((nrows * (height + pad) + pad, ncols * (width + pad) + pad, 3), pad_value, dtype=np.uint8)
    for i, im in enumerate(items):
        if im.shape[:2] != (height, width):
            raise ValueError(f"batch_grid: image {i} is {im.shape[:2]}, expected {(height, width)}")
        r, c = divmod(i, ncols)
        y, x = pad + r * (height + pad), pad + c * (width + pad)
        grid[y:y + height, x:x + width] = im if im.ndim == 3 else im[..., None]
    return grid
