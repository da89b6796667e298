"""COCO-format json files: default paths, root-relative keys, and the normalisation every GT reader shares
(absent area / iscrowd / num_keypoints, as CrowdPose, AI Challenger and PoseTrack18 jsons have them; the
part fields of COCO-WholeBody concatenated by the keypoint set's json_parts)."""

import copy
import logging
import os

import pytest

from hrpose.datasets.coco_json import (
    CocoFormatError,
    coco_paths,
    fill_missing_fields,
    merge_keypoint_parts,
    resolve_in_root,
)
from hrpose.datasets.keypoints import KeypointPart


def _gt() -> dict:
    person = {"id": 7, "image_id": 1, "category_id": 1, "bbox": [10.0, 20.0, 30.0, 50.0],
              "keypoints": [15, 25, 2, 0, 0, 0, 20, 40, 1]}
    return {"images": [{"id": 1, "width": 100, "height": 100}], "annotations": [person, {**person, "id": 8}]}


def test_absent_fields_are_filled_as_the_toolkits_do(caplog):
    data = _gt()
    before = copy.deepcopy(data)
    with caplog.at_level(logging.INFO, logger="hrpose.datasets.coco_json"):
        out = fill_missing_fields(data, "aic_val.json")
    ann = out["annotations"][0]
    assert ann["area"] == 30.0 * 50.0 and ann["iscrowd"] == 0 and ann["num_keypoints"] == 2
    assert out["categories"] == [{"id": 1, "name": "person", "supercategory": "person"}]
    assert data == before  # the caller's json is not modified
    assert "aic_val.json: filled absent fields" in caplog.text and "'area': 2" in caplog.text


def test_present_fields_are_kept():
    data = _gt()
    data["annotations"][0].update(area=123.0, iscrowd=1, num_keypoints=5)
    data["categories"] = [{"id": 1, "name": "person", "keypoints": ["a", "b", "c"]}]
    out = fill_missing_fields(data, "x.json")
    assert out["annotations"][0] is data["annotations"][0] and out["categories"] is data["categories"]
    assert out["annotations"][1]["area"] == 1500.0
    info = fill_missing_fields({"images": []}, "image_info.json")  # no annotations: none are added
    assert "annotations" not in info and info["categories"][0]["id"] == 1


def test_no_area_and_no_box_names_the_file_and_annotation():
    data = _gt()
    del data["annotations"][1]["bbox"]
    with pytest.raises(CocoFormatError, match=r"posetrack\.json: annotation id 8 has neither 'area' nor a "
                                              "'bbox'"):
        fill_missing_fields(data, "posetrack.json")


PARTS = (KeypointPart("body", "keypoints", 3), KeypointPart("hand", "hand_kpts", 2))


def test_part_fields_are_concatenated_in_order(caplog):
    data = _gt()
    data["annotations"][0]["hand_kpts"] = [1, 2, 2, 3, 4, 0]  # annotation 8 has no hand field
    data["categories"] = [{"id": 1, "name": "person", "keypoints": ["a", "b", "c"], "skeleton": [[1, 2]]}]
    before = copy.deepcopy(data)
    with caplog.at_level(logging.WARNING, logger="hrpose.datasets.coco_json"):
        out = merge_keypoint_parts(data, "wholebody.json", PARTS)
    assert out["annotations"][0]["keypoints"] == [15, 25, 2, 0, 0, 0, 20, 40, 1, 1, 2, 2, 3, 4, 0]
    assert out["annotations"][0]["num_keypoints"] == 3  # labelled in every part
    assert out["annotations"][1]["keypoints"][9:] == [0.0] * 6  # absent: unlabelled, and logged
    assert "wholebody.json: person annotations without a part's field" in caplog.text
    assert "{'hand_kpts': 1}" in caplog.text
    assert out["categories"] == [{"id": 1, "name": "person"}]  # its names describe 'keypoints' alone
    assert data == before and merge_keypoint_parts(data, "x.json", ()) is data
    data["annotations"][1]["hand_kpts"] = [1, 2, 2]
    with pytest.raises(CocoFormatError, match=r"wholebody\.json: annotation id 8 has 3 values in "
                                              r"'hand_kpts'; expected 6 \(the hand part's 2 keypoints x 3\)"):
        merge_keypoint_parts(data, "wholebody.json", PARTS)


def test_paths_default_to_the_coco_layout_and_keys_are_taken_from_the_root():
    assert coco_paths("r", "val2017") == (os.path.join("r", "annotations", "person_keypoints_val2017.json"),
                                          os.path.join("r", "images", "val2017"))
    assert resolve_in_root("r", "", "default") == "default"
    assert resolve_in_root("r", "json/a.json", "default") == os.path.join("r", "json", "a.json")
    assert resolve_in_root("r", "/abs/a.json", "default") == "/abs/a.json"
