"""Synthetic "mannequins": stick figures with thick limbs and the 17 COCO keypoints in COCO order.

Left and right are geometric, as for real people: a figure facing the camera shows its LEFT side on the
image RIGHT and has a face (eyes, nose); a figure facing away shows its left side on the image left and
no face (nose and eyes are not labelled). Clothing colours are the same on both sides, so only the
geometry tells left from right, and a horizontal flip of an image is again a valid image.

Body frame: unit body height, pelvis at the origin, x to the image right, y down. Image placement scales
by the height in pixels, rotates in-plane, and translates the pelvis.
"""

import math
from dataclasses import dataclass

import cv2
import numpy as np

NUM_KEYPOINTS = 17
FACE_IDS = (0, 1, 2)  # nose, eyes: only labelled when the face is visible
SHIFT = 4  # cv2 drawing with 4 fractional bits (sub-pixel accurate joints)
SKIN_TONES = ((189, 224, 255), (140, 180, 225), (95, 140, 190), (60, 95, 140), (170, 200, 235))  # BGR


@dataclass(frozen=True)
class Mannequin:
    """A placed figure. ``joints`` float64 [17, 2] image px (COCO order); ``labelled`` bool [17]."""

    joints: np.ndarray
    labelled: np.ndarray
    head_center: np.ndarray
    height: float
    facing_camera: bool
    colors: dict


def _limb(start, outward: float, angle_deg: float, length: float) -> np.ndarray:
    """End point of a limb leaving ``start``; angle 0 = straight down, 90 = horizontally outward."""
    a = math.radians(angle_deg)
    return np.asarray(start) + length * np.array([outward * math.sin(a), math.cos(a)])


def sample_body_pose(rng: np.random.Generator, facing_camera: bool) -> tuple[np.ndarray, np.ndarray]:
    """Joints [17, 2] in the body frame and the head centre [2]. ``side`` puts the person's left on the
    image right (+1, facing the camera) or on the image left (-1, facing away)."""
    s = 1.0 if facing_camera else -1.0
    j = np.zeros((NUM_KEYPOINTS, 2))
    shoulder_y = -0.31 + rng.uniform(-0.02, 0.02)
    j[5], j[6] = (s * 0.125, shoulder_y), (-s * 0.125, shoulder_y)
    j[11], j[12] = (s * 0.085, 0.0), (-s * 0.085, 0.0)
    for shoulder, elbow, wrist, out in ((5, 7, 9, s), (6, 8, 10, -s)):
        upper = rng.uniform(-25, 165)
        j[elbow] = _limb(j[shoulder], out, upper, 0.17 * rng.uniform(0.75, 1.0))
        j[wrist] = _limb(j[elbow], out, upper + rng.uniform(-110, 110), 0.15 * rng.uniform(0.75, 1.0))
    for hip, knee, ankle, out in ((11, 13, 15, s), (12, 14, 16, -s)):
        thigh = rng.uniform(-15, 40) if rng.random() > 0.1 else rng.uniform(40, 95)
        j[knee] = _limb(j[hip], out, thigh, 0.24 * rng.uniform(0.8, 1.0))
        j[ankle] = _limb(j[knee], out, thigh + rng.uniform(-60, 25), 0.23 * rng.uniform(0.8, 1.0))
    head = np.array([rng.uniform(-0.015, 0.015), -0.43])
    yaw = rng.uniform(-0.02, 0.02)  # small head turn moves the face features sideways
    j[0] = head + (yaw, 0.015)
    j[1], j[2] = head + (s * 0.025 + yaw, -0.012), head + (-s * 0.025 + yaw, -0.012)
    j[3], j[4] = head + (s * 0.062, 0.0), head + (-s * 0.062, 0.0)
    return j, head


def sample_mannequin(rng: np.random.Generator, height: float, pelvis_xy, rotation_deg: float,
                     facing_camera: bool) -> Mannequin:
    """A figure ``height`` px tall, pelvis at ``pelvis_xy`` (px), turned ``rotation_deg`` in the image."""
    body, head = sample_body_pose(rng, facing_camera)
    a = math.radians(rotation_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    place = lambda p: (np.asarray(p) @ rot.T) * height + np.asarray(pelvis_xy, dtype=np.float64)  # noqa: E731
    labelled = np.ones(NUM_KEYPOINTS, dtype=bool)
    if not facing_camera:
        labelled[list(FACE_IDS)] = False
    colors = {
        "shirt": tuple(int(v) for v in rng.integers(30, 256, 3)),
        "pants": tuple(int(v) for v in rng.integers(20, 200, 3)),
        "skin": SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
        "hair": tuple(int(v) for v in rng.integers(10, 90, 3)),
        "shoes": tuple(int(v) for v in rng.integers(0, 70, 3)),
    }
    return Mannequin(joints=place(body), labelled=labelled, head_center=place(head), height=float(height),
                     facing_camera=facing_camera, colors=colors)


def _pt(p) -> tuple[int, int]:
    return int(round(p[0] * (1 << SHIFT))), int(round(p[1] * (1 << SHIFT)))


def _darker(color, factor=0.7):
    return tuple(int(c * factor) for c in color)


class _Painter:
    """Draws each primitive on the scene canvas (anti-aliased) and on the figure's own mask (255).
    Both buffers belong to the scene being built; they are drawn on in place."""

    def __init__(self, canvas: np.ndarray, mask: np.ndarray):
        self.canvas, self.mask = canvas, mask

    def line(self, p, q, color, thickness: float):
        t = max(1, int(round(thickness)))
        cv2.line(self.canvas, _pt(p), _pt(q), color, t, cv2.LINE_AA, SHIFT)
        cv2.line(self.mask, _pt(p), _pt(q), 255, t, cv2.LINE_8, SHIFT)

    def circle(self, p, radius: float, color):
        r = max(1, int(round(radius * (1 << SHIFT))))
        cv2.circle(self.canvas, _pt(p), r, color, -1, cv2.LINE_AA, SHIFT)
        cv2.circle(self.mask, _pt(p), r, 255, -1, cv2.LINE_8, SHIFT)

    def polygon(self, points, color):
        pts = np.array([_pt(p) for p in points], dtype=np.int32)
        cv2.fillConvexPoly(self.canvas, cv2.convexHull(pts), color, cv2.LINE_AA, SHIFT)
        cv2.fillConvexPoly(self.mask, cv2.convexHull(pts), 255, cv2.LINE_8, SHIFT)


def draw_mannequin(canvas: np.ndarray, mask: np.ndarray, m: Mannequin) -> None:
    """Paint ``m`` on the scene ``canvas`` (BGR uint8, in place) and its silhouette on ``mask`` (uint8)."""
    p, j, h, c = _Painter(canvas, mask), m.joints, m.height, m.colors
    arm, leg = max(3.0, 0.055 * h), max(3.0, 0.07 * h)
    for hip, knee, ankle in ((11, 13, 15), (12, 14, 16)):
        p.line(j[hip], j[knee], c["pants"], leg)
        p.line(j[knee], j[ankle], c["pants"], leg * 0.85)
        p.circle(j[knee], leg * 0.55, _darker(c["pants"]))
        p.circle(j[ankle], leg * 0.5, c["shoes"])
    neck = (j[5] + j[6]) / 2
    p.line(neck, m.head_center, c["skin"], max(2.0, 0.045 * h))
    p.polygon([j[5], j[6], j[12], j[11]], c["shirt"])
    p.line(j[11], j[12], c["pants"], leg)
    for shoulder, elbow, wrist in ((5, 7, 9), (6, 8, 10)):
        p.circle(j[shoulder], arm * 0.6, _darker(c["shirt"], 0.85))
        p.line(j[shoulder], j[elbow], c["shirt"], arm)
        p.line(j[elbow], j[wrist], c["skin"], arm * 0.85)
        p.circle(j[elbow], arm * 0.5, _darker(c["skin"]))
        p.circle(j[wrist], arm * 0.6, _darker(c["skin"], 0.85))
    _draw_head(p, m)


def head_radius(height: float) -> float:
    """Radius (px) of the head circle of a figure ``height`` px tall."""
    return max(2.5, 0.068 * height)


def _draw_head(p: _Painter, m: Mannequin) -> None:
    h, c, center = m.height, m.colors, m.head_center
    radius = head_radius(h)
    if not m.facing_camera:
        p.circle(center, radius, c["hair"])  # back of the head: hair only, no face
        return
    p.circle(center, radius, c["skin"])
    up = (m.head_center - (m.joints[5] + m.joints[6]) / 2)
    up = up / (np.linalg.norm(up) + 1e-9)
    p.circle(center + up * radius * 0.55, radius * 0.6, c["hair"])  # hair on top of the head
    p.circle(center, radius * 0.92, c["skin"])
    feature = max(1.0, 0.012 * h)
    for eye in (m.joints[1], m.joints[2]):
        p.circle(eye, feature, (30, 30, 30))
    p.circle(m.joints[0], feature, (60, 60, 200))


def make_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Textured BGR uint8 [H, W, 3]: a two-colour gradient, low-frequency blotches, pixel noise and a few
    random shapes (no figures)."""
    c0, c1 = rng.integers(40, 220, 3), rng.integers(40, 220, 3)
    a = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (xx * math.cos(a) + yy * math.sin(a)) / float(width + height) + 0.5
    image = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    blotches = rng.normal(0, 22, (6, 8, 3)).astype(np.float32)
    image += cv2.resize(blotches, (width, height), interpolation=cv2.INTER_CUBIC)
    image += rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 9))):
        color = tuple(int(v) for v in rng.integers(30, 230, 3))
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(8, max(9, min(width, height) // 3)))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(image, (x0, y0), (x0 + size, y0 + int(size * rng.uniform(0.3, 2))), color, -1)
        elif kind == 1:
            cv2.circle(image, (x0, y0), size // 2, color, -1, cv2.LINE_AA)
        else:
            x1, y1 = int(rng.integers(0, width)), int(rng.integers(0, height))
            cv2.line(image, (x0, y0), (x1, y1), color, int(rng.integers(1, 4)), cv2.LINE_AA)
    return image
