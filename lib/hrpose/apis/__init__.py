"""User-facing inference: ``Predictor`` (Python API), the person detector, tracking and keypoint smoothing,
``PosePipeline`` (frames -> tracked poses), ``load_pose_model``, input/box readers, outputs, ONNX export."""

from hrpose.apis.detector import PersonDetector, TorchvisionDetector, build_detector
from hrpose.apis.loading import LoadedModel, load_pose_model
from hrpose.apis.pipeline import FramePoses, PosePipeline
from hrpose.apis.predictor import Predictor
from hrpose.apis.smoothing import KeypointSmoother, OneEuroFilter, build_smoother
from hrpose.apis.tracking import PoseTracker, build_tracker

__all__ = [
    "FramePoses",
    "KeypointSmoother",
    "LoadedModel",
    "OneEuroFilter",
    "PersonDetector",
    "PosePipeline",
    "PoseTracker",
    "Predictor",
    "TorchvisionDetector",
    "build_detector",
    "build_smoother",
    "build_tracker",
    "load_pose_model",
]
