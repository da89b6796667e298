"""hrpose: top-down human pose estimation with HRNet and SimpleBaseline.

``import hrpose`` loads nothing else (no torch): import what you use from its packages, e.g.
``from hrpose.apis import Predictor`` or ``from hrpose.config import load_cfg``.
"""

__version__ = "0.1.0"
