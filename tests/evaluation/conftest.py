"""Fixtures of the evaluation tests: small synthetic COCO keypoint ground truth (``make_gt``), json files
(``write_json``) and the GT fed back as predictions (``gt_as_predictions``)."""

import json

import numpy as np
import pytest

from hrpose.evaluation import PosePredictions


@pytest.fixture(scope="session")
def make_gt():
    """``make_gt(num_images=3, persons_per_image=2, num_keypoints=17, seed=0) -> dict``."""
    return _make_gt


@pytest.fixture(scope="session")
def write_json():
    """``write_json(obj, path) -> str``."""
    return _write_json


@pytest.fixture(scope="session")
def gt_as_predictions():
    """``gt_as_predictions(gt, box_score=1.0, keypoint_score=0.9) -> PosePredictions``."""
    return _gt_as_predictions


def _make_gt(num_images: int = 3, persons_per_image: int = 2, num_keypoints: int = 17, seed: int = 0) -> dict:
    """A COCO keypoint GT dict: persons of varied size (medium and large), all keypoints labelled
    except a few v=0, each with ``area``, ``bbox``, ``num_keypoints > 0``."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(num_images):
        image_id = 1000 + 7 * i
        images.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": 640, "height": 480})
        for p in range(persons_per_image):
            w, h = rng.uniform(40, 200), rng.uniform(80, 300)
            x, y = 300 * p + rng.uniform(0, 40), rng.uniform(0, 150)
            kp = np.zeros((num_keypoints, 3))
            kp[:, 0] = x + rng.uniform(0, w, num_keypoints)
            kp[:, 1] = y + rng.uniform(0, h, num_keypoints)
            kp[:, 2] = 2
            kp[rng.choice(num_keypoints, 2, replace=False)] = 0  # two unlabelled joints
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                         "bbox": [x, y, w, h], "area": w * h * 0.6,
                         "num_keypoints": int((kp[:, 2] > 0).sum()),
                         "keypoints": kp.round(2).ravel().tolist()})
    categories = [{"id": 1, "name": "person", "supercategory": "person",
                   "keypoints": [f"k{j}" for j in range(num_keypoints)], "skeleton": []}]
    return {"images": images, "annotations": anns, "categories": categories}


def _write_json(obj, path) -> str:
    with open(path, "w") as f:
        json.dump(obj, f)
    return str(path)


def _gt_as_predictions(gt: dict, box_score: float = 1.0, keypoint_score: float = 0.9) -> PosePredictions:
    """Each GT person as a prediction: its keypoints (unlabelled ones get score 0), box-derived extras."""
    anns = [a for a in gt["annotations"] if a.get("num_keypoints", 0) > 0]
    kps = np.array([a["keypoints"] for a in anns], dtype=np.float32).reshape(len(anns), -1, 3)
    kps[..., 2] = np.where(kps[..., 2] > 0, keypoint_score, 0.0)
    boxes = np.array([a["bbox"] for a in anns], dtype=np.float32)
    return PosePredictions(
        image_ids=np.array([a["image_id"] for a in anns]),
        keypoints=kps,
        box_scores=np.full(len(anns), box_score),
        areas=boxes[:, 2] * boxes[:, 3] * 1.25 ** 2,
        centers=boxes[:, :2] + boxes[:, 2:] / 2,
        scales=boxes[:, 2:] * 1.25 / 200,
    )
