"""User-facing inference: ``Predictor`` (Python API), input/box readers, ONNX export.

``from hrpose.apis import Predictor`` imports torch and the model code only when ``Predictor`` is first
used, so ``hrpose.apis.io`` stays importable on its own.
"""

__all__ = ["Predictor", "load_pose_model"]


def __getattr__(name: str):
    if name == "Predictor":
        from hrpose.apis.predictor import Predictor

        return Predictor
    if name == "load_pose_model":
        from hrpose.apis.loading import load_pose_model

        return load_pose_model
    raise AttributeError(f"module 'hrpose.apis' has no attribute {name!r}")
