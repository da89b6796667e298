"""The COCO results json: one dict per kept person, written fast.

``[{"image_id": int, "category_id": 1, "keypoints": [x, y, score] * K, "score": float,
"center": [2], "scale": [2]}, ...]`` (``center``/``scale`` are the reference's extras; COCO ignores them).

Coordinates are rounded to ``COORD_DECIMALS`` (1e-3 px, far below any OKS tolerance), keypoint
scores and scales to ``SCORE_DECIMALS``; the person ``score`` is written in full (it orders COCOeval's
matching). Encoding 100k persons with the ``json`` module costs seconds (one float repr per number), so
the numbers are printed as fixed-point text by numpy, all at once; the file is standard json (numbers
padded with spaces) and ``json.load`` of it gives exactly ``results_records()``. Non-finite or huge
values fall back to ``json.dumps``.
"""

import json
import pathlib

import numpy as np

COORD_DECIMALS = 3
SCORE_DECIMALS = 6
_MAX_ABS = 1e12  # fixed-point text is exact below this (int64 after scaling by 10^6)


def results_arrays(image_ids, keypoints, scores, centers, scales) -> dict[str, np.ndarray]:
    """Rounded arrays of M results: image_ids int64 [M], keypoints float64 [M,K,3], scores float64 [M],
    centers [M,2], scales [M,2]. Rounding is ``rint(v * 10^d) / 10^d``, i.e. the double nearest to the
    decimal text written to the json."""
    kp = np.asarray(keypoints, dtype=np.float64)
    return {
        "image_ids": np.asarray(image_ids, dtype=np.int64).reshape(-1),
        "keypoints": np.concatenate(
            [_round(kp[..., :2], COORD_DECIMALS), _round(kp[..., 2:], SCORE_DECIMALS)], axis=-1),
        "scores": np.asarray(scores, dtype=np.float64).reshape(-1),
        "centers": _round(np.asarray(centers, dtype=np.float64), COORD_DECIMALS),
        "scales": _round(np.asarray(scales, dtype=np.float64), SCORE_DECIMALS),
    }


def _round(values: np.ndarray, decimals: int) -> np.ndarray:
    return np.rint(values * 10.0 ** decimals) / 10.0 ** decimals


def results_records(arrays: dict[str, np.ndarray], category_id: int = 1) -> list[dict]:
    """The results as COCO dicts (what ``COCO.loadRes`` takes), equal to the json's content."""
    m, k = arrays["keypoints"].shape[:2]
    columns = (arrays["image_ids"].tolist(), arrays["keypoints"].reshape(m, 3 * k).tolist(),
               arrays["scores"].tolist(), arrays["centers"].tolist(), arrays["scales"].tolist())
    return [
        {"image_id": i, "category_id": category_id, "keypoints": kp, "score": s, "center": c, "scale": sc}
        for i, kp, s, c, sc in zip(*columns, strict=True)
    ]


def write_results_json(arrays: dict[str, np.ndarray], path, category_id: int = 1) -> pathlib.Path:
    """Write the results (see ``results_arrays``) to ``path`` atomically; creates the parent folder."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(results_json_bytes(arrays, category_id))
    tmp.replace(path)
    return path


def results_json_bytes(arrays: dict[str, np.ndarray], category_id: int = 1) -> bytes:
    """The json text (utf-8) of the results; one person per line."""
    m = arrays["image_ids"].size
    numeric = [arrays[k] for k in ("keypoints", "centers", "scales")]
    finite = all(np.isfinite(a).all() and (a.size == 0 or np.abs(a).max() < _MAX_ABS) for a in numeric)
    if m == 0 or not finite or not np.isfinite(arrays["scores"]).all():
        return json.dumps(results_records(arrays, category_id)).encode()
    kp = arrays["keypoints"]
    xy = _fixed(kp[..., :2], COORD_DECIMALS).reshape(m, kp.shape[1], -1)
    ks = _fixed(kp[..., 2], SCORE_DECIMALS)
    columns = [
        _text(m, '{"image_id": '), _fixed(arrays["image_ids"], 0),
        _text(m, f' "category_id": {int(category_id)}, '),
        _text(m, '"keypoints": ['), _list(np.concatenate([xy, ks], axis=2).reshape(m, -1)),
        _text(m, '], "score": '), _reprs(arrays["scores"]),
        _text(m, ', "center": ['), _list(_fixed(arrays["centers"], COORD_DECIMALS).reshape(m, -1)),
        _text(m, '], "scale": ['), _list(_fixed(arrays["scales"], SCORE_DECIMALS).reshape(m, -1)),
        _text(m, "]},\n"),
    ]
    body = np.concatenate(columns, axis=1).tobytes()
    return b"[\n" + body[:-2] + b"\n]\n"


def _text(m: int, s: str) -> np.ndarray:
    """A constant column: uint8 [m, len(s)]."""
    return np.broadcast_to(np.frombuffer(s.encode(), dtype=np.uint8), (m, len(s)))


def _list(cells: np.ndarray) -> np.ndarray:
    """Fixed-width ``n,`` cells [m, W*n] as a list body: the last comma becomes a space."""
    out = cells.copy()
    out[:, -1] = ord(" ")
    return out


def _reprs(values: np.ndarray) -> np.ndarray:
    """Shortest round-trip text of each float, space-padded to a common width: uint8 [m, W]."""
    text = np.array([repr(v) for v in values.tolist()], dtype=np.bytes_)
    cells = text.view(np.uint8).reshape(len(values), -1)
    return np.where(cells == 0, np.uint8(ord(" ")), cells)


def _fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    """Each value as right-aligned fixed-point text with ``decimals`` digits and a trailing comma.

    Returns uint8 ``[..., W]`` with ``W = 1 (sign) + P (integer digits) + (1 + decimals) + 1 (',')``.
    """
    v = np.rint(np.asarray(values, dtype=np.float64) * 10.0 ** decimals).astype(np.int64)
    negative = v < 0
    whole, frac = np.divmod(np.abs(v), 10 ** decimals)
    p = len(str(int(whole.max()))) if v.size else 1
    ndigits = 1 + sum((whole >= 10 ** j).astype(np.int64) for j in range(1, p))
    width = 1 + p + (1 + decimals if decimals else 0) + 1
    out = np.full(v.shape + (width,), ord(" "), dtype=np.uint8)
    for j in range(p):  # column 1 + j holds the 10^(p-1-j) digit
        digit = (whole // 10 ** (p - 1 - j)) % 10
        out[..., 1 + j] = np.where(ndigits >= p - j, ord("0") + digit, ord(" "))
    for j in range(p):  # the minus sign sits just before the first digit
        out[..., j] = np.where(negative & (ndigits == p - j), ord("-"), out[..., j])
    if decimals:
        out[..., 1 + p] = ord(".")
        for j in range(decimals):
            out[..., 2 + p + j] = ord("0") + (frac // 10 ** (decimals - 1 - j)) % 10
    out[..., -1] = ord(",")
    return out
