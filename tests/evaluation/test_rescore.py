"""Person rescoring: box score x mean of the keypoint scores above IN_VIS_THRE, as the reference."""

import numpy as np
import pytest

from hrpose.evaluation import rescore


def test_mean_of_confident_keypoints_times_box_score():
    scores = np.array([[0.9, 0.1, 0.5, 0.2], [0.1, 0.2, 0.0, 0.05], [1.0, 1.0, 1.0, 1.0]])
    box = np.array([0.5, 1.0, 0.25])
    out = rescore(scores, box, in_vis_thre=0.2)
    # 0.2 itself does not pass (strictly above), and a person with no passing keypoint scores 0.
    assert out == pytest.approx([(0.9 + 0.5) / 2 * 0.5, 0.0, 0.25])
    assert scores[0, 1] == 0.1 and box.tolist() == [0.5, 1.0, 0.25]  # inputs untouched


def test_threshold_zero_counts_every_positive_score():
    out = rescore(np.array([[0.3, 0.0, 0.6]]), np.array([1.0]), in_vis_thre=0.0)
    assert out == pytest.approx([0.45])


def test_shape_error():
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        rescore(np.zeros(3), np.ones(1), 0.2)


def test_equals_the_reference_loop():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, (50, 17)).round(1)  # ties with the threshold
    box = rng.uniform(0.1, 1, 50)
    expected = []
    for s, b in zip(scores, box, strict=True):
        passing = [v for v in s if v > 0.2]
        expected.append((sum(passing) / len(passing) if passing else 0.0) * b)
    np.testing.assert_allclose(rescore(scores, box, in_vis_thre=0.2), expected, rtol=1e-12)
