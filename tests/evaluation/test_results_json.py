import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from hrpose.datasets.keypoints import COCO_KEYPOINTS
from hrpose.evaluation import evaluate_coco, results_arrays, results_records, write_results_json


def test_test_dev_mode_writes_json_that_coco_load_res_accepts(make_gt, write_json, gt_as_predictions,
                                                              tmp_path, caplog):
    gt = make_gt(num_images=3, persons_per_image=2)
    preds = gt_as_predictions(gt)
    image_info = {k: v for k, v in gt.items() if k != "annotations"}  # like image_info_test-dev2017.json
    info_file = write_json(image_info, tmp_path / "image_info_test.json")
    out = tmp_path / "results" / "keypoints_test-dev2017_results.json"
    with caplog.at_level("INFO"):
        stats = evaluate_coco(preds, COCO_KEYPOINTS, None, out, in_vis_thre=0.2, oks_thre=0.9, soft_nms=False)
    assert stats == {} and out.is_file() and str(out) in caplog.text
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(info_file)
        dt = coco.loadRes(str(out))
    anns = dt.loadAnns(dt.getAnnIds())
    assert len(anns) == len(preds)
    assert {a["image_id"] for a in anns} == {img["id"] for img in gt["images"]}
    assert all(a["category_id"] == 1 and len(a["keypoints"]) == 51 and a["area"] > 0 for a in anns)


def test_json_text_loads_to_exactly_the_records(make_gt, gt_as_predictions, tmp_path):
    preds = gt_as_predictions(make_gt(num_images=2))
    rows = np.array([2, 0, 1])
    scores = np.array([0.9, 1e-7, 1 / 3])
    kp = preds.keypoints[rows].astype(np.float64)
    kp[0, 0, :2] = [-0.0004, -12.3456]  # negative zero after rounding, a negative number
    kp[1, 1, :2] = [123456.78949, 0.0006]
    arrays = results_arrays(preds.image_ids[rows], kp, scores, preds.centers[rows], preds.scales[rows])
    path = write_results_json(arrays, tmp_path / "sub" / "r.json")
    loaded = json.loads(path.read_text())
    records = results_records(arrays)
    assert loaded == records
    assert [r["image_id"] for r in loaded] == preds.image_ids[rows].tolist()
    assert [r["score"] for r in loaded] == scores.tolist()  # person scores in full precision
    assert loaded[0]["keypoints"][:2] == [0.0, -12.346] and loaded[1]["keypoints"][3:5] == [123456.789, 0.001]
    assert np.array(loaded[2]["keypoints"]).reshape(17, 3) == pytest.approx(kp[2], abs=1e-3)
    assert loaded[0]["center"] == pytest.approx(preds.centers[2].tolist(), abs=1e-3)
    assert not list(tmp_path.glob("sub/*.tmp"))


def test_non_finite_values_fall_back_to_the_json_module(tmp_path):
    kp = np.zeros((1, 17, 3))
    kp[0, 0, 0] = np.nan
    arrays = results_arrays([1], kp, [0.5], np.zeros((1, 2)), np.ones((1, 2)))
    text = write_results_json(arrays, tmp_path / "r.json").read_text()
    assert "NaN" in text and json.loads(text)[0]["score"] == 0.5
    empty = results_arrays([], np.zeros((0, 17, 3)), [], np.zeros((0, 2)), np.zeros((0, 2)))
    assert json.loads(write_results_json(empty, tmp_path / "e.json").read_text()) == []
