"""COCO-WholeBody AP per part and whole-body: agreement with the official evaluation on a fixture with
persons with and without each part labelled, 1.0 for the ground truth fed back, the json's part fields
read through the keypoint set.

How the pinned numbers were checked: ``wholebody_fixture()`` written to two json files (the GT in the
COCO-WholeBody layout; the results split into ``keypoints`` / ``foot_kpts`` / ``face_kpts`` /
``lefthand_kpts`` / ``righthand_kpts`` + ``score``, as mmpose's CocoWholeBodyMetric writes them) and
scored by xtcocotools 1.14.3 (CPython 3.11 wheel with numpy 1.26.4 in a scratch virtual environment) as
mmpose does: ``gt = COCO(gt.json); dt = gt.loadRes(results.json)``, then for each iouType
``keypoints_body`` / ``_foot`` / ``_face`` / ``_lefthand`` / ``_righthand`` (that part's sigmas) and
``keypoints_wholebody`` (all 133) ``COCOeval(gt, dt, iou_type, sigmas, use_area=True)``,
``params.useSegm = None``, evaluate / accumulate / summarize; its ``stats`` are ``OFFICIAL`` below.
"""

import json
import pathlib

import numpy as np
import pytest

from hrpose.datasets.coco_json import CocoFormatError
from hrpose.datasets.keypoints import builtin_keypoint_set
from hrpose.evaluation import WHOLEBODY_STAT_NAMES, PosePredictions, evaluate_coco, wholebody_eval
from hrpose.evaluation.coco_eval import load_ground_truth, load_oks_ground_truth
from hrpose.evaluation.table import STAT_NAMES
from hrpose.evaluation.wholebody_eval import part_ground_truth, part_results, wholebody_part_stats

WHOLEBODY = builtin_keypoint_set("coco_wholebody")
FIELDS = {"b": ("keypoints", 17), "f": ("foot_kpts", 6), "c": ("face_kpts", 68),
          "l": ("lefthand_kpts", 21), "r": ("righthand_kpts", 21)}
# image id -> persons (labelled parts: b body, f foot, c face, l / r left / right hand; height in px; how
# the prediction misses). '' = a person with nothing labelled; 'lr' has hands but no body (ignored by the
# body AP only); height 40 is below the medium area range
PERSONS = {1: [("bfclr", 260, "exact"), ("b", 120, "small")],
           2: [("bc", 200, "medium"), ("lr", 150, "small"), ("", 90, "small")],
           3: [("bfc", 40, "small"), ("bflr", 300, "large")],
           4: [("bfclr", 180, "miss"), ("bcl", 220, "medium")],
           5: [("bfcr", 160, "large"), ("bc", 110, "zero face")]}
NOISE = {"exact": 0.0, "small": 0.004, "medium": 0.012, "large": 0.03, "zero face": 0.004}  # x height
OFFICIAL = {  # xtcocotools' stats per iouType (see the module docstring), STAT_NAMES order
    "body": [0.591947194719472, 0.7049504950495048, 0.7049504950495048, 0.8653465346534653,
             0.5257425742574258, 0.788888888888889, 0.8888888888888888, 0.8888888888888888,
             0.8666666666666666, 0.7],
    "foot": [0.484983498349835, 0.5346534653465347, 0.5346534653465347, 0.7999999999999999,
             0.5102310231023102, 0.74, 0.8, 0.8, 0.8, 0.6333333333333333],
    "face": [0.11023102310231023, 0.3828382838283828, 0.0957095709570957, 0.0, 0.11435643564356436,
             0.2857142857142857, 0.5714285714285714, 0.2857142857142857, 0.0, 0.3],
    "left_hand": [0.26864686468646864, 0.30198019801980197, 0.30198019801980197, 0.9999999999999998,
                  0.21485148514851485, 0.56, 0.6, 0.6, 1.0, 0.45],
    "right_hand": [0.20379537953795376, 0.3894389438943894, 0.18316831683168316, 0.5049504950495048,
                   0.1564356435643564, 0.42000000000000004, 0.6, 0.4, 0.5, 0.3666666666666667],
    "wholebody": [0.36415841584158415, 0.6415841584158416, 0.2524752475247525, 0.7108910891089109,
                  0.23366336633663368, 0.58, 0.8, 0.5, 0.725, 0.4000000000000001],
}


def _person(rng, parts: str, height: float, x: float) -> tuple[dict, np.ndarray]:
    """A GT annotation in the COCO-WholeBody layout and its 133 keypoints [133, 3]."""
    w = height * rng.uniform(0.35, 0.5)
    y = rng.uniform(0, 400 - height)
    kpts = np.zeros((133, 3))
    ann = {"bbox": [round(x, 2), round(y, 2), round(w, 2), round(height, 2)],
           "area": round(0.7 * w * height, 2), "iscrowd": 0, "category_id": 1}
    start = 0
    for key, (field, size) in FIELDS.items():
        part = np.zeros((size, 3))
        if key in parts:
            part[:, 0] = x + rng.uniform(0, w, size)
            part[:, 1] = y + rng.uniform(0, height, size)
            part[:, 2] = np.where(rng.random(size) < 0.2, 1, 2)
            part[rng.random(size) < 0.1] = 0  # a few unlabelled points inside a labelled part
        ann[field] = part.round(2).ravel().tolist()
        kpts[start:start + size] = part.round(2)
        start += size
    ann["num_keypoints"] = int((kpts[:17, 2] > 0).sum())
    for key, name in (("f", "foot"), ("c", "face"), ("l", "lefthand"), ("r", "righthand")):
        ann[f"{name}_valid"] = key in parts
        if name != "foot":
            ann[f"{name}_box"] = [0.0, 0.0, 0.0, 0.0]
    return ann, kpts


def wholebody_fixture() -> tuple[dict, list[dict]]:
    """A COCO-WholeBody GT dict and hrpose results (133 keypoints each in ``keypoints``) for it: every
    labelled person predicted with Gaussian noise of ``NOISE`` x its height (image 4 misses one person and
    has a false positive; in image 5 one prediction has zero face scores), plus a crowd region."""
    rng = np.random.default_rng(133)
    images, annotations, results = [], [], []
    for image_id, persons in PERSONS.items():
        images.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": 640, "height": 480})
        for p, (parts, height, miss) in enumerate(persons):
            ann, kpts = _person(rng, parts, height, 200 * p + rng.uniform(0, 40))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **ann})
            if miss == "miss" or not parts:
                continue
            guess = kpts.copy()
            unlabelled = kpts[:, 2] == 0
            box = ann["bbox"]
            guess[unlabelled, 0] = box[0] + rng.uniform(0, box[2], unlabelled.sum())
            guess[unlabelled, 1] = box[1] + rng.uniform(0, box[3], unlabelled.sum())
            guess[:, :2] += rng.normal(0, NOISE[miss] * height + 1e-9, (133, 2))
            guess[:, 2] = rng.uniform(0.1, 1.0, 133)
            if miss == "zero face":
                guess[23:91, 2] = 0.0
            score = round(float(rng.uniform(0.3, 1)), 4)
            results.append({"image_id": image_id, "category_id": 1, "score": score,
                            "keypoints": guess.round(3).ravel().tolist()})
    fp = next(r for r in results if r["image_id"] == 4)  # shifted: a false positive with a high score
    results.append({**fp, "score": 0.97, "keypoints": (np.array(fp["keypoints"]) + 60).round(3).tolist()})
    # a false positive in image 3 whose body is a 20 px cluster (a small area) and whose other parts are
    # spread over 150 x 300 px: the area ranges see the body's extent for every part
    spread = np.column_stack([rng.uniform(450, 600, 133), rng.uniform(50, 350, 133), np.full(133, 0.8)])
    spread[:17, :2] = rng.uniform(0, 20, (17, 2)) + (520, 200)
    results.append({"image_id": 3, "category_id": 1, "score": 0.9,
                    "keypoints": spread.round(3).ravel().tolist()})
    crowd, _ = _person(rng, "", 200, 420)
    annotations.append({**crowd, "id": len(annotations) + 1, "image_id": 5, "iscrowd": 1})
    categories = [{"id": 1, "name": "person", "supercategory": "person",
                   "keypoints": list(WHOLEBODY.names[:17]), "skeleton": []}]
    return {"images": images, "annotations": annotations, "categories": categories}, results


@pytest.fixture
def gt_file(tmp_path, write_json):
    """The fixture's ground truth as a json file in the COCO-WholeBody layout."""
    return pathlib.Path(write_json(wholebody_fixture()[0], tmp_path / "coco_wholebody_val_v1.0.json"))


def test_agrees_with_the_official_evaluation(gt_file):
    _, results = wholebody_fixture()
    stats = wholebody_part_stats(load_ground_truth(gt_file, json_parts=WHOLEBODY.parts), results, WHOLEBODY)
    assert list(stats) == [*OFFICIAL]
    for part, expected in OFFICIAL.items():
        assert list(stats[part].values()) == pytest.approx(expected, abs=1e-9), part


def test_the_official_rules_matter(gt_file):
    """What differs from COCOeval on a slice of the merged keypoints; without each, numbers change."""
    _, results = wholebody_fixture()
    gt = load_ground_truth(gt_file, json_parts=WHOLEBODY.parts)
    slices = WHOLEBODY.part_slices
    # a person is ignored per part by ITS labelled keypoints: the hands-only person counts for the hands
    hands_only = 4  # annotation id
    assert part_ground_truth(gt, slices["body"]).loadAnns(hands_only)[0]["num_keypoints"] == 0
    assert part_ground_truth(gt, slices["left_hand"]).loadAnns(hands_only)[0]["num_keypoints"] > 0
    # a prediction's area is its body's extent, whatever part is scored (the small-bodied false positive)
    spread = part_results(gt, results, slices["right_hand"], slices["body"]).loadAnns(len(results))[0]
    assert spread["area"] < 20 * 20 and len(spread["keypoints"]) == 3 * 21
    # a prediction without a positive score in the part is dropped: image 5's zero-face prediction
    face = part_results(gt, results, slices["face"], slices["body"])
    assert len(face.getAnnIds()) == len(results) - 1
    kept = [{**r, "keypoints": [v if i % 3 != 2 else max(v, 1e-9) for i, v in enumerate(r["keypoints"])]}
            for r in results]
    stats = wholebody_part_stats(gt, kept, WHOLEBODY)
    assert stats["face"]["AP"] != pytest.approx(OFFICIAL["face"][0], abs=1e-3)
    assert stats["body"]["AP"] == pytest.approx(OFFICIAL["body"][0], abs=1e-12)


def _merged_gt_as_records(gt) -> list[dict]:
    """The merged GT persons with a labelled keypoint as COCO results (unlabelled keypoints: score 0)."""
    records = []
    for ann in gt.dataset["annotations"]:
        kpts = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        if ann["iscrowd"] or not (kpts[:, 2] > 0).any():
            continue
        kpts[:, 2] = np.where(kpts[:, 2] > 0, 0.9, 0.0)
        records.append({"image_id": ann["image_id"], "category_id": 1, "score": 1.0,
                        "keypoints": kpts.ravel().tolist()})
    return records


def test_ground_truth_fed_back_scores_one_for_every_labelled_part(gt_file, tmp_path):
    gt = load_ground_truth(gt_file, json_parts=WHOLEBODY.parts)
    stats = wholebody_eval(gt, _merged_gt_as_records(gt), WHOLEBODY)
    assert tuple(stats) == WHOLEBODY_STAT_NAMES
    main = [name for name in WHOLEBODY_STAT_NAMES if name.endswith(("AP", "AR"))]  # all areas, OKS .5:.95
    assert len(main) == 12 and all(stats[name] == pytest.approx(1.0) for name in main)
    assert all(v == pytest.approx(1.0) or v == -1.0 for v in stats.values())  # -1: no person in that range
    # a part nobody has labelled scores -1, as COCOeval for an absent category
    data, _ = wholebody_fixture()
    for ann in data["annotations"]:
        ann["righthand_kpts"] = [0.0] * 63
    (tmp_path / "no_right_hands.json").write_text(json.dumps(data))
    gt = load_ground_truth(tmp_path / "no_right_hands.json", json_parts=WHOLEBODY.parts)
    stats = wholebody_eval(gt, _merged_gt_as_records(gt), WHOLEBODY)
    assert stats["right hand AP"] == stats["right hand AR"] == -1.0
    assert stats["left hand AP"] == pytest.approx(1.0)


def test_through_evaluate_coco_and_clear_errors(gt_file, tmp_path):
    gt = load_ground_truth(gt_file, json_parts=WHOLEBODY.parts)
    records = _merged_gt_as_records(gt)
    kpts = np.array([r["keypoints"] for r in records]).reshape(len(records), 133, 3)
    boxes = np.array([[*k[k[:, 2] > 0, :2].min(0), *np.ptp(k[k[:, 2] > 0, :2], 0)] for k in kpts])
    predictions = PosePredictions(image_ids=np.array([r["image_id"] for r in records]), keypoints=kpts,
                                  box_scores=np.ones(len(records)), areas=boxes[:, 2] * boxes[:, 3],
                                  centers=boxes[:, :2] + boxes[:, 2:] / 2, scales=boxes[:, 2:] / 200)
    stats = evaluate_coco(predictions, WHOLEBODY, str(gt_file), tmp_path / "r.json", in_vis_thre=0.2,
                          oks_thre=0.9, soft_nms=False, metric="wholebody")
    assert tuple(stats) == WHOLEBODY_STAT_NAMES and stats["AP"] == pytest.approx(1.0)
    coco = evaluate_coco(predictions, WHOLEBODY, str(gt_file), tmp_path / "r.json", in_vis_thre=0.2,
                         oks_thre=0.9, soft_nms=False, metric="coco")  # plain COCOeval on all 133
    assert tuple(coco) == STAT_NAMES and coco["AP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="keypoint set 'coco' has none: use TEST.METRIC coco"):
        load_oks_ground_truth(gt_file, "wholebody", keypoint_set=builtin_keypoint_set("coco"))
    data, _ = wholebody_fixture()
    data["annotations"][3]["face_kpts"] = [0.0] * 60
    (tmp_path / "short.json").write_text(json.dumps(data))
    with pytest.raises(CocoFormatError, match=r"short\.json: annotation id 4 has 60 values in 'face_kpts'; "
                                              r"expected 204 \(the face part's 68 keypoints x 3\)"):
        load_ground_truth(tmp_path / "short.json", json_parts=WHOLEBODY.parts)
