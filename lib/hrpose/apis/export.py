"""ONNX export of the pose network and a numerical check of the file with onnxruntime.

The exported graph is the network only: input ``images`` float32 ``[N, 3, H, W]``, already normalised
(ImageNet mean/std, channel order of ``DATASET.COLOR_RGB``), output ``heatmaps`` float32
``[N, K, H/4, W/4]``. Cropping before and decoding after stay in numpy (see docs/deploy.md). The file
carries what a deployment needs to do both as ``metadata_props`` (``hrpose`` key, a json string).

The exporter is torch's TorchScript-based one (``dynamo=False``): the torch.export-based default needs
the ``onnxscript`` package, which hrpose does not depend on.
"""

import json
import logging
import os
import warnings

import numpy as np
import torch

logger = logging.getLogger(__name__)

INPUT_NAME = "images"
OUTPUT_NAME = "heatmaps"
DEFAULT_OPSET = 17
FP32_TOLERANCE = 1e-4


def _model_device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def export_onnx(model: torch.nn.Module, path: str | os.PathLike, input_size, opset: int = DEFAULT_OPSET,
                dynamic_batch: bool = False, batch_size: int = 1, metadata: dict | None = None) -> str:
    """Write ``model`` (switched to eval mode) as ONNX to ``path``; returns the path.

    Args:
        input_size: network input ``(w, h)`` (``MODEL.IMAGE_SIZE``).
        opset: ONNX opset version.
        dynamic_batch: the batch axis of input and output is symbolic (``batch``); otherwise fixed to
            ``batch_size``.
        metadata: json-able description stored in the file under the ``hrpose`` metadata key.
    """
    width, height = (int(v) for v in input_size)
    model = model.eval()
    dummy = torch.randn(batch_size, 3, height, width, device=_model_device(model))
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter announces its own deprecation; tracing warns about shape checks
        # that are constant for a fixed input size. Neither concerns the exported graph.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(model, (dummy,), str(path), dynamo=False, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=int(opset), dynamic_axes=axes,
                          do_constant_folding=True)
    if metadata is not None:
        _add_metadata(path, metadata)
    logger.info("exported %s (opset %d, input %dx%d, dynamic batch %s)", path, opset, width, height,
                dynamic_batch)
    return str(path)


def _add_metadata(path, metadata: dict) -> None:
    import onnx  # optional dependency (hrpose[export]): needed only to write the metadata

    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "hrpose", json.dumps(metadata, sort_keys=True)
    onnx.save(proto, str(path))


def read_metadata(path) -> dict:
    """The ``hrpose`` metadata of an exported file (``{}`` if absent), read with onnxruntime only."""
    import onnxruntime as ort  # optional dependency (hrpose[export]): only to read or check a file

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    text = session.get_modelmeta().custom_metadata_map.get("hrpose")
    return json.loads(text) if text else {}


def onnx_io(path) -> dict:
    """``{'inputs': [(name, shape, type)], 'outputs': [...]}``; symbolic axes appear as strings."""
    import onnxruntime as ort  # optional dependency (hrpose[export]): only to read or check a file

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {"inputs": [(i.name, list(i.shape), i.type) for i in session.get_inputs()],
            "outputs": [(o.name, list(o.shape), o.type) for o in session.get_outputs()]}


def check_onnx(path, model: torch.nn.Module, input_size, batch_sizes=(1,), seed: int = 0) -> float:
    """Largest ``|onnxruntime - torch|`` over heatmaps of random inputs, one per batch size.

    Runs the file with onnxruntime's ``CPUExecutionProvider`` and ``model`` (eval mode, no grad) on the
    same ``randn`` batch ``[b, 3, h, w]`` for each ``b`` in ``batch_sizes``; raises ``ValueError`` when
    the output shapes differ.
    """
    import onnxruntime as ort  # optional dependency (hrpose[export]): only to read or check a file

    width, height = (int(v) for v in input_size)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = np.random.default_rng(seed)
    model = model.eval()
    worst, scale = 0.0, 0.0
    for b in batch_sizes:
        x = generator.standard_normal((int(b), 3, height, width)).astype(np.float32)
        (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x})
        with torch.no_grad():
            want = model(torch.from_numpy(x).to(_model_device(model))).float().cpu().numpy()
        if got.shape != want.shape:
            raise ValueError(f"{path}: onnxruntime output {got.shape} != torch output {want.shape} "
                             f"at batch {b}")
        worst = max(worst, float(np.abs(got - want).max()))
        scale = max(scale, float(np.abs(want).max()))
    logger.info("onnxruntime check of %s: max abs diff %.3g, largest |heatmap| %.3g, batches %s",
                path, worst, scale, list(batch_sizes))
    return worst


def deploy_metadata(cfg, keypoint_set, mean, std) -> dict:
    """What a numpy/OpenCV deployment needs to crop and decode, from the config (json-able)."""
    return {
        "image_size": [int(v) for v in cfg.MODEL.IMAGE_SIZE],  # (w, h)
        "heatmap_size": [int(v) for v in cfg.MODEL.HEATMAP_SIZE],  # (w, h)
        "sigma": float(cfg.MODEL.SIGMA),
        "codec": str(cfg.MODEL.CODEC),
        "color_rgb": bool(cfg.DATASET.COLOR_RGB),
        "mean": [float(v) for v in mean],  # per channel of the network input, in [0, 1] units
        "std": [float(v) for v in std],
        "flip_test": bool(cfg.TEST.FLIP_TEST),
        "shift_heatmap": bool(cfg.TEST.SHIFT_HEATMAP),
        "decode": str(cfg.TEST.DECODE),
        "keypoint_set": keypoint_set.to_dict(),
    }
