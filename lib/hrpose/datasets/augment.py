"""Training augmentation parameters: half-body, scale, rotation, flip (REFERENCE.md §2.6).

Only parameters are sampled here; the image is touched once, by the single affine built from them.
Randomness comes from one ``np.random.Generator`` per sample, seeded by ``(seed, epoch, index)``
(``sample_rng``), so a sample does not depend on the worker that makes it or on what ran before.

Distributions (as the reference):
* half-body: when more than ``num_joints_half_body`` joints are labelled and ``u < prob_half_body``;
* scale: ``scale * clip(N(1, sf), 1 - sf, 1 + sf)``;
* rotation: ``clip(N(0, rf), -2 rf, 2 rf)`` degrees with probability 0.6, else 0;
* flip: with probability 0.5 when enabled.
Difference from the reference (a training-statistics bug, DESIGN.md §4): the half-body crop picks the
upper or the lower body 50/50; the reference used ``randn() < 0.5``, i.e. upper with probability 0.69.
"""

from dataclasses import dataclass

import numpy as np

from hrpose.datasets.transforms import PIXEL_STD

ROTATION_PROB = 0.6  # reference: rotate only when random.random() <= 0.6
FLIP_PROB = 0.5
HALF_BODY_PADDING = 1.5  # the half-body box is enlarged x1.5 (reference)
MIN_PART_JOINTS = 3  # a body half is usable when it has more than 2 labelled joints (reference)


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings (from ``DATASET.*``); ``aspect_ratio`` is input width / height."""

    scale_factor: float = 0.25
    rot_factor: float = 30.0
    flip: bool = True
    prob_half_body: float = 0.0
    num_joints_half_body: int = 8
    aspect_ratio: float = 0.75


@dataclass(frozen=True)
class AugmentParams:
    """One sample's crop: ``center`` float32 [2] (original image px, before any flip), ``scale``
    float32 [2], ``rotation`` (degrees, counter-clockwise), ``flip``, and which half-body crop
    ('upper' | 'lower' | '') was taken."""

    center: np.ndarray
    scale: np.ndarray
    rotation: float
    flip: bool
    half_body: str = ""


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The sample's own random stream: a function of ``(seed, epoch, index)`` only."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


def half_body_box(keypoints: np.ndarray, part_ids: tuple[tuple[int, ...], tuple[int, ...]],
                  want_upper: bool, aspect_ratio: float):
    """Centre and scale around the upper or the lower body's labelled joints, or None.

    Args:
        keypoints: [K, 3] (x, y, v) image px; joints with v > 0 count.
        part_ids: (upper-body ids, lower-body ids).
        want_upper: the preferred half; the other one is used when the preferred one has fewer than
            3 labelled joints (reference order: upper if wanted and usable, else lower if usable,
            else upper).
    Returns (center float32 [2], scale float32 [2], 'upper' | 'lower'), or None when fewer than 2
    joints are selected or they span no area.
    """
    labelled = keypoints[:, 2] > 0
    upper = [i for i in part_ids[0] if labelled[i]]
    lower = [i for i in part_ids[1] if labelled[i]]
    if want_upper and len(upper) >= MIN_PART_JOINTS:
        chosen, name = upper, "upper"
    elif len(lower) >= MIN_PART_JOINTS:
        chosen, name = lower, "lower"
    else:
        chosen, name = upper, "upper"
    if len(chosen) < 2:
        return None
    pts = keypoints[chosen, :2].astype(np.float32)
    center = pts.mean(axis=0)
    w, h = (pts.max(axis=0) - pts.min(axis=0)).tolist()
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    if w <= 0 or h <= 0:  # all selected joints on one point: no box to crop (the reference divides by 0)
        return None
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD], dtype=np.float32) * np.float32(HALF_BODY_PADDING)
    return center.astype(np.float32), scale, name


def sample_augment_params(rng: np.random.Generator, center: np.ndarray, scale: np.ndarray,
                          keypoints: np.ndarray, config: AugmentConfig,
                          part_ids: tuple[tuple[int, ...], tuple[int, ...]]) -> AugmentParams:
    """Draw one sample's augmentation (see the module docstring for the distributions).

    Args:
        rng: the sample's generator (``sample_rng``); exactly six values are drawn, always in the same
            order, so changing one setting does not shift the other draws.
        center, scale: the record's float32 [2] box centre (px) and scale.
        keypoints: [K, 3] (x, y, v) image px (for the half-body box).
        part_ids: the keypoint set's (upper-body ids, lower-body ids).
    """
    u_half, u_part, z_scale, u_rot, z_rot, u_flip = (
        rng.random(), rng.random(), rng.standard_normal(), rng.random(), rng.standard_normal(), rng.random())
    center = np.asarray(center, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    half = ""
    num_labelled = int((keypoints[:, 2] > 0).sum())
    if num_labelled > config.num_joints_half_body and u_half < config.prob_half_body:
        box = half_body_box(keypoints, part_ids, u_part < 0.5, config.aspect_ratio)
        if box is not None:
            center, scale, half = box
    sf, rf = config.scale_factor, config.rot_factor
    scale = scale * np.float32(np.clip(z_scale * sf + 1.0, 1.0 - sf, 1.0 + sf))
    rotation = float(np.clip(z_rot * rf, -2.0 * rf, 2.0 * rf)) if u_rot <= ROTATION_PROB else 0.0
    flip = bool(config.flip and u_flip <= FLIP_PROB)
    return AugmentParams(center=center.copy(), scale=scale.astype(np.float32), rotation=rotation,
                         flip=flip, half_body=half)
