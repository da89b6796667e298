"""UDP heatmap codec (Huang et al., CVPR 2020, "unbiased data processing").

Coordinates
-----------
* Crop pixels: the ``udp`` convention of ``hrpose.datasets.transforms`` (box centre ->
  ((W-1)/2, (H-1)/2), unit-length pixel grid, separate x/y factors).
* Heatmap pixels: ``crop * (heatmap_size - 1) / (input_size - 1)`` per axis, a float with no rounding,
  so the first and last pixel centres of the crop and the heatmap coincide.

Targets are an unnormalised Gaussian (peak 1 only when the keypoint sits on a pixel centre) centred on
the float heatmap coordinate and truncated to the square window of radius ``3 * sigma`` around the
rounded coordinate (the window rule of mmpose's UDP Gaussian and of the reference). Decoding always
refines with DARK-UDP, as mmpose's UDP codec does.
"""

import numpy as np

from hrpose.codecs import refine
from hrpose.codecs.msra import CodecBase, codec_sizes, outside, target_weights, window_bounds, window_mask
from hrpose.datasets import transforms as T


class UDPHeatmap(CodecBase):
    """Unbiased (UDP) Gaussian heatmap codec. ``udp = True``.

    Args:
        input_size: network input ``(w, h)`` in crop pixels.
        heatmap_size: network output ``(w, h)``.
        sigma: Gaussian sigma in heatmap pixels.
    """

    udp = True

    def __init__(self, input_size, heatmap_size, sigma=2):
        self.input_size, self.heatmap_size, self.sigma = codec_sizes(input_size, heatmap_size, sigma)
        # crop px -> heatmap px factor per axis (x, y)
        hm, inp = np.asarray(self.heatmap_size, np.float64), np.asarray(self.input_size, np.float64)
        self.factor = (hm - 1) / (inp - 1)

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """UDP targets for one person.

        Args:
            keypoints: [K, 2] crop pixels (UDP affine; extra columns are ignored).
            visible: [K] visibility (COCO v or 0/1).
        Returns:
            heatmaps float32 [K, h, w]: ``exp(-((x-u)^2 + (y-v)^2) / (2 sigma^2))`` with ``(u, v)`` the
            float heatmap coordinate, inside the window ``[int(m - 3s), int(m + 3s + 1))`` around
            ``m = int(u + 0.5)`` (per axis), zero elsewhere; drawn only for weight > 0.5.
            weights float32 [K]: ``clip(v, 0, 1)``, and 0 when the window lies fully outside the map
            or the keypoint is not finite.
        """
        pts = np.asarray(keypoints, dtype=np.float64).reshape(-1, np.shape(keypoints)[-1])[:, :2]
        weights = target_weights(visible)
        finite = np.isfinite(pts).all(axis=1)
        centres = np.where(finite[:, None], pts, 0.0) * self.factor
        ul, br = window_bounds(np.trunc(centres + 0.5), self.sigma * 3)
        weights = np.where(outside(ul, br, self.heatmap_size) | ~finite, np.float32(0), weights)
        w, h = self.heatmap_size
        two_var = 2.0 * float(self.sigma) ** 2
        # The Gaussian is separable: draw one row and one column profile per joint, then multiply.
        in_x, _ = window_mask(ul[:, 0], br[:, 0], w)
        in_y, _ = window_mask(ul[:, 1], br[:, 1], h)
        gx = np.exp(-((np.arange(w) - centres[:, 0:1]) ** 2) / two_var) * (in_x & (weights > 0.5)[:, None])
        gy = np.exp(-((np.arange(h) - centres[:, 1:2]) ** 2) / two_var) * in_y
        heatmaps = gy.astype(np.float32)[:, :, None] * gx.astype(np.float32)[:, None, :]
        return heatmaps, weights.astype(np.float32)

    def decode(self, heatmaps: np.ndarray, method: str = "standard", post_process: bool = True):
        """Heatmaps [N, K, h, w] -> (coords float64 [N, K, 2] heatmap px, scores float32 [N, K]).

        Both methods ('standard' and 'dark') give argmax + DARK-UDP refinement: UDP targets are
        unbiased, and the quarter offset would re-introduce a bias, so (like mmpose's UDP codec)
        the refinement is always applied. ``post_process=False`` returns the raw argmax.
        Coordinates are zero where the map maximum is <= 0.
        """
        if method not in ("standard", "dark"):
            raise ValueError(f"decode method must be 'standard' or 'dark', got {method!r}")
        hm = np.asarray(heatmaps)
        if hm.ndim != 4:
            raise ValueError(f"decode expects heatmaps [N, K, h, w], got shape {hm.shape}")
        coords, scores = refine.argmax_coords(hm)
        if post_process:
            coords = refine.dark_udp_refine(hm, coords)
        return coords.astype(np.float64), scores.astype(np.float32)

    def heatmap_to_image(self, coords: np.ndarray, centers: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """Heatmap px [N, K, 2] -> image px [N, K, 2] (float64).

        Heatmap -> crop by ``* (input - 1) / (heatmap - 1)``, then the inverse of
        ``udp_affine(center, scale, 0, input_size)``; together, in closed form for all N:
        ``image = (coords / (heatmap - 1) - 0.5) * scale * 200 + center``.
        """
        pts = np.asarray(coords, dtype=np.float64)
        c = np.asarray(centers, dtype=np.float64).reshape(-1, 1, 2)
        s = np.asarray(scales, dtype=np.float64).reshape(-1, 1, 2) * T.PIXEL_STD
        last = np.asarray(self.heatmap_size, np.float64) - 1
        return (pts / last - 0.5) * s + c
