"""A deliberately reference-style post-processing, only as the baseline of ``benchmark.py eval``.

It mirrors the original HRNet code path step by step:
* ``get_max_preds`` / ``get_final_preds`` (``lib/core/inference.py``): argmax and max in two passes, a
  per-box, per-joint quarter offset;
* ``get_affine_transform`` / ``transform_preds`` (``lib/utils/transforms.py``): a per-box inverse affine
  built with ``cv2.getAffineTransform``, applied one keypoint at a time;
* ``COCODataset.evaluate`` / ``_write_coco_keypoint_results`` (``lib/dataset/coco.py``): per-box dicts
  grouped per image, the rescoring loops, per-person result dicts and an indenting, key-sorting json dump;
* ``oks_nms`` / ``oks_iou`` (``lib/nms/nms.py``): ``oks_iou`` per remaining box, with a Python loop over
  the detections.
It is written here from the published description, not copied. It exists so that the eval benchmark
times hrpose's vectorised post-processing against the reference's own loops on the same boxes (and
checks that both give the same keypoints): a speed baseline, never used by the library. The box-size
constant (``PIXEL_STD``) is the library's.
"""

import json
from collections import defaultdict

import cv2
import numpy as np

from hrpose.datasets.transforms import PIXEL_STD


def get_max_preds(heatmaps):
    """Argmax + max over each map (two passes, as the reference); coords zeroed where max <= 0."""
    n, k, _, w = heatmaps.shape
    flat = heatmaps.reshape((n, k, -1))
    idx = np.argmax(flat, 2).reshape((n, k, 1))
    maxvals = np.amax(flat, 2).reshape((n, k, 1))
    preds = np.tile(idx, (1, 1, 2)).astype(np.float32)
    preds[:, :, 0] = preds[:, :, 0] % w
    preds[:, :, 1] = np.floor(preds[:, :, 1] / w)
    mask = np.tile(np.greater(maxvals, 0.0), (1, 1, 2)).astype(np.float32)
    return preds * mask, maxvals


def _third_point(a, b):
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def get_affine_transform(center, scale, output_size, inv=False):
    """The reference's three-point affine (rotation 0): box centre -> (W/2, H/2), width decides scale."""
    src_w = scale[0] * PIXEL_STD
    dst_w, dst_h = output_size
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center + np.array([0, src_w * -0.5], np.float32)
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + np.array([0, dst_w * -0.5], np.float32)
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


def transform_preds(coords, center, scale, output_size):
    trans = get_affine_transform(center, scale, output_size, inv=True)
    target = np.zeros(coords.shape)
    for p in range(coords.shape[0]):
        target[p, 0:2] = np.dot(trans, np.array([coords[p, 0], coords[p, 1], 1.0]).T)
    return target


def get_final_preds(heatmaps, centers, scales):
    """``get_max_preds`` then ``offset_and_transform``: ([N,K,2] image px, maxvals [N,K,1])."""
    coords, maxvals = get_max_preds(heatmaps)
    return offset_and_transform(heatmaps, coords, centers, scales), maxvals


def offset_and_transform(heatmaps, coords, centers, scales):
    """Quarter offset per box and joint, then the inverse affine per box: [N,K,2] image px."""
    coords = coords.copy()
    h, w = heatmaps.shape[2], heatmaps.shape[3]
    for n in range(coords.shape[0]):
        for p in range(coords.shape[1]):
            hm = heatmaps[n][p]
            px = int(np.floor(coords[n][p][0] + 0.5))
            py = int(np.floor(coords[n][p][1] + 0.5))
            if 1 < px < w - 1 and 1 < py < h - 1:
                diff = np.array([hm[py][px + 1] - hm[py][px - 1], hm[py + 1][px] - hm[py - 1][px]])
                coords[n][p] += np.sign(diff) * 0.25
    preds = coords.copy()
    for i in range(coords.shape[0]):
        preds[i] = transform_preds(coords[i], centers[i], scales[i], [w, h])
    return preds


def oks_iou(g, d, a_g, a_d, sigmas):
    variances = (sigmas * 2) ** 2
    xg, yg = g[0::3], g[1::3]
    ious = np.zeros(d.shape[0])
    for n_d in range(d.shape[0]):
        dx, dy = d[n_d, 0::3] - xg, d[n_d, 1::3] - yg
        e = (dx ** 2 + dy ** 2) / variances / ((a_g + a_d[n_d]) / 2 + np.spacing(1)) / 2
        ious[n_d] = np.sum(np.exp(-e)) / e.shape[0] if e.shape[0] != 0 else 0.0
    return ious


def oks_nms(kpts_db, thresh, sigmas):
    if len(kpts_db) == 0:
        return []
    scores = np.array([kpts_db[i]["score"] for i in range(len(kpts_db))])
    kpts = np.array([kpts_db[i]["keypoints"].flatten() for i in range(len(kpts_db))])
    areas = np.array([kpts_db[i]["area"] for i in range(len(kpts_db))])
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        ovr = oks_iou(kpts[i], kpts[order[1:]], areas[i], areas[order[1:]], sigmas)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep


def _group(preds, boxes, image_ids):
    """Per-box dicts grouped per image (insertion order), as the reference's evaluate()."""
    grouped = defaultdict(list)
    for idx in range(len(preds)):
        grouped[int(image_ids[idx])].append({
            "keypoints": preds[idx], "center": boxes[idx][0:2], "scale": boxes[idx][2:4],
            "area": boxes[idx][4], "score": boxes[idx][5], "image": int(image_ids[idx])})
    return grouped


def rescore_and_nms(preds, boxes, image_ids, in_vis_thre, oks_thre, sigmas):
    """Rescoring loops + per-image oks_nms: a list (per image) of kept person dicts."""
    num_joints = preds.shape[1]
    kept = []
    for img_kpts in _group(preds, boxes, image_ids).values():
        for n_p in img_kpts:
            kpt_score, valid_num = 0, 0
            for n_jt in range(num_joints):
                t_s = n_p["keypoints"][n_jt][2]
                if t_s > in_vis_thre:
                    kpt_score = kpt_score + t_s
                    valid_num = valid_num + 1
            if valid_num != 0:
                kpt_score = kpt_score / valid_num
            n_p["score"] = kpt_score * n_p["score"]
        keep = oks_nms(img_kpts, oks_thre, sigmas)
        kept.append(img_kpts if len(keep) == 0 else [img_kpts[k] for k in keep])
    return kept


def write_results(kept, path):
    """Per-person result dicts (keypoints copied joint by joint into a flat array), indented json."""
    results = []
    for img_kpts in kept:
        if len(img_kpts) == 0:
            continue
        raw = np.array([p["keypoints"] for p in img_kpts])
        flat = np.zeros((raw.shape[0], raw.shape[1] * 3), dtype=np.float64)
        for ipt in range(raw.shape[1]):
            flat[:, ipt * 3:ipt * 3 + 3] = raw[:, ipt, 0:3]
        results.extend({"image_id": p["image"], "category_id": 1, "keypoints": list(flat[k]),
                        "score": p["score"], "center": list(p["center"]), "scale": list(p["scale"])}
                       for k, p in enumerate(img_kpts))
    with open(path, "w") as f:
        json.dump(results, f, sort_keys=True, indent=4, default=float)
    return len(results)
