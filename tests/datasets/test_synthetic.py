"""The synthetic sample data: deterministic, COCO layout, real left/right semantics, usable by pycocotools."""

import json

import numpy as np
from pycocotools.coco import COCO

from hrpose.datasets.synthetic import DETECTION_FILE, make_sample_dataset

FILES = ("annotations/person_keypoints_train2017.json", "annotations/person_keypoints_val2017.json",
         f"person_detection_results/{DETECTION_FILE}")


def test_layout(sample_data_root):
    for rel in FILES:
        assert (sample_data_root / rel).is_file()
    data = json.loads((sample_data_root / FILES[0]).read_text())
    for img in data["images"]:
        assert (sample_data_root / "images" / "train2017" / img["file_name"]).is_file()
        assert img["file_name"] == f"{img['id']:012d}.jpg"
    cat = data["categories"][0]
    assert cat["id"] == 1 and len(cat["keypoints"]) == 17 and min(min(limb) for limb in cat["skeleton"]) == 1


def test_deterministic_for_a_seed(tmp_path, sample_data_root):
    make_sample_dataset(str(tmp_path / "a"), seed=0, num_train_images=8, num_val_images=4)
    make_sample_dataset(str(tmp_path / "b"), seed=1, num_train_images=8, num_val_images=4)
    for rel in FILES:
        assert (tmp_path / "a" / rel).read_bytes() == (sample_data_root / rel).read_bytes()
    assert (tmp_path / "b" / FILES[0]).read_bytes() != (sample_data_root / FILES[0]).read_bytes()
    image = "images/val2017/000001000001.jpg"
    assert (tmp_path / "a" / image).read_bytes() == (sample_data_root / image).read_bytes()


def test_annotations_are_consistent(sample_data_root):
    for split in ("train2017", "val2017"):
        data = json.loads((sample_data_root / "annotations" / f"person_keypoints_{split}.json").read_text())
        sizes = {img["id"]: (img["width"], img["height"]) for img in data["images"]}
        assert len({a["id"] for a in data["annotations"]}) == len(data["annotations"])
        for ann in data["annotations"]:
            w, h = sizes[ann["image_id"]]
            x, y, bw, bh = ann["bbox"]
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h and ann["area"] > 0
            k = np.array(ann["keypoints"]).reshape(17, 3)
            assert set(np.unique(k[:, 2])) <= {0, 1, 2}
            assert ann["num_keypoints"] == int((k[:, 2] > 0).sum())
            assert not k[k[:, 2] == 0].any()  # unlabelled joints are (0, 0, 0)
            labelled = k[k[:, 2] > 0]
            assert ((labelled[:, 0] <= w - 1) & (labelled[:, 1] <= h - 1)).all()
            if ann["iscrowd"]:
                assert ann["num_keypoints"] == 0


def test_pycocotools_reads_it(sample_data_root):
    coco = COCO(str(sample_data_root / FILES[1]))
    dets = coco.loadRes(str(sample_data_root / FILES[2]))
    assert len(dets.getAnnIds()) > len(coco.getAnnIds(iscrowd=False)) * 0.9


def test_default_sizes_and_variety(tmp_path):
    counts = make_sample_dataset(str(tmp_path), seed=0, num_train_images=40, num_val_images=1)
    assert counts["train2017"]["images"] == 40 and 70 <= counts["train2017"]["persons"] <= 130
    data = json.loads((tmp_path / FILES[0]).read_text())
    anns = data["annotations"]
    assert any(a["iscrowd"] for a in anns) and any(a["num_keypoints"] == 0 and not a["iscrowd"] for a in anns)
    kpts = np.array([a["keypoints"] for a in anns if a["num_keypoints"]]).reshape(-1, 17, 3)
    assert (kpts[:, :, 2] == 1).any() and (kpts[:, :, 2] == 0).any()  # occluded and cut-off joints
    heights = [a["bbox"][3] for a in anns if a["num_keypoints"] > 10]
    assert min(heights) < 70 and max(heights) > 130


def test_faces_mark_the_side_in_the_data(sample_data_root):
    data = json.loads((sample_data_root / FILES[0]).read_text())
    k = np.array([a["keypoints"] for a in data["annotations"] if a["num_keypoints"]]).reshape(-1, 17, 3)
    both = (k[:, 5, 2] > 0) & (k[:, 6, 2] > 0)
    with_face, without = both & (k[:, 0, 2] > 0), both & (k[:, 0, 2] == 0) & (k[:, 3, 2] > 0)
    # mostly upright figures: the left shoulder is on the image right exactly when a face is drawn
    assert (k[with_face, 5, 0] > k[with_face, 6, 0]).mean() > 0.8
    assert (k[without, 5, 0] < k[without, 6, 0]).mean() > 0.8
