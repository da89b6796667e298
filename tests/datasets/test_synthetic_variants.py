"""The synthetic data in other benchmarks' layouts: their files, their json quirks (the fields they lack),
their keypoints (mapped by name from the mannequins), crowd indices, determinism; usable by pycocotools
once normalised."""

import json

import numpy as np
import pytest

from hrpose.datasets.coco import load_coco_records
from hrpose.datasets.coco_json import fill_missing_fields, merge_keypoint_parts
from hrpose.datasets.keypoints import builtin_keypoint_set
from hrpose.datasets.synthetic import keypoints_by_name
from hrpose.datasets.synthetic_variants import VARIANTS, crowd_index, make_variant_dataset
from hrpose.evaluation.coco_eval import load_ground_truth


def _json(root, variant: str, split_index: int) -> dict:
    spec = VARIANTS[variant]
    return json.loads((root / spec.ann_file.format(split=spec.splits[split_index])).read_text())


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_layout_fields_and_keypoints(sample_variant_root, variant):
    root, spec = sample_variant_root(variant), VARIANTS[variant]
    ks = builtin_keypoint_set(spec.keypoint_set)
    for index, split in enumerate(spec.splits):
        data = _json(root, variant, index)
        first = ks.parts[0].size if ks.parts else ks.num_keypoints  # the names of the 'keypoints' field
        assert data["categories"][0]["keypoints"] == list(ks.names[:first])
        data = merge_keypoint_parts(data, split, ks.parts)  # COCO-WholeBody: its part fields, concatenated
        for img in data["images"]:
            assert (root / spec.images.format(split=split) / img["file_name"]).is_file()
        for ann in data["annotations"]:
            assert not set(spec.dropped) & set(ann)  # the benchmark's json lacks them: so does ours
            kpts = np.asarray(ann["keypoints"]).reshape(-1, 3)
            assert kpts.shape == (ks.num_keypoints, 3) and not kpts[kpts[:, 2] == 0].any()
            for name in spec.unlabelled:
                assert kpts[ks.names.index(name), 2] == 0
        assert any(np.asarray(a["keypoints"])[2::3].max() > 0 for a in data["annotations"])


def test_crowdpose_images_carry_a_crowd_index_in_every_bucket(sample_variant_root):
    data = _json(sample_variant_root("crowdpose", 30, 4), "crowdpose", 0)
    index = np.array([img["crowdIndex"] for img in data["images"]])
    assert (index < 0.2).any() and ((index >= 0.2) & (index < 0.8)).any() and (index >= 0.8).any()
    for img in data["images"]:
        persons = [a for a in data["annotations"] if a["image_id"] == img["id"]]
        assert crowd_index(persons) == img["crowdIndex"]


def test_wholebody_layout(sample_variant_root):
    """COCO-WholeBody's json: a field per part, *_valid flags, face / hand boxes, num_keypoints of the body;
    read through the keypoint set's json_parts, the records hold 133 keypoints, only the body labelled."""
    root, ks = sample_variant_root("wholebody"), builtin_keypoint_set("coco_wholebody")
    data = _json(root, "wholebody", 1)
    for ann in data["annotations"]:
        assert [len(ann[p.field]) for p in ks.parts] == [51, 18, 204, 63, 63]
        assert not ann["foot_valid"] and not ann["face_valid"] and ann["lefthand_box"] == [0.0] * 4
        assert ann["num_keypoints"] == sum(v > 0 for v in ann["keypoints"][2::3])
    records, ann_file = load_coco_records(str(root), "val2017", 133, 0.75, ann_file=str(
        root / "annotations" / "coco_wholebody_val_v1.0.json"), json_parts=ks.parts)
    kpts = np.stack([r.keypoints for r in records])
    assert kpts.shape[1:] == (133, 3) and kpts[:, :17, 2].max() > 0 and not kpts[:, 17:].any()
    gt = load_ground_truth(ann_file, json_parts=ks.parts)
    assert len(gt.loadAnns(records[0].ann_id)[0]["keypoints"]) == 3 * 133


def test_crowd_index_definition():
    a = {"bbox": [0, 0, 10, 10], "keypoints": [1, 1, 2, 2, 2, 2, 50, 50, 2]}  # 3 labelled joints
    b = {"bbox": [40, 40, 20, 20], "keypoints": [5, 5, 2, 45, 45, 1, 0, 0, 0]}  # 2 labelled, one inside a
    # a holds 1 of b's joints (1/3), b holds 1 of a's (1/2): mean 5/12
    assert crowd_index([a, b]) == round(5 / 12, 4)
    assert crowd_index([a]) == 0.0 and crowd_index([]) == 0.0


def test_posetrack_layout(sample_variant_root):
    data = _json(sample_variant_root("posetrack18"), "posetrack18", 1)
    img = data["images"][0]
    assert img["file_name"].startswith("images/val/") and img["file_name"].count("/") == 3
    assert {"ignore_regions_x", "ignore_regions_y", "vid_id", "is_labeled"} <= set(img)
    assert all({"bbox_head", "track_id"} <= set(a) for a in data["annotations"])


def test_normalised_jsons_load_in_pycocotools(sample_variant_root, tmp_path):
    for variant in ("crowdpose", "aic", "posetrack18"):
        spec = VARIANTS[variant]
        path = sample_variant_root(variant) / spec.ann_file.format(split=spec.splits[1])
        gt = load_ground_truth(path)
        ann = gt.loadAnns(gt.getAnnIds())[0]
        assert ann["area"] == pytest.approx(ann["bbox"][2] * ann["bbox"][3]) and ann["iscrowd"] in (0, 1)
        filled = fill_missing_fields(json.loads(path.read_text()), str(path))
        assert filled["annotations"][0]["area"] == ann["area"]


def test_keypoints_by_name():
    points = {"left_ankle": (1, 2, 2), "right_ankle": (3, 4, 1), "head_top": (5, 6, 2), "neck": (7, 8, 2),
              "pelvis": (9, 9, 2), "head_bottom": (4, 4, 2)}
    names = ("r_ankle", "l_ankle", "head", "thorax", "upper_neck", "hip", "left_big_toe")
    out = keypoints_by_name(points, names)
    assert out.tolist() == [[3, 4, 1], [1, 2, 2], [5, 6, 2], [7, 8, 2], [4, 4, 2], [9, 9, 2], [0, 0, 0]]
    assert keypoints_by_name(points, ("left_ankle",), unlabelled=("left_ankle",)).tolist() == [[0, 0, 0]]


def test_deterministic_for_a_seed(tmp_path):
    for seed in (0, 0, 1):
        make_variant_dataset(str(tmp_path / f"s{seed}_{len(list(tmp_path.iterdir()))}"), "aic", seed, 3, 2)
    a, b, c = sorted(tmp_path.iterdir())
    texts = [(d / "annotations" / "aic_val.json").read_bytes() for d in (a, b, c)]
    assert texts[0] == texts[1] != texts[2]
    with pytest.raises(ValueError, match="unknown sample-data variant 'lsp'"):
        make_variant_dataset(str(tmp_path / "x"), "lsp")
