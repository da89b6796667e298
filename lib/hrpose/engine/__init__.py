"""Training and evaluation loops: ``train_one_epoch``, ``predict`` (flip test), ``evaluate_model``.

Submodules are imported on first use so that ``import hrpose.engine.predict`` stays light.
"""

import importlib

_EXPORTS = {
    "predict": "predict",
    "predict_oracle": "predict",
    "evaluate_model": "evaluate",
    "train_one_epoch": "train_loop",
    "build_optimizer": "optim",
    "build_scheduler": "optim",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hrpose.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
