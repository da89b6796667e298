"""Fixtures of the inference API tests: one real image of the sample data with its GT persons."""

import json

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="session")
def sample_image(sample_data_root):
    """(BGR image, GT person boxes [N, 4] xywh, GT keypoints [N, 17, 3]) of the first val image."""
    data = json.loads((sample_data_root / "annotations" / "person_keypoints_val2017.json").read_text())
    info = data["images"][0]
    anns = [a for a in data["annotations"] if a["image_id"] == info["id"] and a["num_keypoints"] > 0
            and not a["iscrowd"]]
    image = cv2.imread(str(sample_data_root / "images" / "val2017" / info["file_name"]))
    boxes = np.array([a["bbox"] for a in anns], dtype=np.float32)
    keypoints = np.array([a["keypoints"] for a in anns], dtype=np.float32).reshape(len(anns), 17, 3)
    return image, boxes, keypoints
