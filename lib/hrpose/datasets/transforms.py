"""The one geometric convention of hrpose. Pure functions: inputs are never modified.

Conventions
-----------
* Image pixel coordinates: x to the right, y down, pixel centres at integers (COCO keypoints as given).
* A person box becomes ``center`` (pixels, float32 [2]) and ``scale`` (float32 [2]) = box size / 200
  (``PIXEL_STD``), enlarged to the network's aspect ratio and padded by 1.25 (``BOX_PADDING``).
* One 2x3 affine matrix maps image pixels to crop pixels; the same matrix moves the keypoints and its
  inverse moves predictions back. Horizontal flip is folded into that matrix (no image copy).
* ``reference`` convention (default, identical to the original HRNet code): the box centre maps to
  (W/2, H/2) and the scale factor is W / (scale_w * 200); only the box width decides the scale.
* ``udp`` convention (Huang et al., CVPR 2020, "unbiased data processing"): the centre maps to
  ((W-1)/2, (H-1)/2) and the factors are (W-1)/(scale_w*200), (H-1)/(scale_h*200).
* Rotation is in degrees; a positive angle turns the person counter-clockwise in the crop, as in the
  reference.
* Heatmap coordinates: reference codec = crop coordinates / stride; UDP = crop * (h-1)/(W-1).
"""

import math

import cv2
import numpy as np

PIXEL_STD = 200.0  # box size -> "scale" units, as in the original HRNet
BOX_PADDING = 1.25  # margin around the person box


def box_to_center_scale(box_xywh, aspect_ratio: float, padding: float = BOX_PADDING):
    """Box ``[x, y, w, h]`` (pixels) -> ``center`` [2], ``scale`` [2] (float32), as the reference.

    ``aspect_ratio`` is the network input's width / height; the shorter side of the box is enlarged so
    the box has that ratio, then both sides are multiplied by ``padding``.
    """
    x, y, w, h = (float(v) for v in box_xywh[:4])
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float32)
    if w > aspect_ratio * h:
        h = w * 1.0 / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD], dtype=np.float32) * padding
    return center, scale


def boxes_to_centers_scales(boxes_xywh: np.ndarray, aspect_ratio: float, padding: float = BOX_PADDING):
    """Vectorised ``box_to_center_scale``: boxes [N, 4] -> centers [N, 2], scales [N, 2] (float32)."""
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    centers = (boxes[:, :2] + boxes[:, 2:4] * 0.5).astype(np.float32)
    w, h = boxes[:, 2].copy(), boxes[:, 3].copy()
    wider = w > aspect_ratio * h
    taller = w < aspect_ratio * h
    h[wider] = w[wider] / aspect_ratio
    w[taller] = h[taller] * aspect_ratio
    scales = (np.stack([w, h], axis=1) / PIXEL_STD).astype(np.float32) * np.float32(padding)
    return centers, scales


def sanitize_coco_box(box_xywh, image_width: int, image_height: int):
    """The reference's GT box clean-up: clip to the image; ``None`` when nothing is left.

    Returns ``[x1, y1, x2 - x1, y2 - y1]`` with ``x2 = min(W - 1, x1 + max(0, w - 1))`` (so the width
    shrinks by one pixel, exactly as the reference).
    """
    x, y, w, h = (float(v) for v in box_xywh[:4])
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(image_width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(image_height - 1.0, y1 + max(0.0, h - 1.0))
    if w * h <= 0 or x2 < x1 or y2 < y1:
        return None
    return [x1, y1, x2 - x1, y2 - y1]


def _rotate(point, angle_rad: float):
    sn, cs = math.sin(angle_rad), math.cos(angle_rad)
    return np.array([point[0] * cs - point[1] * sn, point[0] * sn + point[1] * cs], dtype=np.float32)


def _third_point(a, b):
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def reference_affine(center, scale, rotation: float, output_size, inverse: bool = False) -> np.ndarray:
    """The reference ``get_affine_transform`` (centre -> (W/2, H/2)); float64 [2, 3].

    Built from three point pairs with ``cv2.getAffineTransform`` on float32 points, as the reference,
    so crops and decoded coordinates agree with it to the last bit that matters.
    """
    src_w = float(scale[0]) * PIXEL_STD
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    src_dir = _rotate([0.0, src_w * -0.5], math.radians(rotation))
    dst_dir = np.array([0.0, dst_w * -0.5], dtype=np.float32)
    c = np.asarray(center, dtype=np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0], src[1] = c, c + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + dst_dir
    src[2], dst[2] = _third_point(src[0], src[1]), _third_point(dst[0], dst[1])
    if inverse:
        return cv2.getAffineTransform(dst, src)
    return cv2.getAffineTransform(src, dst)


def udp_affine(center, scale, rotation: float, output_size, inverse: bool = False) -> np.ndarray:
    """The UDP affine (centre -> ((W-1)/2, (H-1)/2), unit-length pixel grid); float64 [2, 3]."""
    out_w, out_h = float(output_size[0]), float(output_size[1])
    sx = (out_w - 1.0) / (float(scale[0]) * PIXEL_STD)
    sy = (out_h - 1.0) / (float(scale[1]) * PIXEL_STD)
    theta = math.radians(rotation)
    cs, sn = math.cos(theta), math.sin(theta)
    linear = np.array([[sx * cs, sx * sn], [-sy * sn, sy * cs]], dtype=np.float64)
    dst_center = np.array([(out_w - 1.0) * 0.5, (out_h - 1.0) * 0.5])
    shift = dst_center - linear @ np.asarray(center, dtype=np.float64)
    matrix = np.concatenate([linear, shift[:, None]], axis=1)
    return invert_affine(matrix) if inverse else matrix


def get_affine_matrix(center, scale, rotation: float, output_size, udp: bool = False,
                      flip_width: int | None = None) -> np.ndarray:
    """Image -> crop matrix [2, 3] (float64) in the chosen convention.

    With ``flip_width`` (the image width W), the image is first mirrored (x -> W - 1 - x) and the crop
    is taken around the mirrored centre, exactly as the reference flips the image and the centre; the
    flip is folded into the matrix so no flipped image is ever made.
    """
    if flip_width is None:
        build = udp_affine if udp else reference_affine
        return build(center, scale, rotation, output_size)
    mirror = np.array([[-1.0, 0.0, flip_width - 1.0], [0.0, 1.0, 0.0]])
    mirrored_center = affine_points(np.asarray(center, dtype=np.float64), mirror)
    inner = get_affine_matrix(mirrored_center.astype(np.float32), scale, rotation, output_size, udp)
    return compose_affine(inner, mirror)


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Matrix of ``outer(inner(p))``; both [2, 3]."""
    a = np.vstack([outer, [0.0, 0.0, 1.0]])
    b = np.vstack([inner, [0.0, 0.0, 1.0]])
    return (a @ b)[:2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a [2, 3] affine matrix."""
    full = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def affine_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a [2, 3] matrix to points [..., 2]; returns a new float64 array of the same shape."""
    pts = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def warp_image(image: np.ndarray, matrix: np.ndarray, output_size) -> np.ndarray:
    """Crop [H_out, W_out, C] uint8 from ``image`` through ``matrix`` (bilinear, black border)."""
    size = (int(output_size[0]), int(output_size[1]))
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR)


def flip_keypoints(keypoints: np.ndarray, image_width: int, flip_index: np.ndarray) -> np.ndarray:
    """Mirror keypoints [K, 2+] (x -> W - 1 - x) and swap left/right; returns a new array.

    Extra columns (visibility, score) follow their keypoint through the swap.
    """
    out = np.array(keypoints, dtype=np.float64, copy=True)[flip_index]
    out[:, 0] = image_width - 1.0 - out[:, 0]
    return out
