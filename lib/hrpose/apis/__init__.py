"""User-facing inference: ``Predictor`` (Python API), ``load_pose_model``, input/box readers, ONNX export."""

from hrpose.apis.loading import LoadedModel, load_pose_model
from hrpose.apis.predictor import Predictor

__all__ = ["LoadedModel", "Predictor", "load_pose_model"]
