"""COCO-format records: GT boxes, detector boxes, path conventions, select_data; every bad annotation or
detector file gives one clear error naming the file (or a logged, counted skip)."""

import json
import logging
import re

import numpy as np
import pytest

from hrpose.datasets import CocoFormatError, load_coco_records
from hrpose.datasets import transforms as T
from hrpose.datasets.coco import annotation_file, image_folder, select_data

DET_FILE = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"


def test_real_coco_sample_gt_records(coco_sample_root, data_cfg, make_dataset):
    ds = make_dataset(data_cfg(coco_sample_root, "MODEL.IMAGE_SIZE", "[192, 256]",
                                "MODEL.HEATMAP_SIZE", "[48, 64]"), is_train=False)
    assert len(ds) == 12  # 14 persons, 2 without keypoints
    data = json.loads((coco_sample_root / "annotations" / "person_keypoints_val2017.json").read_text())
    images = {img["id"]: img for img in data["images"]}
    anns = {a["id"]: a for a in data["annotations"]}
    for rec in ds.records:
        ann, img = anns[rec.ann_id], images[rec.image_id]
        box = T.sanitize_coco_box(ann["bbox"], img["width"], img["height"])
        center, scale = T.box_to_center_scale(box, 192 / 256)
        np.testing.assert_array_equal(rec.center, center)
        np.testing.assert_array_equal(rec.scale, scale)
        np.testing.assert_array_equal(rec.keypoints.reshape(-1), np.float32(ann["keypoints"]))
        assert rec.image_path.endswith(f"images/val2017/{img['file_name']}") and rec.score == 1.0
        assert rec.area == pytest.approx(float(np.prod(scale.astype(np.float64) * 200)))
    _, ann_file = load_coco_records(str(coco_sample_root), "val2017", 17, 192 / 256)
    assert ann_file.endswith("annotations/person_keypoints_val2017.json")


@pytest.mark.parametrize(("threshold", "expected"), [(0.0, 118), (0.3, 33)])
def test_real_coco_sample_detector_boxes(coco_sample_root, data_cfg, threshold, expected, make_dataset):
    cfg = data_cfg(coco_sample_root, "TEST.USE_GT_BBOX", "False", "TEST.IMAGE_THRE", threshold,
                   "TEST.COCO_BBOX_FILE", str(coco_sample_root / DET_FILE))
    ds = make_dataset(cfg, is_train=False)
    assert len(ds) == expected
    assert all(r.ann_id == -1 and r.score >= threshold and not r.keypoints.any() for r in ds.records)
    item = ds[0]
    assert not item["meta"]["joints"].any() and not item["target_weight"].any()


def test_records_are_read_only(sample_data_root):
    records, _ = load_coco_records(str(sample_data_root), "val2017", 17, 0.75)
    with pytest.raises(ValueError):
        records[0].keypoints[0, 0] = 1.0
    with pytest.raises(AttributeError):
        records[0].score = 0.5


def test_sample_data_gt_skips_crowd_and_zero_keypoint_persons(sample_data_root):
    data = json.loads((sample_data_root / "annotations" / "person_keypoints_train2017.json").read_text())
    expected = [a["id"] for a in data["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]]
    records, ann_file = load_coco_records(str(sample_data_root), "train2017", 17, 0.75)
    assert [r.ann_id for r in records] == expected
    assert ann_file == annotation_file(str(sample_data_root), "train2017")


def test_coco_path_conventions():
    assert annotation_file("r", "val2017") == "r/annotations/person_keypoints_val2017.json"
    assert annotation_file("r", "test-dev2017") == "r/annotations/image_info_test-dev2017.json"
    assert image_folder("r", "test-dev2017") == "r/images/test2017"
    assert image_folder("r", "train2017") == "r/images/train2017"


def test_test_set_uses_image_info_and_file_name_fallback(tmp_path, data_cfg, make_dataset):
    (tmp_path / "annotations").mkdir()
    info = {"images": [{"id": 7, "width": 100, "height": 80}], "categories": []}
    (tmp_path / "annotations" / "image_info_test-dev2017.json").write_text(json.dumps(info))
    dets = [{"image_id": 7, "category_id": 1, "bbox": [10, 10, 30, 50], "score": 0.9}]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    cfg = data_cfg(tmp_path, "DATASET.TEST_SET", "test-dev2017", "TEST.USE_GT_BBOX", "False",
                   "TEST.COCO_BBOX_FILE", str(tmp_path / "dets.json"))
    ds = make_dataset(cfg, is_train=False)
    _, ann_file = load_coco_records(str(tmp_path), "test-dev2017", 17, 0.75, use_gt_boxes=False,
                                    det_file=str(tmp_path / "dets.json"))
    assert ann_file is None and len(ds) == 1
    assert ds.records[0].image_path == str(tmp_path / "images" / "test2017" / "000000000007.jpg")
    with pytest.raises(ValueError, match="TEST.USE_GT_BBOX False"):
        make_dataset(data_cfg(tmp_path, "DATASET.TEST_SET", "test-dev2017"), is_train=False)


def test_select_data_follows_the_reference(sample_data_root):
    records, _ = load_coco_records(str(sample_data_root), "train2017", 17, 0.75)
    kept = select_data(records)
    assert 0 < len(kept) <= len(records)
    for rec in records:
        vis = rec.keypoints[:, 2] > 0
        d = rec.keypoints[vis, :2].mean(0) - rec.center
        ks = np.exp(-(d @ d) / (0.2**2 * 2 * rec.area))
        assert (rec in kept) == (ks > 0.2 / 16 * vis.sum() + 0.45 - 0.2 / 16)


def test_select_data_by_config(sample_data_root, data_cfg, make_dataset):
    full = make_dataset(data_cfg(sample_data_root), is_train=True)
    selected = make_dataset(data_cfg(sample_data_root, "DATASET.SELECT_DATA", "True"), is_train=True)
    assert len(selected) == len(select_data(full.records))


# --- bad annotation and detector files: one clear error naming the file (or a logged skip) -------------

VAL_JSON = "annotations/person_keypoints_val2017.json"


def _edit_json(root, rel, edit):
    path = root / rel
    data = json.loads(path.read_text())
    path.write_text(json.dumps(edit(data)))
    return path


def _dets(root, entries):
    path = root / "dets.json"
    path.write_text(json.dumps(entries))
    return path


def test_missing_annotation_json_names_the_expected_path(tmp_path, data_cfg, make_dataset):
    with pytest.raises(CocoFormatError, match=re.escape(str(tmp_path / VAL_JSON))):
        make_dataset(data_cfg(tmp_path), is_train=False)


def test_invalid_json_names_the_file(sample_copy, data_cfg, make_dataset):
    (sample_copy / VAL_JSON).write_text("{not json")
    with pytest.raises(CocoFormatError, match="person_keypoints_val2017.json is not valid json"):
        make_dataset(data_cfg(sample_copy), is_train=False)


def test_wrong_keypoint_count_names_file_and_annotation(sample_copy, data_cfg, make_dataset):
    def cut(data):
        data["annotations"][1]["keypoints"] = data["annotations"][1]["keypoints"][:48]
        return data

    path = _edit_json(sample_copy, VAL_JSON, cut)
    ann_id = json.loads(path.read_text())["annotations"][1]["id"]
    message = f"{path}: annotation id {ann_id} has 48 keypoint values; expected 51"
    with pytest.raises(CocoFormatError, match=re.escape(message)):
        make_dataset(data_cfg(sample_copy), is_train=False)


def test_box_without_area_is_a_logged_skip(sample_copy, data_cfg, caplog, make_dataset):
    full = len(make_dataset(data_cfg(sample_copy), is_train=False))

    def flatten(data):
        person = next(a for a in data["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"])
        person["bbox"][2] = 0.0
        return data

    _edit_json(sample_copy, VAL_JSON, flatten)
    with caplog.at_level(logging.WARNING):
        ds = make_dataset(data_cfg(sample_copy), is_train=False)
    assert len(ds) == full - 1
    assert "skipped 1 person annotations whose box has no area" in caplog.text


def test_detector_json_problems(sample_copy, data_cfg, caplog, make_dataset):
    image_id = json.loads((sample_copy / VAL_JSON).read_text())["images"][0]["id"]
    good = {"image_id": image_id, "category_id": 1, "bbox": [10, 10, 40, 80], "score": 0.9}
    entries = [good, {**good, "image_id": 999999}, {**good, "bbox": [5, 5, 0, 30]},
               {**good, "category_id": 2}]
    opts = ("TEST.USE_GT_BBOX", "False", "TEST.IMAGE_THRE", "0.0")
    with caplog.at_level(logging.WARNING):
        ds = make_dataset(data_cfg(sample_copy, *opts, "TEST.COCO_BBOX_FILE", _dets(sample_copy, entries)),
                           is_train=False)
    assert len(ds) == 1
    assert "skipped 1 boxes on 1 image ids not in the annotation file" in caplog.text
    assert "skipped 1 boxes with no area" in caplog.text
    with pytest.raises(CocoFormatError, match="none of its image ids"):
        make_dataset(data_cfg(sample_copy, *opts, "TEST.COCO_BBOX_FILE",
                               _dets(sample_copy, [{**good, "image_id": 999999}])), is_train=False)
    missing = sample_copy / "nope.json"
    with pytest.raises(CocoFormatError, match=f"not found: expected {re.escape(str(missing))}"):
        make_dataset(data_cfg(sample_copy, *opts, "TEST.COCO_BBOX_FILE", missing), is_train=False)
    with pytest.raises(CocoFormatError, match="TEST.COCO_BBOX_FILE is empty"):
        make_dataset(data_cfg(sample_copy, *opts), is_train=False)


@pytest.mark.parametrize("change, what", [
    ({"bbox": None}, "no 'bbox'"),
    ({"bbox": [10, 20]}, r"'bbox' must be 4 numbers \[x, y, w, h\]"),
    ({"score": "high"}, "'score' must be a number"),
    ({"image_id": "abc"}, "'image_id' and 'category_id' must be integers"),
])
def test_malformed_detector_entry_names_file_and_entry(sample_copy, data_cfg, make_dataset, change, what):
    image_id = json.loads((sample_copy / VAL_JSON).read_text())["images"][0]["id"]
    good = {"image_id": image_id, "category_id": 1, "bbox": [10, 10, 40, 80], "score": 0.9}
    bad = {k: v for k, v in {**good, **change}.items() if v is not None}
    path = _dets(sample_copy, [good, bad])
    opts = ("TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE", path)
    message = rf"detector json {re.escape(str(path))}: entry 1 .*{what}; expected"
    with pytest.raises(CocoFormatError, match=message):
        make_dataset(data_cfg(sample_copy, *opts), is_train=False)


def test_labelled_joints_without_coordinates_are_counted_and_unlabelled(sample_copy, data_cfg, make_dataset,
                                                                       caplog):
    def break_joints(data):
        person = next(a for a in data["annotations"] if a["num_keypoints"] >= 3 and not a["iscrowd"])
        labelled = [j for j in range(17) if person["keypoints"][3 * j + 2] > 0][:2]
        for j in labelled:
            person["keypoints"][3 * j] = float("nan")
        return data

    _edit_json(sample_copy, VAL_JSON, break_joints)
    with caplog.at_level(logging.WARNING):
        ds = make_dataset(data_cfg(sample_copy), is_train=False)
    assert "2 labelled joints have non-finite coordinates; they count as unlabelled" in caplog.text
    for rec in ds.records:
        assert np.isfinite(rec.keypoints).all()
