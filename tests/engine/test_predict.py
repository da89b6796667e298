"""Prediction over an evaluation loader: one forward for the flip test, every box once in dataset order,
shards of all ranks gathered, the oracle, decoding on the device equal to the numpy codec, and the
model preparation of ``TestOptions``."""

import importlib

import numpy as np
import pytest
import torch

from hrpose.codecs import MSRAHeatmap
from hrpose.datasets import COCO_KEYPOINTS
from hrpose.datasets.coco import annotation_file
from hrpose.engine.options import TestOptions
from hrpose.engine.predict import forward_heatmaps, gather_predictions, predict, predict_oracle, prepare_model
from hrpose.evaluation import PosePredictions, evaluate_coco

# the module itself (``hrpose.engine`` may re-export the function under the same name)
predict_module = importlib.import_module("hrpose.engine.predict")
CODEC = MSRAHeatmap((96, 128), (24, 32), 2)
K = 17


class FixedHeatmaps(torch.nn.Module):
    """Ignores the pixels (beyond checking them): every crop gets the same heatmaps; counts forwards."""

    def __init__(self, maps: torch.Tensor):
        super().__init__()
        self.register_buffer("maps", maps)
        self.calls, self.batch_sizes = 0, []

    def forward(self, x):
        assert x.dtype == torch.float32 and x.shape[1:] == (3, 128, 96)
        self.calls += 1
        self.batch_sizes.append(x.shape[0])
        return self.maps.expand(x.shape[0], -1, -1, -1).clone()


def _peaked_maps(seed=0):
    """[K, 32, 24] maps, one Gaussian-ish peak per joint at a random cell, plus a little noise."""
    rng = np.random.default_rng(seed)
    maps = rng.uniform(0, 0.01, (K, 32, 24)).astype(np.float32)
    for k in range(K):
        y, x = rng.integers(3, 29), rng.integers(3, 21)
        maps[k, y - 1:y + 2, x - 1:x + 2] += 0.3
        maps[k, y, x] = 0.9
    return torch.from_numpy(maps)


def _batch(indices, rng):
    n = len(indices)
    return {"image": torch.from_numpy(rng.integers(0, 256, (n, 3, 128, 96), dtype=np.uint8)),
            "meta": {"index": torch.tensor(indices),
                     "image_id": torch.tensor([100 + i // 2 for i in indices]),
                     "center": torch.tensor([[50.0 + i, 80.0] for i in indices]),
                     "scale": torch.full((n, 2), 0.6), "score": torch.full((n,), 0.9, dtype=torch.float64)}}


def test_flip_test_runs_one_forward_and_averages_flipped_back_maps():
    maps = _peaked_maps()
    model = FixedHeatmaps(maps[None])
    images = torch.zeros(4, 3, 128, 96, dtype=torch.uint8)
    flip_index = COCO_KEYPOINTS.flip_index
    for shift in (False, True):
        model.calls = 0
        options = TestOptions(shift_heatmap=shift)
        out = forward_heatmaps(model, images, torch.device("cpu"), flip_index, options)
        assert model.calls == 1 and model.batch_sizes[-1] == 8  # original + mirrored in one batch
        back = maps.flip(-1)[torch.as_tensor(flip_index)]  # mirror, then swap left/right channels
        if shift:
            back[..., 1:] = back[..., :-1].clone()  # column 0 keeps its value (reference)
        assert torch.allclose(out, ((maps + back) / 2).expand(4, -1, -1, -1))
    plain = forward_heatmaps(model, images, torch.device("cpu"), None, TestOptions(shift_heatmap=False))
    assert torch.equal(plain, maps.expand(4, -1, -1, -1))


def test_predict_every_box_once_in_dataset_order():
    rng = np.random.default_rng(0)
    loader = [_batch([4, 0, 5], rng), _batch([2, 1], rng), _batch([3, 5], rng)]  # 5 repeated
    model = FixedHeatmaps(_peaked_maps()[None]).train()
    options = TestOptions(flip_test=True, shift_heatmap=True, decode="standard")
    preds = predict(model, loader, torch.device("cpu"), CODEC, COCO_KEYPOINTS, options)
    assert model.training  # mode restored
    assert len(preds) == 6 and preds.image_ids.tolist() == [100, 100, 101, 101, 102, 102]
    assert preds.centers[:, 0].tolist() == [50, 51, 52, 53, 54, 55]
    assert preds.box_scores == pytest.approx(0.9) and preds.areas == pytest.approx(120.0 * 120.0)
    # Same crop heatmaps, centres 1 px apart: the image keypoints move by exactly 1 px.
    assert np.allclose(np.diff(preds.keypoints[:, :, 0], axis=0), 1.0, atol=1e-4)
    assert np.allclose(preds.keypoints[:, :, 1], preds.keypoints[0, :, 1])
    assert (preds.keypoints[..., 2] > 0.4).all()


def test_gather_orders_shards_of_all_ranks(monkeypatch):
    def part(indices):
        n = len(indices)
        preds = PosePredictions(np.array(indices), np.zeros((n, K, 3)), np.ones(n), np.ones(n),
                                np.zeros((n, 2)), np.ones((n, 2)))
        return np.array(indices), preds

    rank0, rank1 = [part([0, 2]), part([4])], [part([1, 3])]
    shards = [(np.array([0, 2, 4]), PosePredictions.concat([p[1] for p in rank0])),
              (np.array([1, 3]), PosePredictions.concat([p[1] for p in rank1]))]
    monkeypatch.setattr(predict_module, "get_world_size", lambda: 2)
    monkeypatch.setattr(predict_module, "all_gather_objects", lambda local: shards)
    assert gather_predictions(rank0, K).image_ids.tolist() == [0, 1, 2, 3, 4]


def test_oracle_on_synthetic_data_reaches_high_ap(sample_data_root, data_cfg, make_loader, tmp_path):
    cfg = data_cfg(sample_data_root)
    loader = make_loader(cfg, is_train=False)
    dataset = loader.dataset
    preds = predict_oracle(loader, dataset.codec, TestOptions(decode="standard"))
    assert len(preds) == len(dataset)
    stats = evaluate_coco(preds, dataset.keypoint_set, annotation_file(str(sample_data_root), "val2017"),
                          tmp_path / "r.json", in_vis_thre=0.2, oks_thre=0.9, soft_nms=False)
    assert stats["AP"] > 0.8 and stats["AP .5"] > 0.95


class CountingCodec(MSRAHeatmap):
    """MSRAHeatmap that counts its (numpy) decode calls."""

    calls = 0

    def decode(self, *args, **kwargs):
        type(self).calls += 1
        return super().decode(*args, **kwargs)


@pytest.mark.parametrize("post_process", [True, False])
def test_standard_decoding_on_the_device_equals_the_numpy_codec(post_process):
    codec = CountingCodec((96, 128), (24, 32), 2)
    CountingCodec.calls = 0
    rng = np.random.default_rng(4)
    maps = np.round(rng.uniform(-0.1, 1, (6, K, 32, 24)), 1).astype(np.float32)  # ties
    maps[0, :2] = 0.0  # empty maps decode to 0
    decode = predict_module.decode_heatmaps
    standard = TestOptions(decode="standard", post_process=post_process)
    coords, scores = decode(codec, torch.from_numpy(maps), standard, on_device=True)
    assert CountingCodec.calls == 0  # the torch path, not the numpy codec
    expected = MSRAHeatmap.decode(codec, maps, "standard", post_process)
    assert coords.dtype == np.float64 and scores.dtype == np.float32
    np.testing.assert_array_equal(coords, expected[0])
    np.testing.assert_array_equal(scores, expected[1])
    dark = TestOptions(decode="dark", post_process=post_process)
    decode(codec, torch.from_numpy(maps), dark, on_device=True)
    assert CountingCodec.calls == 1  # DARK stays on the host
    decode(codec, torch.from_numpy(maps), standard)
    assert CountingCodec.calls == 2  # CPU heatmaps: numpy (faster there, nothing to transfer)


def test_prepare_model_follows_the_options(tiny_cfg, tiny_model):
    cfg = tiny_cfg()
    model = tiny_model(cfg).train()
    images = torch.randn(2, 3, 96, 64)
    with torch.no_grad():
        expected = model.eval()(images)
    model.train()
    plain = prepare_model(model, TestOptions(), torch.device("cpu"))
    assert plain is model and not plain.training  # eval mode, nothing else
    fast = prepare_model(tiny_model(cfg), TestOptions(fuse_bn=True, channels_last=True), torch.device("cpu"))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert fast.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = fast(images.contiguous(memory_format=torch.channels_last))
    assert ((out - expected).abs().max() / expected.abs().max()).item() < 1e-5
