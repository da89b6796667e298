"""PosePredictions: dtypes and shapes checked on construction (errors name the field), read-only copies,
select, concat and empty."""

import numpy as np
import pytest

from hrpose.evaluation import PosePredictions


def _predictions(n: int = 3, k: int = 17, offset: int = 0) -> PosePredictions:
    rng = np.random.default_rng(n + offset)
    return PosePredictions(image_ids=np.arange(n) + offset, keypoints=rng.uniform(0, 100, (n, k, 3)),
                           box_scores=np.linspace(0.5, 1.0, n), areas=np.full(n, 400.0),
                           centers=rng.uniform(0, 50, (n, 2)), scales=np.ones((n, 2)))


def test_dtypes_shapes_and_read_only_copies():
    keypoints = np.zeros((2, 5, 3))
    preds = PosePredictions([7, 8], keypoints, [1.0, 0.5], [10.0, 20.0], np.zeros((2, 2)), np.ones((2, 2)))
    assert len(preds) == 2 and preds.num_keypoints == 5
    assert preds.image_ids.dtype == np.int64 and preds.keypoints.dtype == np.float32
    assert preds.box_scores.dtype == preds.areas.dtype == preds.centers.dtype == np.float32
    keypoints[0, 0, 0] = 99.0  # the input is copied, not kept
    assert preds.keypoints[0, 0, 0] == 0.0
    with pytest.raises(ValueError):
        preds.keypoints[0, 0, 0] = 1.0  # read-only


@pytest.mark.parametrize("field, value, message", [
    ("keypoints", np.zeros((2, 17)), r"keypoints must be \[N, K, 3\], got shape \(2, 17\)"),
    ("box_scores", np.zeros(3), r"box_scores must have shape \[2\], got \[3\]"),
    ("centers", np.zeros((2, 3)), r"centers must have shape \[2, 2\], got \[2, 3\]"),
])
def test_shape_errors_name_the_field(field, value, message):
    fields = dict(image_ids=np.zeros(2), keypoints=np.zeros((2, 17, 3)), box_scores=np.zeros(2),
                  areas=np.zeros(2), centers=np.zeros((2, 2)), scales=np.zeros((2, 2)))
    fields[field] = value
    with pytest.raises(ValueError, match=message):
        PosePredictions(**fields)


def test_select_and_concat():
    a, b = _predictions(3), _predictions(2, offset=10)
    both = PosePredictions.concat([a, b])
    assert both.image_ids.tolist() == [0, 1, 2, 10, 11]
    np.testing.assert_array_equal(both.keypoints[3:], b.keypoints)
    picked = both.select(np.array([4, 0]))
    assert picked.image_ids.tolist() == [11, 0]
    np.testing.assert_array_equal(picked.centers[0], b.centers[1])
    assert both.select(both.box_scores > 0.8).image_ids.tolist() == [2, 11]  # scores .5 .75 1, .5 1
    assert len(both.select(slice(1, 3))) == 2


def test_concat_errors_and_empty():
    with pytest.raises(ValueError, match="at least one part"):
        PosePredictions.concat([])
    with pytest.raises(ValueError, match=r"different keypoint counts \[14, 17\]"):
        PosePredictions.concat([_predictions(2), _predictions(2, k=14)])
    empty = PosePredictions.empty(14)
    assert len(empty) == 0 and empty.num_keypoints == 14
    assert len(PosePredictions.concat([empty, _predictions(1, k=14)])) == 1
