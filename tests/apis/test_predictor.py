"""Predictor: shapes, coordinates, whole-image mode, channel order, flip test, checkpoint loading."""

import json
import os
import pathlib

import cv2
import numpy as np
import pytest
import torch

from hrpose.apis import Predictor
from hrpose.codecs import build_codec
from hrpose.datasets.keypoints import COCO_KEYPOINTS
from hrpose.engine.options import TestOptions
from hrpose.utils.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def predictor(tiny_cfg, tiny_model) -> Predictor:
    cfg = tiny_cfg()
    return Predictor(tiny_model(cfg), build_codec(cfg), COCO_KEYPOINTS, device="cpu", color_rgb=True)


def test_gt_boxes_give_keypoints_in_image(predictor, sample_image):
    image, boxes, _ = sample_image
    out = predictor.predict(image, boxes)
    assert out.shape == (len(boxes), 17, 3) and out.dtype == np.float32
    h, w = image.shape[:2]
    assert np.isfinite(out).all()
    # Heatmap maxima lie inside the padded crop of each box; the crops of these boxes stay near the image.
    assert (out[..., 0] > -0.5 * w).all() and (out[..., 0] < 1.5 * w).all()
    assert (out[..., 1] > -0.5 * h).all() and (out[..., 1] < 1.5 * h).all()
    for box, person in zip(boxes, out, strict=True):
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        reach = 1.25 * 0.5 * max(box[2] / (64 / 96), box[3]) + 1  # padded crop, aspect of 64x96
        assert np.abs(person[:, 0] - cx).max() <= reach and np.abs(person[:, 1] - cy).max() <= reach


class BrightSpotNet(torch.nn.Module):
    """A stand-in network whose K heatmaps all peak where the crop is brightest (stride 4)."""

    def __init__(self, num_keypoints: int = 17):
        super().__init__()
        self.k = num_keypoints
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, images):
        spot = torch.nn.functional.avg_pool2d(images.mean(1, keepdim=True), 4)
        return (spot - spot.amin(dim=(2, 3), keepdim=True)).expand(-1, self.k, -1, -1) + self.dummy


@pytest.mark.parametrize("flip", [False, True])
def test_keypoints_land_on_the_spot_in_image_pixels(tiny_cfg, flip):
    """Geometry end to end: a bright 4x4 spot in each box must come back at its image position."""
    cfg = tiny_cfg()
    options = TestOptions(flip_test=flip, shift_heatmap=False, post_process=False)
    predictor = Predictor(BrightSpotNet(), build_codec(cfg), COCO_KEYPOINTS, options, device="cpu")
    image = np.zeros((200, 300, 3), np.uint8)
    spots = np.array([[50.0, 80.0], [210.0, 130.0]])
    for x, y in spots:
        image[int(y) - 2:int(y) + 2, int(x) - 2:int(x) + 2] = 255
    boxes = np.array([[20, 30, 80, 120], [160, 60, 100, 130]], dtype=np.float32)
    out = predictor.predict(image, boxes)
    # One heatmap cell is 4 crop px = 4 * 1.25 * box height / 96 image px (~6.3 and ~6.8 here).
    cell = 4 * 1.25 * boxes[:, 3] / 96
    error = np.linalg.norm(out[..., :2] - (spots - 0.5)[:, None, :], axis=2)
    assert (error.max(axis=1) <= cell).all(), error.max(axis=1)
    image[:] = 0  # one larger spot: in the whole-image crop one crop px is ~6 image px
    image[int(spots[0, 1]) - 8:int(spots[0, 1]) + 8, int(spots[0, 0]) - 8:int(spots[0, 0]) + 8] = 255
    whole = predictor.predict(image)[0, :, :2]  # crop: 300 px wide -> 562 px tall padded, 1 cell = 23 px
    assert np.linalg.norm(whole - (spots[0] - 0.5), axis=1).max() <= 4 * 1.25 * 300 / 64


def test_one_forward_for_all_boxes(predictor, sample_image):
    image, boxes, _ = sample_image
    calls = []
    handle = predictor.model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        predictor.predict(image, boxes)
    finally:
        handle.remove()
    assert calls == [2 * len(boxes)]  # crops + mirrored crops, one batch


def test_batches_are_chunked_and_match_single(tiny_cfg, tiny_model, sample_image):
    cfg = tiny_cfg()
    model = tiny_model(cfg)
    image, boxes, _ = sample_image
    codec = build_codec(cfg)
    big, small = (Predictor(model, codec, COCO_KEYPOINTS, TestOptions(batch_size=b), device="cpu")
                  .predict(image, boxes) for b in (64, 1))
    np.testing.assert_allclose(big, small, atol=1e-4)


def test_whole_image_mode(predictor, sample_image):
    image = sample_image[0]
    h, w = image.shape[:2]
    whole = predictor.predict(image)
    assert whole.shape == (1, 17, 3)
    np.testing.assert_allclose(whole, predictor.predict(image, [[0, 0, w, h]]))
    assert predictor.predict(image, np.zeros((0, 4))).shape == (0, 17, 3)


def test_bgr_and_rgb_input_agree(predictor, sample_image):
    image, boxes, _ = sample_image
    bgr = predictor.predict(image, boxes, color="bgr")
    rgb = predictor.predict(np.ascontiguousarray(image[:, :, ::-1]), boxes, color="rgb")
    np.testing.assert_array_equal(bgr, rgb)
    # The model was trained on RGB (COLOR_RGB true): a BGR image declared as RGB is fed differently.
    assert not np.array_equal(bgr, predictor.predict(image, boxes, color="rgb"))
    with pytest.raises(ValueError, match="color"):
        predictor.predict(image, boxes, color="hsv")


def test_flip_on_and_off(tiny_cfg, tiny_model, sample_image):
    cfg = tiny_cfg()
    model = tiny_model(cfg)
    image, boxes, _ = sample_image
    codec = build_codec(cfg)
    outs = [Predictor(model, codec, COCO_KEYPOINTS, TestOptions(flip_test=f), device="cpu")
            .predict(image, boxes) for f in (True, False)]
    assert outs[0].shape == outs[1].shape == (len(boxes), 17, 3)
    assert not np.allclose(outs[0][..., 2], outs[1][..., 2])


def test_input_validation(predictor):
    with pytest.raises(ValueError, match="uint8"):
        predictor.predict(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="boxes"):
        predictor.predict(np.zeros((10, 10, 3), np.uint8), [1, 2, 3, 4])


def test_from_self_describing_checkpoint(tiny_cfg, tiny_model, save_training_checkpoint, tmp_path,
                                         sample_image):
    cfg = tiny_cfg()
    model = tiny_model(cfg, seed=3)
    path = save_training_checkpoint(tmp_path / "best.pth", cfg, model)
    loaded = Predictor.from_checkpoint(path, device="cpu")
    image, boxes, _ = sample_image
    assert loaded.color_rgb and loaded.options.flip_test and loaded.keypoint_set == COCO_KEYPOINTS
    direct = Predictor(model, build_codec(cfg), COCO_KEYPOINTS, device="cpu", color_rgb=True)
    np.testing.assert_array_equal(loaded.predict(image, boxes), direct.predict(image, boxes))
    no_flip = Predictor.from_checkpoint(path, opts=["TEST.FLIP_TEST", "False"], device=torch.device("cpu"))
    assert not no_flip.options.flip_test


def test_from_plain_state_dict_needs_cfg(tiny_cfg, tiny_yaml, tiny_model, save_plain_state_dict, tmp_path,
                                         sample_image):
    cfg = tiny_cfg()
    model = tiny_model(cfg, seed=4)
    path = save_plain_state_dict(tmp_path / "plain.pth", model)
    with pytest.raises(CheckpointError, match="plain state_dict.*--cfg"):
        Predictor.from_checkpoint(path)
    loaded = Predictor.from_checkpoint(path, cfg_path=str(tiny_yaml), device="cpu")
    image, boxes, _ = sample_image
    direct = Predictor(model, build_codec(cfg), COCO_KEYPOINTS, device="cpu", color_rgb=True)
    np.testing.assert_array_equal(loaded.predict(image, boxes), direct.predict(image, boxes))


def test_from_config(tiny_cfg):
    predictor = Predictor.from_config(tiny_cfg(), device="cpu")
    assert predictor.num_keypoints == 17 and predictor.device == torch.device("cpu")


@pytest.mark.skipif(not os.environ.get("HRPOSE_TRAINED_CKPT"),
                    reason="set HRPOSE_TRAINED_CKPT to a checkpoint trained on the synthetic sample data")
def test_trained_checkpoint_is_near_ground_truth(tmp_path):
    from hrpose.datasets import make_sample_dataset

    predictor = Predictor.from_checkpoint(os.environ["HRPOSE_TRAINED_CKPT"], device="cpu")
    root = pathlib.Path(predictor.cfg.DATASET.ROOT)
    if not (root / "annotations" / "person_keypoints_val2017.json").is_file():
        root = tmp_path / "sample"
        make_sample_dataset(str(root), seed=predictor.cfg.SEED)
    data = json.loads((root / "annotations" / "person_keypoints_val2017.json").read_text())
    errors = []
    for info in data["images"][:10]:
        anns = [a for a in data["annotations"] if a["image_id"] == info["id"] and a["num_keypoints"] >= 8
                and not a["iscrowd"]]
        if not anns:
            continue
        image = cv2.imread(str(root / "images" / "val2017" / info["file_name"]))
        out = predictor.predict(image, np.array([a["bbox"] for a in anns]))
        for ann, person in zip(anns, out, strict=True):
            gt = np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
            visible = gt[:, 2] > 0
            size = max(ann["bbox"][2], ann["bbox"][3])
            errors += list(np.linalg.norm(person[visible, :2] - gt[visible, :2], axis=1) / size)
    assert errors, "no labelled persons in the first 10 val images"
    assert np.median(errors) < 0.1, f"median keypoint error {np.median(errors):.3f} of the box size"


def test_predict_batch_shares_batches_and_matches_predict(predictor, sample_image):
    image, boxes, _ = sample_image
    small = np.ascontiguousarray(image[:120, :200])
    calls = []
    handle = predictor.model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        together = predictor.predict_batch([image, small, image], [boxes, np.zeros((0, 4)), boxes[:1]])
    finally:
        handle.remove()
    assert calls == [2 * (len(boxes) + 1)]  # every crop of the three images in one (flipped) batch
    assert [p.shape for p in together] == [(len(boxes), 17, 3), (0, 17, 3), (1, 17, 3)]
    np.testing.assert_allclose(together[0], predictor.predict(image, boxes), atol=1e-4)
    np.testing.assert_allclose(together[2], predictor.predict(image, boxes[:1]), atol=1e-4)
    with pytest.raises(ValueError, match="2 images but 1"):
        predictor.predict_batch([image, image], [boxes])


def test_detector_gives_the_boxes_when_none_are_passed(tiny_cfg, tiny_model, sample_image, fake_detector):
    cfg = tiny_cfg()
    detector = fake_detector()
    with_detector = Predictor(tiny_model(cfg), build_codec(cfg), COCO_KEYPOINTS, device="cpu", color_rgb=True,
                              detector=detector)
    image = sample_image[0]
    boxes = with_detector.person_boxes([image])[0]
    assert boxes.shape == (2, 5) and detector.calls == [1]
    np.testing.assert_array_equal(with_detector.predict(image), with_detector.predict(image, boxes))
    # RGB input: the detector still receives BGR.
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    seen = []
    detector.detect = lambda images: seen.extend(images) or [boxes]
    from_rgb = with_detector.predict(rgb, color="rgb")
    np.testing.assert_array_equal(from_rgb, with_detector.predict(image, boxes))
    np.testing.assert_array_equal(seen[0], image)
