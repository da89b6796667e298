"""MPII in the reference's format: records as the reference builds them, its ground-truth .mat, the loader
by config (DATASET.DATASET mpii), and clear errors."""

import json

import numpy as np
import pytest
import scipy.io

from hrpose.datasets.mpii import (
    MPII_GT_JOINTS,
    MpiiFormatError,
    MpiiGroundTruth,
    load_mpii_ground_truth,
    load_mpii_records,
    mpii_gt_file,
    mpii_paths,
    save_mpii_ground_truth,
)

ENTRY = {"image": "015601864.jpg", "center": [594.0, 257.0], "scale": 3.021046,
         "joints": [[620.0 + k, 394.0 - k] for k in range(16)], "joints_vis": [1] * 15 + [0]}


def _write(tmp_path, entries, name="valid"):
    path = tmp_path / "annot" / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(entries))
    return str(path)


def test_records_follow_the_reference(tmp_path):
    second = {**ENTRY, "center": [-1, -1], "scale": 2.0}  # -1: the reference does not adjust the centre
    other = {**ENTRY, "image": "000001163.jpg"}
    records = load_mpii_records(_write(tmp_path, [ENTRY, second, other]), "imgs", "valid", 16)
    s = 3.021046 * 1.25
    np.testing.assert_allclose(records[0].center, [593.0, 256.0 + 15 * 3.021046], rtol=1e-6)
    np.testing.assert_allclose(records[0].scale, [s, s], rtol=1e-6)
    np.testing.assert_allclose(records[1].center, [-2.0, -2.0])
    np.testing.assert_allclose(records[1].scale, [2.0, 2.0])
    np.testing.assert_allclose(records[0].keypoints[:, :2], np.array(ENTRY["joints"]) - 1.0)
    np.testing.assert_array_equal(records[0].keypoints[:, 2], ENTRY["joints_vis"])
    assert records[0].image_path == "imgs/015601864.jpg" and records[0].score == 1.0
    assert [r.image_id for r in records] == [1, 1, 2] and [r.ann_id for r in records] == [0, 1, 2]
    assert records[0].area == pytest.approx((s * 200) ** 2, rel=1e-6)


def test_test_sets_have_no_joints(tmp_path):
    entry = {k: v for k, v in ENTRY.items() if k not in ("joints", "joints_vis")}
    records = load_mpii_records(_write(tmp_path, [entry], "test"), "imgs", "test", 16)
    assert not records[0].keypoints.any()


@pytest.mark.parametrize(("entries", "message"), [
    ({"image": "a.jpg"}, "expected a list of"),
    ([{"image": "a.jpg"}], r"entry 0: expected 'image', 'center' and 'scale'"),
    ([{**ENTRY, "joints": ENTRY["joints"][:14]}], r"entry 0: 'joints' \[14, 2\].*expected \[16, 2\]"),
])
def test_bad_files_name_the_file_and_entry(tmp_path, entries, message):
    path = _write(tmp_path, entries)
    with pytest.raises(MpiiFormatError, match=f"{path}: .*{message}" if "entry" in message else message):
        load_mpii_records(path, "imgs", "valid", 16)


def test_ground_truth_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    gt = MpiiGroundTruth(rng.uniform(0, 300, (5, 16, 2)), rng.random((5, 16)) > 0.2,
                         rng.uniform(0, 50, (5, 2, 2)))
    path = str(tmp_path / "gt_valid.mat")
    save_mpii_ground_truth(path, gt)
    back = load_mpii_ground_truth(path)
    np.testing.assert_allclose(back.keypoints, gt.keypoints)
    np.testing.assert_array_equal(back.visible, gt.visible)
    np.testing.assert_allclose(back.head_boxes, gt.head_boxes)
    assert len(back) == 5 and back.source == path and len(MPII_GT_JOINTS) == 16
    with pytest.raises(MpiiFormatError, match=r"MPII ground truth not found: expected .*gt_nope\.mat"):
        load_mpii_ground_truth(str(tmp_path / "gt_nope.mat"))


def test_ground_truth_in_another_joint_order_is_reordered(tmp_path):
    order = list(reversed(MPII_GT_JOINTS))
    names = np.empty((1, 16), dtype=object)
    names[0, :] = [np.array([j]) for j in order]
    pos = np.arange(16 * 2, dtype=np.float64).reshape(16, 2, 1) + 1.0  # joint k (file order) at (2k+1, 2k+2)
    mat = {"dataset_joints": names, "pos_gt_src": pos, "jnt_missing": np.zeros((16, 1)),
           "headboxes_src": np.ones((2, 2, 1))}
    scipy.io.savemat(tmp_path / "gt.mat", mat)
    gt = load_mpii_ground_truth(str(tmp_path / "gt.mat"))
    assert gt.keypoints[0, 0].tolist() == [30.0, 31.0]  # 'rank' was the file's last joint


def test_paths():
    assert mpii_paths("data/mpii", "train") == ("data/mpii/annot/train.json", "data/mpii/images")
    assert mpii_gt_file("data/mpii/annot/valid.json", "valid") == "data/mpii/annot/gt_valid.mat"


def test_mpii_format_by_config(sample_variant_root, variant_cfg, make_dataset):
    root = sample_variant_root("mpii")
    cfg = variant_cfg("mpii", root)
    train, val = make_dataset(cfg, is_train=True), make_dataset(cfg, is_train=False)
    entries = json.loads((root / "annot" / "valid.json").read_text())
    assert len(val) == len(entries) and len(train) > 0
    item = val[0]
    assert item["heatmaps"].shape == (16, 32, 24) and item["target_weight"].shape == (16, 1)
    np.testing.assert_allclose(item["meta"]["joints"][:, :2], np.array(entries[0]["joints"]) - 1.0, atol=1e-4)
    assert len(load_mpii_ground_truth(str(root / "annot" / "gt_valid.mat"))) == len(entries)
