"""Every bad input gives one clear error naming the file (or a logged, counted skip), never a wrong sample."""

import json
import logging
import re

import pytest

from hrpose.config import get_cfg
from hrpose.datasets import CocoFormatError, DatasetConfigError, ImageReadError, build_dataset

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


def test_missing_image_names_the_path(sample_copy, make_cfg):
    ds = build_dataset(make_cfg(sample_copy), is_train=False)
    path = ds.records[0].image_path
    (sample_copy / path).unlink()
    with pytest.raises(ImageReadError, match=f"{re.escape(path)}.*not found"):
        ds[0]


def test_undecodable_jpeg_names_the_path(sample_copy, make_cfg):
    ds = build_dataset(make_cfg(sample_copy), is_train=True)
    path = ds.records[0].image_path
    with open(path, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(ImageReadError, match=f"{re.escape(path)}.*cannot be decoded"):
        ds[0]


def test_skip_bad_images_logs_and_counts(sample_copy, make_cfg, caplog):
    ds = build_dataset(make_cfg(sample_copy, "DATASET.SKIP_BAD_IMAGES", "True"), is_train=False)
    bad = ds.records[0].image_path
    (sample_copy / bad).unlink()
    first_good = next(i for i, r in enumerate(ds.records) if r.image_path != bad)
    with caplog.at_level(logging.WARNING):
        item = ds[0]
    assert item["meta"]["index"] == first_good and ds.bad_images == first_good
    assert bad in caplog.text


def test_missing_annotation_json_names_the_expected_path(tmp_path, make_cfg):
    with pytest.raises(CocoFormatError, match=re.escape(str(tmp_path / VAL_JSON))):
        build_dataset(make_cfg(tmp_path), is_train=False)


def test_invalid_json_names_the_file(sample_copy, make_cfg):
    (sample_copy / VAL_JSON).write_text("{not json")
    with pytest.raises(CocoFormatError, match="person_keypoints_val2017.json is not valid json"):
        build_dataset(make_cfg(sample_copy), is_train=False)


def test_wrong_keypoint_count_names_file_and_annotation(sample_copy, make_cfg):
    def cut(data):
        data["annotations"][1]["keypoints"] = data["annotations"][1]["keypoints"][:48]
        return data

    path = _edit_json(sample_copy, VAL_JSON, cut)
    ann_id = json.loads(path.read_text())["annotations"][1]["id"]
    message = f"{path}: annotation id {ann_id} has 48 keypoint values; expected 51"
    with pytest.raises(CocoFormatError, match=re.escape(message)):
        build_dataset(make_cfg(sample_copy), is_train=False)


def test_box_without_area_is_a_logged_skip(sample_copy, make_cfg, caplog):
    full = len(build_dataset(make_cfg(sample_copy), is_train=False))

    def flatten(data):
        person = next(a for a in data["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"])
        person["bbox"][2] = 0.0
        return data

    _edit_json(sample_copy, VAL_JSON, flatten)
    with caplog.at_level(logging.WARNING):
        ds = build_dataset(make_cfg(sample_copy), is_train=False)
    assert len(ds) == full - 1
    assert "skipped 1 person annotations whose box has no area" in caplog.text


def test_detector_json_problems(sample_copy, make_cfg, caplog):
    image_id = json.loads((sample_copy / VAL_JSON).read_text())["images"][0]["id"]
    good = {"image_id": image_id, "category_id": 1, "bbox": [10, 10, 40, 80], "score": 0.9}
    entries = [good, {**good, "image_id": 999999}, {**good, "bbox": [5, 5, 0, 30]},
               {**good, "category_id": 2}]
    opts = ("TEST.USE_GT_BBOX", "False", "TEST.IMAGE_THRE", "0.0")
    with caplog.at_level(logging.WARNING):
        ds = build_dataset(make_cfg(sample_copy, *opts, "TEST.COCO_BBOX_FILE", _dets(sample_copy, entries)),
                           is_train=False)
    assert len(ds) == 1
    assert "skipped 1 boxes on 1 image ids not in the annotation file" in caplog.text
    assert "skipped 1 boxes with no area" in caplog.text
    with pytest.raises(CocoFormatError, match="none of its image ids"):
        build_dataset(make_cfg(sample_copy, *opts, "TEST.COCO_BBOX_FILE",
                               _dets(sample_copy, [{**good, "image_id": 999999}])), is_train=False)
    missing = sample_copy / "nope.json"
    with pytest.raises(CocoFormatError, match=f"not found: expected {re.escape(str(missing))}"):
        build_dataset(make_cfg(sample_copy, *opts, "TEST.COCO_BBOX_FILE", missing), is_train=False)
    with pytest.raises(CocoFormatError, match="TEST.COCO_BBOX_FILE is empty"):
        build_dataset(make_cfg(sample_copy, *opts), is_train=False)


def _cfg(**dataset):
    cfg = get_cfg()
    cfg.DATASET.DATASET, cfg.DATASET.ROOT = "coco", "/nonexistent"
    for key, value in dataset.items():
        cfg.DATASET[key] = value
    return cfg


def test_unsupported_dataset_settings():
    with pytest.raises(DatasetConfigError, match="'mpii' is not supported yet.*COCO-format"):
        build_dataset(_cfg(DATASET="mpii"), is_train=True)
    with pytest.raises(DatasetConfigError, match="DATA_FORMAT = 'zip'.*zip archives is not supported"):
        build_dataset(_cfg(DATA_FORMAT="zip"), is_train=True)
    with pytest.raises(DatasetConfigError, match="only COCO-format"):
        build_dataset(_cfg(DATASET="crowdpose"), is_train=True)
    with pytest.raises(DatasetConfigError, match="DATASET.ROOT is empty"):
        build_dataset(_cfg(ROOT=""), is_train=True)
