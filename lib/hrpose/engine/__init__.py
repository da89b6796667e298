"""Training and evaluation: ``train_one_epoch``, ``predict`` (flip test), ``Evaluator``, the options
objects, the optimizer and schedule, and the training driver ``train`` used by ``tools/train.py``."""

from hrpose.engine.amp import autocast, resolve_amp
from hrpose.engine.evaluate import Evaluator, build_evaluator
from hrpose.engine.optim import build_optimizer, build_scheduler
from hrpose.engine.options import TestOptions, TrainOptions, build_test_options, build_train_options
from hrpose.engine.predict import predict, predict_oracle, prepare_model
from hrpose.engine.train_loop import TrainStep, train_one_epoch

__all__ = [
    "Evaluator",
    "TestOptions",
    "TrainOptions",
    "TrainStep",
    "autocast",
    "build_evaluator",
    "build_optimizer",
    "build_scheduler",
    "build_test_options",
    "build_train_options",
    "predict",
    "predict_oracle",
    "prepare_model",
    "resolve_amp",
    "train_one_epoch",
]
