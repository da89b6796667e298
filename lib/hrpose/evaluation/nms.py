"""OKS (object keypoint similarity) and OKS-based non-maximum suppression, vectorised with numpy.

Semantics of the reference (``lib/nms/nms.py``):

* ``oks = mean_k exp(-d_k^2 / (2 s_k)^2 / ((a_g + a_d) / 2 + eps) / 2)`` over **all** K keypoints (the
  reference's visibility masking is never enabled), with the *padded box* areas ``prod(scale * 200)``.
* Greedy OKS-NMS: take the highest score, drop every other box with ``oks > thresh`` (a NaN OKS drops
  too, as ``oks <= thresh`` is false), repeat. (The reference's "if nothing is kept, keep all" cannot
  happen: an image's best box is always kept.)
* Soft OKS-NMS (gaussian): after each pick the other scores become ``score * exp(-oks^2 / thresh)`` and
  are re-sorted; at most ``max_dets`` (20) boxes are kept. The decayed scores only decide the order;
  they are not returned (the caller keeps the undecayed scores, as the reference).

Ordering: descending score; exactly equal scores come in *reverse* input order. That is the reference's
``scores.argsort()[::-1]`` made deterministic: numpy sorts up to 16 elements by (stable) insertion sort,
so for such images the order is identical; for larger ones numpy's unstable sort had no defined tie
order. (Ties matter: GT-box predictions often share a score, and the order decides COCOeval matching.)
"""

import numpy as np

EPS = np.spacing(1)  # the reference's guard against a zero area


def _variances(sigmas, num_keypoints: int) -> np.ndarray:
    s = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if s.size != num_keypoints:
        raise ValueError(f"OKS: {s.size} sigmas for {num_keypoints} keypoints")
    return (2.0 * s) ** 2


def oks_iou(g: np.ndarray, d: np.ndarray, area_g: float, areas_d: np.ndarray, sigmas) -> np.ndarray:
    """OKS of one pose against many.

    Args:
        g: [K, 3] or flat [3K] pose ``(x, y, score)``.
        d: [M, K, 3] (or [M, 3K]) poses.
        area_g: area of ``g``; areas_d: [M] areas of ``d``.
        sigmas: [K] OKS sigmas (COCO convention, not doubled).
    Returns:
        float64 [M].
    """
    g = np.asarray(g, dtype=np.float64).reshape(-1, 3)
    d = np.asarray(d, dtype=np.float64).reshape(-1, g.shape[0], 3)
    d2 = (d[..., 0] - g[:, 0]) ** 2 + (d[..., 1] - g[:, 1]) ** 2  # [M, K]
    scale = (float(area_g) + np.asarray(areas_d, dtype=np.float64).reshape(-1)) / 2 + EPS  # [M]
    return _oks(d2, _variances(sigmas, g.shape[0]), scale)


def _oks(d2: np.ndarray, var: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``mean_k exp(-d2 / var / scale / 2)`` for squared distances [..., K] and scales [...]; one formula
    (the reference's operation order) for every path, so that all of them take identical decisions.
    ``d2`` is overwritten."""
    d2 /= var
    d2 /= scale[..., None]
    d2 /= -2.0
    return np.exp(d2, out=d2).mean(axis=-1)


def _pairwise_d2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Squared distances between all pairs of poses: x, y [..., N, K] -> [..., N, N, K] (a new array)."""
    d2 = x[..., :, None, :] - x[..., None, :, :]
    d2 *= d2
    dy = y[..., :, None, :] - y[..., None, :, :]
    dy *= dy
    d2 += dy
    return d2


def oks_matrix(keypoints: np.ndarray, areas: np.ndarray, sigmas) -> np.ndarray:
    """Pairwise OKS of N poses ``[N, K, 3]`` with areas ``[N]``: float64 ``[N, N]`` (symmetric)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    d2 = _pairwise_d2(kp[..., 0], kp[..., 1])  # [N, N, K]
    a = np.asarray(areas, dtype=np.float64).reshape(-1)
    return _oks(d2, _variances(sigmas, kp.shape[1]), (a[:, None] + a[None, :]) / 2 + EPS)


def descending(scores: np.ndarray) -> np.ndarray:
    """Indices by descending score, equal scores in reverse input order (see the module docstring)."""
    return np.argsort(np.asarray(scores, dtype=np.float64), kind="stable")[::-1]


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, thresh: float,
            sigmas) -> np.ndarray:
    """Greedy OKS-NMS of one image's poses: the reference loop, one vectorised OKS row per kept box.

    Args:
        keypoints: [N, K, 3]; scores: [N]; areas: [N]; thresh: OKS above which a box is suppressed.
    Returns:
        int64 indices of the kept boxes, by descending score.
    """
    kp, ar = np.asarray(keypoints), np.asarray(areas, dtype=np.float64)
    order = descending(scores)
    kept = []
    while order.size > 0:
        i, rest = order[0], order[1:]
        kept.append(i)
        order = rest[oks_iou(kp[i], kp[rest], ar[i], ar[rest], sigmas) <= thresh]
    return np.asarray(kept, dtype=np.int64)


def soft_oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, thresh: float, sigmas,
                 max_dets: int = 20) -> np.ndarray:
    """Gaussian soft OKS-NMS of one image's poses (the reference's ``soft_oks_nms``).

    Returns:
        int64 indices of at most ``max_dets`` kept boxes, in pick order. Scores are not modified.
    """
    kp, ar = np.asarray(keypoints), np.asarray(areas, dtype=np.float64)
    order = descending(scores)
    current = np.asarray(scores, dtype=np.float64)[order]
    kept = []
    while order.size > 0 and len(kept) < max_dets:
        i, rest = order[0], order[1:]
        kept.append(i)
        current = current[1:] * np.exp(-oks_iou(kp[i], kp[rest], ar[i], ar[rest], sigmas) ** 2 / thresh)
        resort = descending(current)
        order, current = rest[resort], current[resort]
    return np.asarray(kept, dtype=np.int64)


def group_by_image(image_ids: np.ndarray) -> list[np.ndarray]:
    """Row indices of each image, images in order of first appearance, rows in input order."""
    ids = np.asarray(image_ids).reshape(-1)
    if ids.size == 0:
        return []
    group = _group_index(ids)
    perm = np.argsort(group, kind="stable")
    return np.split(perm, np.searchsorted(group[perm], np.arange(1, group.max() + 1)))


def _group_index(ids: np.ndarray) -> np.ndarray:
    """Per row, the rank of its image by first appearance (int64 [N])."""
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inverse.reshape(-1)]


def nms_per_image(image_ids: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray,
                  thresh: float, sigmas, soft: bool = False) -> np.ndarray:
    """OKS-NMS (or soft OKS-NMS) within each image; the same result as ``oks_nms`` image by image.

    Greedy NMS runs on all images at once: images of similar box counts are padded to M slots
    and suppressed in M vectorised steps (see ``_greedy_block``).
    Returns:
        int64 row indices of the kept boxes: images in order of first appearance, each image's boxes
        in kept order (the reference's results order).
    """
    ids = np.asarray(image_ids).reshape(-1)
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    kp, sc, ar = np.asarray(keypoints), np.asarray(scores, dtype=np.float64), np.asarray(areas, np.float64)
    if soft:
        return np.concatenate([rows[soft_oks_nms(kp[rows], sc[rows], ar[rows], thresh, sigmas)]
                               for rows in group_by_image(ids)]).astype(np.int64)
    group = _group_index(ids)
    sort_key = np.where(np.isnan(sc), np.inf, sc)  # NaN first, as argsort()[::-1]
    order = np.lexsort((-np.arange(ids.size), -sort_key, group))  # by image, then descending()
    sizes = np.bincount(group)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    position = np.arange(ids.size) - starts[group[order]]  # rank of each sorted row in its image
    kept = np.zeros(ids.size, dtype=bool)  # over ``order``
    _greedy_blocks(order, group[order], position, sizes, kp, ar, thresh, sigmas, kept)
    return order[kept].astype(np.int64)


_BLOCK_ELEMENTS = 1 << 21  # images * slots * K per block (16 MB per float64 coordinate array)


def _greedy_blocks(order, sorted_group, position, sizes, kp, ar, thresh, sigmas, kept) -> None:
    """Fill ``kept`` (bool over ``order``) block by block; a block holds images of similar box counts."""
    # Slots per image: multiples of 4 up to 64 boxes (little padding for typical images), then powers of 2.
    pow2 = 2 ** np.ceil(np.log2(np.maximum(sizes, 1))).astype(np.int64)
    padded = np.where(sizes <= 64, -(-sizes // 4) * 4, pow2)
    for m in np.unique(padded):
        members = np.flatnonzero(padded == m)
        step = max(1, _BLOCK_ELEMENTS // (int(m) * kp.shape[1]))
        for lo in range(0, members.size, step):
            _greedy_block(members[lo:lo + step], int(m), order, sorted_group, position, kp, ar, thresh,
                          sigmas, kept)


def _greedy_block(groups, m, order, sorted_group, position, kp, ar, thresh, sigmas, kept) -> None:
    """Greedy NMS of the images ``groups`` (at most ``m`` boxes each), all images in step.

    Step t keeps every image's t-th best box if it is still alive and computes only that box's OKS
    row against the image's lower-scored boxes (the reference's loop, vectorised over images).
    """
    local = np.full(sorted_group.max() + 1, -1, dtype=np.int64)
    local[groups] = np.arange(groups.size)
    sel = np.flatnonzero(local[sorted_group] >= 0)  # sorted rows of these images
    slot = np.full((groups.size, m), -1, dtype=np.int64)  # sorted-row index per (image, rank)
    slot[local[sorted_group[sel]], position[sel]] = sel
    valid = slot >= 0
    rows = order[np.where(valid, slot, sel[0])]  # padding points at a real row; it is never kept
    x, y = kp[rows, :, 0].astype(np.float64), kp[rows, :, 1].astype(np.float64)  # [G, m, K]
    a = ar[rows]  # [G, m]
    var = _variances(sigmas, kp.shape[1])
    removed = ~valid
    keep = np.zeros_like(valid)
    for t in range(m):
        alive = np.flatnonzero(~removed[:, t])
        keep[alive, t] = True
        if alive.size == 0 or t == m - 1:
            continue
        d2 = x[alive, t + 1:] - x[alive, t:t + 1]  # [A, m - t - 1, K]
        d2 *= d2
        dy = y[alive, t + 1:] - y[alive, t:t + 1]
        dy *= dy
        d2 += dy
        oks = _oks(d2, var, (a[alive, t:t + 1] + a[alive, t + 1:]) / 2 + EPS)
        removed[alive, t + 1:] |= ~(oks <= thresh)
    kept[slot[keep]] = True
