"""Reference-style re-implementations, kept only as speed baselines (and test oracles) for the benchmarks.

Each module mirrors a piece of the original HRNet code (``deep-high-resolution-net.pytorch``) the way it
is written there, loops included, so that a speed-up is measured against the reference's own approach.
They are deliberately not vectorised and never used by the library; library constants (``PIXEL_STD``,
the ImageNet statistics) come from ``hrpose``.
"""
