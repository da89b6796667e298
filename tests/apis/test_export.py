"""ONNX export: onnxruntime parity with PyTorch, dynamic batch, the metadata, and the docs/deploy.md
snippet (numpy/OpenCV only) against ``Predictor``."""

import ast
import re

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e .[test])")
pytest.importorskip("onnx", reason="onnx is not installed (pip install -e .[test])")

from hrpose.apis.export import (  # noqa: E402
    FP32_TOLERANCE,
    check_onnx,
    deploy_metadata,
    export_onnx,
    onnx_io,
    read_metadata,
)
from hrpose.apis.io import iter_frames, load_box_source  # noqa: E402
from hrpose.apis.outputs import result_records  # noqa: E402
from hrpose.apis.pipeline import PosePipeline  # noqa: E402
from hrpose.apis.predictor import Predictor  # noqa: E402
from hrpose.codecs import build_codec  # noqa: E402
from hrpose.datasets.keypoints import COCO_KEYPOINTS  # noqa: E402
from hrpose.engine.options import TestOptions  # noqa: E402
from hrpose.models.normalize import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402


@pytest.fixture(scope="module")
def tiny_onnx(tiny_cfg, tiny_model, tmp_path_factory):
    """(path, model, cfg): the tiny model exported with a dynamic batch and the deploy metadata."""
    cfg = tiny_cfg()
    model = tiny_model(cfg, seed=1)
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    meta = deploy_metadata(cfg, COCO_KEYPOINTS, IMAGENET_MEAN, IMAGENET_STD)
    export_onnx(model, path, cfg.MODEL.IMAGE_SIZE, dynamic_batch=True, metadata=meta)
    return path, model, cfg


def test_onnxruntime_matches_torch_with_dynamic_batch(tiny_onnx):
    path, model, cfg = tiny_onnx
    diff = check_onnx(path, model, cfg.MODEL.IMAGE_SIZE, batch_sizes=(1, 3))
    assert diff <= FP32_TOLERANCE
    io = onnx_io(path)
    assert io["inputs"][0][:2] == ("images", ["batch", 3, 96, 64])
    assert io["outputs"][0][:2] == ("heatmaps", ["batch", 17, 24, 16])
    meta = read_metadata(path)
    assert meta["image_size"] == [64, 96] and meta["keypoint_set"]["names"] == list(COCO_KEYPOINTS.names)


def test_fixed_batch_export(tiny_cfg, tiny_model, tmp_path):
    cfg = tiny_cfg()
    model = tiny_model(cfg)
    path = export_onnx(model, tmp_path / "fixed.onnx", cfg.MODEL.IMAGE_SIZE, opset=13, batch_size=2)
    assert onnx_io(path)["inputs"][0][1] == [2, 3, 96, 64]
    assert check_onnx(path, model, cfg.MODEL.IMAGE_SIZE, batch_sizes=(2,)) <= FP32_TOLERANCE


def doc_block(repo_root, marker: str) -> str:
    """The python block between the ``<!-- marker: start -->`` / ``end`` markers of docs/deploy.md."""
    text = (repo_root / "docs" / "deploy.md").read_text()
    block = re.search(rf"<!-- {marker}: start -->\s*```python\n(.*?)```", text, re.S)
    assert block, f"docs/deploy.md lost its {marker} markers"
    return block.group(1)


@pytest.fixture(scope="module")
def deploy_snippet(repo_root) -> str:
    return doc_block(repo_root, "deploy-snippet")


@pytest.mark.parametrize("flip", [True, False])
def test_deploy_snippet_matches_predictor(tiny_onnx, deploy_snippet, flip):
    path, model, cfg = tiny_onnx
    namespace: dict = {}
    exec(compile(deploy_snippet, "docs/deploy.md", "exec"), namespace)  # noqa: S102
    pose = namespace["OnnxPose"](str(path), flip_test=flip)
    rng = np.random.default_rng(0)
    image = cv2_blur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    boxes = np.array([[10, 10, 50, 90], [70, 5, 60, 100], [0, 0, 160, 120]], dtype=np.float32)
    got = pose(image, boxes)
    options = TestOptions(flip_test=flip, shift_heatmap=True)
    predictor = Predictor(model, build_codec(cfg), COCO_KEYPOINTS, options, device="cpu", color_rgb=True)
    want = predictor.predict(image, boxes)
    assert got.shape == want.shape == (3, 17, 3)
    np.testing.assert_allclose(got[..., 2], want[..., 2], atol=1e-4)
    close = np.abs(got[..., :2] - want[..., :2]).max(axis=2) < 1e-2
    assert close.mean() >= 0.95, f"{(~close).sum()} of {close.size} keypoints moved (argmax ties)"


@pytest.fixture(scope="module")
def pipeline_snippet(repo_root) -> str:
    return doc_block(repo_root, "deploy-pipeline")


def test_deploy_pipelines_match_pose_pipeline(tiny_onnx, deploy_snippet, pipeline_snippet, sample_data_root,
                                              tmp_path):
    """Whole image and COCO detections: the numpy/onnxruntime pipeline gives PosePipeline's persons."""
    path, model, cfg = tiny_onnx
    namespace: dict = {}
    exec(compile(deploy_snippet + pipeline_snippet, "docs/deploy.md", "exec"), namespace)  # noqa: S102
    pose = namespace["OnnxPose"](str(path), flip_test=False)
    folder = sample_data_root / "images" / "val2017"
    dets = tmp_path / "dets.json"
    dets.write_text((sample_data_root / "person_detection_results"
                     / "COCO_val2017_detections_AP_H_56_person.json").read_text())
    options = TestOptions(flip_test=False, shift_heatmap=True)
    predictor = Predictor(model, build_codec(cfg), COCO_KEYPOINTS, options, device="cpu", color_rgb=True)
    for boxes_json in (None, dets):
        got = namespace["pose_folder"](pose, folder, boxes_json, box_thr=0.3)
        source = load_box_source(boxes_json) if boxes_json else None
        want = [rec for result in PosePipeline(predictor, boxes=source, box_thr=0.3 if source else 0.0)
                .run(iter_frames(folder))
                for rec in result_records(result.image_id, result.keypoints, result.boxes)]
        assert len(got) == len(want) > 0 and [g["image_id"] for g in got] == [w["image_id"] for w in want]
        for g, w in zip(got, want, strict=True):
            kg, kw = np.reshape(g["keypoints"], (-1, 3)), np.reshape(w["keypoints"], (-1, 3))
            np.testing.assert_allclose(kg[:, 2], kw[:, 2], atol=2e-3)
            assert (np.abs(kg[:, :2] - kw[:, :2]).max(axis=1) < 0.02).mean() >= 0.95  # argmax ties aside


def cv2_blur(image):
    import cv2

    return cv2.GaussianBlur(image, (9, 9), 3)


DEPLOY_MODULES = ("codecs/msra.py", "codecs/udp.py", "codecs/refine.py", "datasets/transforms.py",
                  "apis/tracking.py", "apis/smoothing.py", "evaluation/nms.py")


def test_deploy_modules_import_only_numpy_and_opencv(repo_root, deploy_snippet):
    """docs/deploy.md: nothing in the snippet calls torch, and the modules to copy for a torch-free
    deployment import only numpy, OpenCV, the standard library and each other."""
    assert "torch" not in deploy_snippet
    allowed = {"math", "numpy", "cv2", "hrpose.codecs.refine", "hrpose.codecs.msra",
               "hrpose.datasets.transforms", "hrpose.evaluation.nms", "collections.abc", "dataclasses",
               "typing", "yacs.config"}  # yacs only under TYPE_CHECKING (annotations)
    for relative in DEPLOY_MODULES:
        tree = ast.parse((repo_root / "lib" / "hrpose" / relative).read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):  # 'from hrpose.codecs import refine' imports a module
                package = node.module in ("hrpose.codecs", "hrpose.datasets")
                imported |= {f"{node.module}.{a.name}" if package else node.module for a in node.names}
        assert imported <= allowed, (relative, imported - allowed)
