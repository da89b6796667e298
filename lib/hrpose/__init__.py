"""hrpose: top-down human pose estimation with HRNet and SimpleBaseline."""

__version__ = "0.1.0"
