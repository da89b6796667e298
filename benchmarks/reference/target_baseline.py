"""Reference-style target generator: one Python loop iteration per joint.

It mirrors the original HRNet ``JointsDataset.generate_target`` (``lib/dataset/JointsDataset.py``,
gaussian branch) line for line. It exists as the test oracle for ``MSRAHeatmap.encode``
(tests/codecs/test_msra.py) and as the per-joint target loop of the data benchmark's reference-style
baseline (``data_baseline.py``); it is never used by the library. Do not vectorise it.
"""

import numpy as np


def generate_target_baseline(joints, joints_vis, image_size, heatmap_size, sigma):
    """Reference targets for one person.

    Args:
        joints: [K, 2+] crop pixels (reference affine).
        joints_vis: [K] or [K, 1+] visibility; the weight is its first column clipped to [0, 1].
        image_size: network input (w, h). heatmap_size: (w, h). sigma: heatmap px (int or float).
    Returns:
        target float32 [K, h, w], target_weight float32 [K, 1].
    """
    joints = np.asarray(joints, dtype=np.float64)
    vis = np.asarray(joints_vis, dtype=np.float64).reshape(len(joints), -1)[:, 0]
    num_joints = joints.shape[0]
    image_size = np.asarray(image_size)
    heatmap_size = np.asarray(heatmap_size)
    target_weight = np.ones((num_joints, 1), dtype=np.float32)
    target_weight[:, 0] = np.clip(vis, 0, 1)  # the reference clips COCO v to <= 1 when loading
    target = np.zeros((num_joints, heatmap_size[1], heatmap_size[0]), dtype=np.float32)
    tmp_size = sigma * 3
    for joint_id in range(num_joints):
        feat_stride = image_size / heatmap_size
        mu_x = int(joints[joint_id][0] / feat_stride[0] + 0.5)
        mu_y = int(joints[joint_id][1] / feat_stride[1] + 0.5)
        ul = [int(mu_x - tmp_size), int(mu_y - tmp_size)]
        br = [int(mu_x + tmp_size + 1), int(mu_y + tmp_size + 1)]
        if ul[0] >= heatmap_size[0] or ul[1] >= heatmap_size[1] or br[0] < 0 or br[1] < 0:
            target_weight[joint_id] = 0
            continue
        size = 2 * tmp_size + 1
        x = np.arange(0, size, 1, np.float32)
        y = x[:, np.newaxis]
        x0 = y0 = size // 2
        g = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma ** 2))
        g_x = max(0, -ul[0]), min(br[0], heatmap_size[0]) - ul[0]
        g_y = max(0, -ul[1]), min(br[1], heatmap_size[1]) - ul[1]
        img_x = max(0, ul[0]), min(br[0], heatmap_size[0])
        img_y = max(0, ul[1]), min(br[1], heatmap_size[1])
        if target_weight[joint_id] > 0.5:
            target[joint_id][img_y[0]:img_y[1], img_x[0]:img_x[1]] = g[g_y[0]:g_y[1], g_x[0]:g_x[1]]
    return target, target_weight
