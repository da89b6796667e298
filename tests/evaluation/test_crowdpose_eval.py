"""CrowdPose AP / AP (E/M/H): 1.0 for the ground truth fed back, and agreement with the official
definition on a fixture with persons in every crowd bucket (boundary crowd indices included).

How the pinned numbers were checked: ``crowdpose_fixture()`` written to two json files and scored by
xtcocotools 1.14.3 (the maintained port of crowdposetools; CPython 3.11 wheel with numpy 1.26 in a scratch
virtual environment: it installs on neither 3.12+ nor numpy 2) as
``COCOeval(gt, dt, 'keypoints_crowd', sigmas=CROWDPOSE_SIGMAS, use_area=False)``, evaluate / accumulate /
summarize; its ``stats`` are ``OFFICIAL`` below.
"""

import copy
import json

import numpy as np
import pytest

from hrpose.datasets.keypoints import builtin_keypoint_set
from hrpose.evaluation import CROWDPOSE_STAT_NAMES, crowdpose_eval, evaluate_coco
from hrpose.evaluation.coco_eval import cocoeval, load_crowdpose_ground_truth, load_ground_truth
from hrpose.evaluation.crowdpose_eval import crowd_index_splits

CROWDPOSE = builtin_keypoint_set("crowdpose")
# image id -> (crowd index, persons, how the predictions miss): 0.15 is easy for the toolkit (< 0.2) but
# medium by the paper's text (0.1); 0.2 and 0.8 sit on the toolkit's edges
IMAGES = {1: (0.05, 2, "exact"), 2: (0.15, 2, "small"), 3: (0.2, 1, "small"), 4: (0.79, 3, "medium"),
          5: (0.8, 2, "large"), 6: (0.97, 3, "miss")}
NOISE = {"exact": 0.0, "small": 0.02, "medium": 0.05, "large": 0.08, "miss": 0.05}  # x box height
OFFICIAL = {"AP": 0.314576018, "AP .5": 0.5041888804, "AP .75": 0.3271480994, "AR": 0.5153846154,
            "AR .5": 0.6923076923, "AR .75": 0.5384615385,
            "AP (E)": 0.9691, "AP (M)": 0.6458, "AP (H)": 0.0052}


def crowdpose_fixture() -> tuple[dict, list[dict]]:
    """A CrowdPose-style GT (14 keypoints, crowdIndex, no 'area') and COCO results for it: per image, every
    person predicted with Gaussian noise of ``NOISE`` x its box height (image 6 misses one person and has
    a false positive), plus an unlabelled person (ignored) in image 4."""
    rng = np.random.default_rng(12)
    images, annotations, results = [], [], []
    for image_id, (index, persons, miss) in IMAGES.items():
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": 640, "height": 480,
                       "crowdIndex": index})
        for p in range(persons):
            w, h = rng.uniform(40, 160), rng.uniform(90, 300)
            x, y = 150 * p + rng.uniform(0, 40), rng.uniform(0, 150)
            kpts = np.column_stack([x + rng.uniform(0, w, 14), y + rng.uniform(0, h, 14), np.full(14, 2.0)])
            kpts[rng.random(14) < 0.15] = 0
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                                "iscrowd": 0, "bbox": [round(v, 2) for v in (x, y, w, h)],
                                "num_keypoints": int((kpts[:, 2] > 0).sum()),
                                "keypoints": kpts.round(2).ravel().tolist()})
            if miss == "miss" and p == 0:
                continue
            guess = kpts[:, :2] + rng.normal(0, NOISE[miss] * h, (14, 2))
            score = round(float(rng.uniform(0.3, 1)), 4)
            guess = np.column_stack([guess, np.full(14, 0.9)]).round(2).ravel().tolist()
            results.append({"image_id": image_id, "category_id": 1, "score": score, "keypoints": guess})
    unlabelled = {"id": 99, "image_id": 4, "num_keypoints": 0, "keypoints": [0] * 42}
    annotations.append({**annotations[-4], **unlabelled})
    shifted = (np.array(results[-1]["keypoints"]) + 90).tolist()  # a false positive, scored high
    results.append({**results[-1], "score": 0.95, "keypoints": shifted})
    categories = [{"id": 1, "name": "person", "keypoints": list(CROWDPOSE.names), "skeleton": []}]
    return {"images": images, "annotations": annotations, "categories": categories}, results


@pytest.fixture
def gt_file(tmp_path):
    gt, _ = crowdpose_fixture()
    path = tmp_path / "crowdpose_test.json"
    path.write_text(json.dumps(gt))
    return path


def test_agrees_with_the_official_toolkit(gt_file):
    _, results = crowdpose_fixture()
    stats = crowdpose_eval(load_crowdpose_ground_truth(gt_file), results, CROWDPOSE.sigmas)
    assert list(stats) == list(CROWDPOSE_STAT_NAMES)
    assert stats == pytest.approx(OFFICIAL, abs=1e-9)


def test_the_official_rules_matter(gt_file):
    """The three differences from plain COCOeval: without them the numbers differ."""
    _, results = crowdpose_fixture()
    gt = load_crowdpose_ground_truth(gt_file)
    assert [len(s) for s in crowd_index_splits(gt)] == [2, 2, 2]  # 0.15 easy, 0.2 medium, 0.8 hard
    assert [len(s) for s in crowd_index_splits(gt, (0.1, 0.8))] == [1, 3, 2]  # the paper's text
    for ann in gt.dataset["annotations"]:  # OKS scale and area ranges: 0.53 x box area
        assert ann["area"] == pytest.approx(0.53 * ann["bbox"][2] * ann["bbox"][3])
    plain = cocoeval(load_ground_truth(gt_file), results, CROWDPOSE.sigmas)  # area = w x h
    assert plain["AP"] != pytest.approx(OFFICIAL["AP"], abs=1e-3)


def test_ground_truth_fed_back_scores_one_in_every_bucket(gt_file):
    gt, _ = crowdpose_fixture()
    records = [{"image_id": a["image_id"], "category_id": 1, "score": 1.0, "keypoints": a["keypoints"]}
               for a in gt["annotations"] if a["num_keypoints"]]
    stats = crowdpose_eval(load_crowdpose_ground_truth(gt_file), records, CROWDPOSE.sigmas)
    assert stats == pytest.approx(dict.fromkeys(CROWDPOSE_STAT_NAMES, 1.0))


def test_through_evaluate_coco_and_clear_errors(gt_file, gt_as_predictions, tmp_path):
    gt, _ = crowdpose_fixture()
    for ann in gt["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]  # needed by the fixture's helper only
    stats = evaluate_coco(gt_as_predictions(gt), CROWDPOSE, str(gt_file), tmp_path / "r.json",
                          in_vis_thre=0.2, oks_thre=0.9, soft_nms=False, metric="crowdpose")
    assert stats == pytest.approx(dict.fromkeys(CROWDPOSE_STAT_NAMES, 1.0))
    no_index = copy.deepcopy(gt)
    del no_index["images"][2]["crowdIndex"]
    (tmp_path / "plain.json").write_text(json.dumps(no_index))
    with pytest.raises(ValueError, match=r"plain\.json: 1 images have no 'crowdIndex' \(e\.g\. image ids "
                                         r"\[3\]\)"):
        load_crowdpose_ground_truth(tmp_path / "plain.json")
