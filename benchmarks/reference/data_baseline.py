"""A reference-style training-sample pipeline, only as the baseline of ``benchmark.py data``.

It mirrors the original HRNet ``JointsDataset.__getitem__`` (``lib/dataset/JointsDataset.py``): decode
the full image, deepcopy the db record, BGR->RGB and the flip on the full image (``img[:, ::-1].copy()``,
keypoints mirrored and the centre moved), ``cv2.warpAffine`` with the reference's three-point affine,
one keypoint at a time through that affine, the per-joint target loop (``target_baseline``), then the
torchvision-style float ``ToTensor`` / ``Normalize`` on the CPU. It exists so that the data benchmark
times hrpose's pipeline against the reference's way of doing the same work, over the same records and
augmentation parameters; it is a speed baseline, never used by the library.
"""

import copy

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from hrpose.datasets import transforms as T
from hrpose.models.normalize import IMAGENET_MEAN, IMAGENET_STD

from .target_baseline import generate_target_baseline

MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


class BaselineDataset(Dataset):
    """The reference-style pipeline over the same records and augmentation parameters as ``dataset``
    (an hrpose ``TopDownDataset``): items are (float image [3,H,W], target [K,h,w], weight [K,1])."""

    def __init__(self, dataset):
        self.dataset = dataset
        # the reference's db: a list of plain dicts, deep-copied per sample
        self.db = [{"image": r.image_path, "center": r.center.copy(), "scale": r.scale.copy(),
                    "joints_3d": r.keypoints.copy(),
                    "joints_3d_vis": np.repeat(np.minimum(r.keypoints[:, 2:], 1), 3, axis=1),
                    "score": r.score} for r in dataset.records]

    def __len__(self) -> int:
        return len(self.db)

    def __getitem__(self, index: int):
        rec = copy.deepcopy(self.db[index])
        image = cv2.imread(rec["image"], cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if self.dataset.options.color_rgb:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        joints, vis = rec["joints_3d"], rec["joints_3d_vis"]
        center, scale, rotation, flip = self.dataset.crop_params(index)
        center = np.array(center, dtype=np.float32)
        if flip:
            image = image[:, ::-1, :].copy()
            joints = T.flip_keypoints(joints, image.shape[1], self.dataset.keypoint_set.flip_index)
            vis = vis[self.dataset.keypoint_set.flip_index]
            center[0] = image.shape[1] - center[0] - 1
        size = self.dataset.codec.input_size
        trans = T.reference_affine(center, scale, rotation, size)
        crop = cv2.warpAffine(image, trans, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR)
        for k in range(len(joints)):
            if vis[k, 0] > 0.0:
                joints[k, 0:2] = trans @ np.array([joints[k, 0], joints[k, 1], 1.0])
        target, weight = generate_target_baseline(joints, vis, size, self.dataset.codec.heatmap_size,
                                                  self.dataset.codec.sigma)
        tensor = (torch.from_numpy(crop).permute(2, 0, 1).float().div(255.0) - MEAN) / STD
        return tensor, torch.from_numpy(target), torch.from_numpy(weight)
