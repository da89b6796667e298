"""Fixtures of the codec tests."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def random_boxes():
    """``random_boxes(n, seed) -> (centers float32 [n, 2], scales float32 [n, 2], coords [n, 17, 2])``:
    image boxes anywhere in a 1000 px image, of any size, and heatmap coordinates in and around a 48x64
    heatmap."""

    def make(n: int, seed: int):
        rng = np.random.default_rng(seed)
        centers = rng.uniform(0, 1000, size=(n, 2)).astype(np.float32)
        scales = rng.uniform(0.1, 3.0, size=(n, 2)).astype(np.float32)
        coords = rng.uniform(-5, 70, size=(n, 17, 2))
        return centers, scales, coords

    return make
