import json

import numpy as np
import pytest

from hrpose.datasets.keypoints import COCO_KEYPOINTS, KeypointSet
from hrpose.evaluation import STAT_NAMES, PosePredictions, evaluate_coco, run_cocoeval
from hrpose.evaluation.coco_eval import load_ground_truth

PERFECT = dict.fromkeys(STAT_NAMES, 1.0)
# mmpose tests/test_evaluation/test_metrics/test_coco_metric.py on the same 14-annotation COCO val2017 file
# (xtcocotools COCOeval, score_mode bbox_keypoint, keypoint_score_thr 0.2, nms_thr 0.9).
GOLDEN_ALIGNMENT = (0.528746, 0.904290, 0.500990, 0.424752, 0.621955,
                    0.583333, 0.916667, 0.583333, 0.44, 0.685714)
GOLDEN_SOFT_NMS = (0.170737, 0.250550, 0.106711, 0.0, 0.293152,
                   0.241667, 0.333333, 0.166667, 0.0, 0.414286)


def _evaluate(preds, ann_file, tmp_path, kset=COCO_KEYPOINTS, soft=False, **kw):
    return evaluate_coco(preds, kset, ann_file, tmp_path / "results.json", in_vis_thre=0.2, oks_thre=0.9,
                         soft_nms=soft, **kw)


def test_gt_fed_back_gives_perfect_scores(make_gt, write_json, gt_as_predictions, tmp_path):
    gt = make_gt(num_images=3, persons_per_image=2)
    ann_file = write_json(gt, tmp_path / "gt.json")
    stats = _evaluate(gt_as_predictions(gt), ann_file, tmp_path)
    assert list(stats) == list(STAT_NAMES)
    for name in ("AP", "AP .5", "AP .75", "AR", "AR .5", "AR .75"):
        assert stats[name] == pytest.approx(1.0), name
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results) == 6 and set(results[0]) == {"image_id", "category_id", "keypoints", "score",
                                                       "center", "scale"}
    assert len(results[0]["keypoints"]) == 51 and results[0]["category_id"] == 1


def test_custom_keypoint_set_uses_its_own_sigmas(make_gt, write_json, gt_as_predictions, tmp_path):
    kset = KeypointSet(name="five", names=tuple("abcde"), flip_pairs=((1, 2),), sigmas=(0.05,) * 5,
                       joint_weights=(1.0,) * 5, upper_body_ids=(0, 1, 2))
    gt = make_gt(num_images=2, persons_per_image=2, num_keypoints=5, seed=1)
    ann_file = write_json(gt, tmp_path / "gt.json")
    perfect = _evaluate(gt_as_predictions(gt), ann_file, tmp_path, kset=kset)
    assert perfect["AP"] == pytest.approx(1.0) and perfect["AR"] == pytest.approx(1.0)
    # A 3 px error is a miss at OKS .95 for sigma 0.05 on these small persons, and scored as such.
    shifted = gt_as_predictions(gt)
    moved = shifted.keypoints.copy()
    moved[..., 0] += 3.0
    preds = PosePredictions(shifted.image_ids, moved, shifted.box_scores, shifted.areas, shifted.centers,
                            shifted.scales)
    assert _evaluate(preds, ann_file, tmp_path, kset=kset)["AP"] < 1.0


def test_errors_are_clear(make_gt, write_json, gt_as_predictions, tmp_path):
    gt = make_gt(num_images=1)
    ann_file = write_json(gt, tmp_path / "gt.json")
    with pytest.raises(ValueError, match="no predictions"):
        _evaluate(PosePredictions.empty(17), ann_file, tmp_path)
    with pytest.raises(ValueError, match="EVAL_BACKEND"):
        _evaluate(gt_as_predictions(gt), ann_file, tmp_path, backend="nope")
    stray = gt_as_predictions(gt)
    stray = PosePredictions(stray.image_ids + 1, stray.keypoints, stray.box_scores, stray.areas,
                            stray.centers, stray.scales)
    with pytest.raises(ValueError, match="not in the annotation file"):
        _evaluate(stray, ann_file, tmp_path)


def test_faster_coco_eval_backend_matches_or_explains(make_gt, write_json, gt_as_predictions, tmp_path):
    gt = make_gt(num_images=2)
    ann_file = write_json(gt, tmp_path / "gt.json")
    preds = gt_as_predictions(gt)
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install faster-coco-eval"):
            _evaluate(preds, ann_file, tmp_path, backend="faster_coco_eval")
        return
    fast = _evaluate(preds, ann_file, tmp_path, backend="faster_coco_eval")
    assert fast == pytest.approx(_evaluate(preds, ann_file, tmp_path), abs=1e-12)


def _sample_predictions(coco_sample_root, make_rows):
    ann_file = coco_sample_root / "annotations" / "person_keypoints_val2017.json"
    anns = json.loads(ann_file.read_text())["annotations"]
    rows = [row for i, ann in enumerate(anns) for row in make_rows(i, ann)]
    image_ids, keypoints, box_scores, areas = (np.array(col) for col in zip(*rows, strict=True))
    n = len(rows)
    preds = PosePredictions(image_ids, keypoints, box_scores, areas, np.zeros((n, 2)), np.ones((n, 2)))
    return ann_file, preds


def _scaled(ann, fx, fy, fs):
    kp = np.array(ann["keypoints"], dtype=np.float32).reshape(-1, 3)
    kp[:, 0] *= fx
    kp[:, 1] *= fy
    kp[:, 2] *= fs
    return kp


def _padded_area(ann):
    return ann["bbox"][2] * 1.25 * ann["bbox"][3] * 1.25


def test_real_sample_gt_fed_back(coco_sample_root, tmp_path):
    ann_file, preds = _sample_predictions(
        coco_sample_root, lambda i, a: [(a["image_id"], _scaled(a, 1, 1, 1), 1.0, _padded_area(a))])
    assert _evaluate(preds, ann_file, tmp_path) == pytest.approx(PERFECT)


def test_real_sample_mmpose_golden_alignment(coco_sample_root, tmp_path):
    ann_file, preds = _sample_predictions(
        coco_sample_root, lambda i, a: [(a["image_id"], _scaled(a, 0.98, 1.02, 0.8), 0.98, _padded_area(a))])
    stats = _evaluate(preds, ann_file, tmp_path)
    assert [stats[k] for k in STAT_NAMES] == pytest.approx(GOLDEN_ALIGNMENT, abs=1e-4)


def test_real_sample_mmpose_golden_soft_nms(coco_sample_root, tmp_path):
    def rows(i, a):
        return [(a["image_id"], _scaled(a, 1 - i / 100, 1 + i / 100, 1 - i / 100), 1.0, _padded_area(a)),
                (a["image_id"], _scaled(a, 1 + i / 100, 1 - i / 100, 1 - 2 * i / 100),
                 np.float32(1 - 2 * i / 100), _padded_area(a))]

    ann_file, preds = _sample_predictions(coco_sample_root, rows)
    stats = _evaluate(preds, ann_file, tmp_path, soft=True)
    assert [stats[k] for k in STAT_NAMES] == pytest.approx(GOLDEN_SOFT_NMS, abs=1e-4)


def test_gt_json_without_annotations_gives_results_only(make_gt, write_json, gt_as_predictions, tmp_path):
    """test-dev: the image-info json (no annotations) as the annotation file writes the results json only."""
    gt = make_gt(num_images=2)
    info_file = write_json({k: v for k, v in gt.items() if k != "annotations"}, tmp_path / "image_info.json")
    assert load_ground_truth(info_file) is None
    assert _evaluate(gt_as_predictions(gt), info_file, tmp_path) == {}
    assert len(json.loads((tmp_path / "results.json").read_text())) == 4
    with pytest.raises(ValueError, match=r"image_info\.json: the annotation file has no annotations"):
        run_cocoeval(info_file, [])


@pytest.mark.parametrize("absent", [("area",), ("iscrowd",), ("num_keypoints",),
                                    ("area", "iscrowd", "num_keypoints")])
def test_gt_without_area_iscrowd_num_keypoints(make_gt, write_json, gt_as_predictions, tmp_path, absent):
    """The issue: CrowdPose / AI Challenger / PoseTrack18 jsons crashed pycocotools (KeyError 'area', then
    'iscrowd'). They are filled as their toolkits treat them: area = box w x h, iscrowd 0, num_keypoints =
    labelled joints; the result equals that of a json that states them so."""
    gt = make_gt(num_images=3, persons_per_image=2)
    stated = json.loads(json.dumps(gt))
    for ann in stated["annotations"]:
        if "area" in absent:
            ann["area"] = ann["bbox"][2] * ann["bbox"][3]
    preds = gt_as_predictions(gt, keypoint_score=0.8)
    moved = preds.keypoints.copy()
    moved[..., :2] += np.random.default_rng(0).normal(0, 2.0, moved[..., :2].shape)
    preds = PosePredictions(preds.image_ids, moved, preds.box_scores, preds.areas, preds.centers,
                            preds.scales)
    for ann in gt["annotations"]:
        for key in absent:
            del ann[key]
    lacking = _evaluate(preds, write_json(gt, tmp_path / "lacking.json"), tmp_path)
    assert lacking == _evaluate(preds, write_json(stated, tmp_path / "stated.json"), tmp_path)
    assert 0.2 < lacking["AP"] < 1.0
    assert load_ground_truth(tmp_path / "lacking.json").loadAnns(1)[0]["iscrowd"] == 0
