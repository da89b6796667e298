"""Mannequins: geometric left/right, placement (height, pelvis, rotation), and drawing on the canvas and
the figure's mask."""

import math

import numpy as np
import pytest

from hrpose.datasets.mannequin import FACE_IDS, draw_mannequin, make_background, sample_mannequin


@pytest.mark.parametrize("facing_camera", [True, False])
def test_left_right_is_geometric(facing_camera):
    fig = sample_mannequin(np.random.default_rng(0), 100.0, (50.0, 100.0), 0.0, facing_camera)
    left_on_image_right = fig.joints[5, 0] > fig.joints[6, 0] and fig.joints[11, 0] > fig.joints[12, 0]
    assert left_on_image_right == facing_camera
    assert fig.labelled[:3].all() == facing_camera and fig.labelled[3:].all()


def test_placement_scales_rotates_and_translates():
    pelvis = np.array([120.0, 90.0])
    upright = sample_mannequin(np.random.default_rng(3), 100.0, pelvis, 0.0, True)
    turned = sample_mannequin(np.random.default_rng(3), 100.0, pelvis, 90.0, True)
    assert upright.joints.shape == (17, 2) and upright.height == 100.0
    np.testing.assert_allclose(upright.joints[[11, 12]].mean(axis=0), pelvis)  # hips centred on the pelvis
    assert upright.joints[[5, 6], 1].max() < pelvis[1] < upright.joints[[15, 16], 1].min()  # head up
    # 90 degrees in the image: the same body, each joint's offset from the pelvis turned by 90 degrees
    a = math.radians(90.0)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    np.testing.assert_allclose(turned.joints - pelvis, (upright.joints - pelvis) @ rot.T, atol=1e-9)
    twice = sample_mannequin(np.random.default_rng(3), 200.0, pelvis, 0.0, True)
    np.testing.assert_allclose(twice.joints - pelvis, 2 * (upright.joints - pelvis), atol=1e-9)


def test_same_generator_state_same_figure():
    a = sample_mannequin(np.random.default_rng(7), 80.0, (50.0, 60.0), 10.0, False)
    b = sample_mannequin(np.random.default_rng(7), 80.0, (50.0, 60.0), 10.0, False)
    np.testing.assert_array_equal(a.joints, b.joints)
    assert a.colors == b.colors and not a.labelled[list(FACE_IDS)].any()


@pytest.mark.parametrize("facing_camera", [True, False])
def test_drawing_paints_canvas_and_mask_in_place(facing_camera):
    canvas = np.zeros((240, 320, 3), np.uint8)
    mask = np.zeros((240, 320), np.uint8)
    figure = sample_mannequin(np.random.default_rng(1), 150.0, (160.0, 130.0), 0.0, facing_camera)
    draw_mannequin(canvas, mask, figure)
    assert set(np.unique(mask)) == {0, 255}
    painted = canvas.any(axis=2)
    assert (painted[mask > 0]).mean() > 0.95  # the mask is the figure's silhouette on the canvas
    inside = [mask[int(round(y)), int(round(x))] > 0 for x, y in figure.joints[figure.labelled]]
    assert all(inside)  # every labelled joint lies on the drawn figure


def test_background_is_deterministic_uint8():
    a = make_background(np.random.default_rng(4), 64, 48)
    b = make_background(np.random.default_rng(4), 64, 48)
    assert a.shape == (48, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert a.std() > 5  # textured, not flat
