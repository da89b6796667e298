"""hrpose: top-down human pose estimation with HRNet and SimpleBaseline."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # ``hrpose.Predictor`` without importing torch at ``import hrpose``
    if name == "Predictor":
        from hrpose.apis import Predictor

        return Predictor
    raise AttributeError(f"module 'hrpose' has no attribute {name!r}")
