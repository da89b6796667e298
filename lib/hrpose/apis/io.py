"""Inputs for inference: frames from an image, a folder, a video or a camera, and person boxes per frame.

Images are returned as OpenCV reads them: uint8 ``[H, W, 3]`` in **BGR** order. Boxes are float32
``[N, 5]`` rows ``(x, y, w, h, score)`` in image pixels (COCO ``xywh``: top-left corner and size).
"""

import json
import logging
import pathlib
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
PERSON_CATEGORY_ID = 1
_COCO_NAME = re.compile(r"(?:.*_)?(\d{12})")  # 000000000139.jpg or COCO_val2014_000000000139.jpg


class InputError(ValueError):
    """An input path or box file that cannot be used; the message names the file and what was expected."""


@dataclass
class Frame:
    """One image to run on.

    ``name`` is the file name for images, ``<video stem>_<index:06d>`` for video frames and
    ``camera<N>_<index:06d>`` for camera frames; ``index`` counts frames from 0; ``video_frame`` is the
    frame number for videos and cameras and None for images.
    """

    name: str
    image: np.ndarray  # uint8 [H, W, 3], BGR
    index: int
    video_frame: int | None = None


def input_kind(path) -> str:
    """'folder', 'image' or 'video' for an existing path, 'camera' for a camera index (an int, or digits
    that are not a path); raises ``InputError`` otherwise."""
    p = pathlib.Path(str(path))
    if p.is_dir():
        return "folder"
    if not p.is_file():
        if str(path).isdigit():
            return "camera"
        raise InputError(f"input not found: {p} (expected an image, a folder of images, a video file or "
                         "a camera index such as 0)")
    suffix = p.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    raise InputError(f"{p}: unknown file type {suffix!r}; images: {IMAGE_EXTENSIONS}, "
                     f"videos: {VIDEO_EXTENSIONS}")


def list_images(folder) -> list[pathlib.Path]:
    """Image files directly inside ``folder`` (jpg, jpeg, png, bmp; any case), sorted by name."""
    files = [p for p in pathlib.Path(folder).iterdir()
             if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: p.name)


def read_image(path) -> np.ndarray:
    """uint8 BGR ``[H, W, 3]`` (grey and alpha images are converted); raises ``InputError`` if unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read image {path} (missing, empty or not an image)")
    return image


def iter_frames(path) -> Iterator[Frame]:
    """Frames of an image file, a folder (sorted), a video or a camera index; a video or a camera stops
    at its first unreadable frame (a camera stream otherwise runs until the caller stops reading)."""
    kind = input_kind(path)
    p = pathlib.Path(str(path))
    if kind == "camera":
        yield from _iter_capture(cv2.VideoCapture(int(path)), f"camera{int(path)}", f"camera {path}")
        return
    if kind == "video":
        yield from _iter_capture(cv2.VideoCapture(str(p)), p.stem, f"video {p}")
        return
    files = [p] if kind == "image" else list_images(p)
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {p}")
    for index, file in enumerate(files):
        yield Frame(file.name, read_image(file), index)


def _iter_capture(capture: cv2.VideoCapture, stem: str, what: str) -> Iterator[Frame]:
    if not capture.isOpened():
        raise InputError(f"cannot open {what}")
    try:
        index = 0
        while True:
            ok, image = capture.read()
            if not ok:  # end of the video (the reference demo looped forever here)
                break
            yield Frame(f"{stem}_{index:06d}", image, index, video_frame=index)
            index += 1
    finally:
        capture.release()


def video_fps(path, default: float = 25.0) -> float:
    """Frame rate stored in a video file, or ``default`` when the container does not say, for images and
    for cameras (not opened here: a camera may not allow a second reader)."""
    if input_kind(path) != "video":
        return default
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
    capture.release()
    return float(fps) if fps and np.isfinite(fps) and fps > 0 else default


def count_frames(path) -> int | None:
    """Frames ``iter_frames(path)`` will give: 1 for an image, the images of a folder, the frame count a
    video container states (None when it does not), None for a camera."""
    kind = input_kind(path)
    if kind in ("image", "folder"):
        return 1 if kind == "image" else len(list_images(path))
    if kind == "camera":
        return None
    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    capture.release()
    return count if count > 0 else None


# --- boxes -------------------------------------------------------------------------------------------

def coco_image_id(name: str) -> int | None:
    """The COCO image id in a file name such as ``000000000139.jpg``, else None."""
    match = _COCO_NAME.fullmatch(pathlib.Path(name).stem)
    return int(match.group(1)) if match else None


def _as_boxes(rows, where: str) -> np.ndarray:
    """Rows ``[x, y, w, h]`` or ``[x, y, w, h, score]`` -> float32 [N, 5] (score 1 when absent)."""
    out = np.ones((len(rows), 5), dtype=np.float32)
    for i, row in enumerate(rows):
        if len(row) not in (4, 5):
            raise InputError(f"{where}: box {row!r} must be [x, y, w, h] or [x, y, w, h, score]")
        out[i, : len(row)] = row
    return out


class BoxSource:
    """Person boxes per frame. The base class gives the whole image as one box with score 1."""

    def has_boxes(self, frame: Frame) -> bool:
        """Whether the source has an entry for ``frame`` (always, for the whole image)."""
        return True

    def boxes(self, frame: Frame) -> np.ndarray:
        """float32 [N, 5] ``(x, y, w, h, score)`` for ``frame``."""
        h, w = frame.image.shape[:2]
        return np.array([[0.0, 0.0, w, h, 1.0]], dtype=np.float32)

    def image_id(self, frame: Frame) -> int | str:
        """The results-json id: the frame number of a video, a COCO id when known, else the file name."""
        if frame.video_frame is not None:
            return frame.video_frame
        image_id = coco_image_id(frame.name)
        return frame.name if image_id is None else image_id


class BoxesByKey(BoxSource):
    """Boxes keyed by COCO image id (int) and/or by file name (str); frames without boxes get none.

    Args:
        boxes: ``{key: float32 [N, 5]}``; a key is an int image id, a file name or a file stem.
        names_to_ids: optional ``{file name: image id}`` (from a COCO images json).
        source: the file the boxes came from, for messages.
    """

    def __init__(self, boxes: dict, names_to_ids: dict[str, int] | None = None, source: str = "boxes"):
        self._boxes = boxes
        self._names_to_ids = dict(names_to_ids or {})
        self.source = source

    def image_id(self, frame: Frame) -> int | str:
        if frame.name in self._names_to_ids:
            return self._names_to_ids[frame.name]
        return super().image_id(frame)

    def _key(self, frame: Frame):
        stem = pathlib.Path(frame.name).stem
        return next((key for key in (self.image_id(frame), frame.name, stem) if key in self._boxes), None)

    def has_boxes(self, frame: Frame) -> bool:
        return self._key(frame) is not None

    def boxes(self, frame: Frame) -> np.ndarray:
        key = self._key(frame)
        return self._boxes[key] if key is not None else np.zeros((0, 5), dtype=np.float32)


def _coco_detections(dets: list, path: str) -> dict:
    """COCO detector results ``[{image_id, bbox, score, category_id}, ...]`` -> ``{image_id: [N, 5]}``."""
    grouped: dict = defaultdict(list)
    for det in dets:
        if not isinstance(det, dict) or "image_id" not in det or "bbox" not in det:
            raise InputError(f"{path}: every detection needs 'image_id' and 'bbox' (COCO results format), "
                             f"got {det!r}")
        if det.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
            continue
        grouped[det["image_id"]].append(list(det["bbox"][:4]) + [float(det.get("score", 1.0))])
    return {key: _as_boxes(rows, path) for key, rows in grouped.items()}


def _coco_ground_truth(data: dict, path: str) -> dict:
    """Person boxes of a COCO annotations json (``images`` + ``annotations``; crowd boxes skipped)."""
    grouped: dict = defaultdict(list)
    for ann in data["annotations"]:
        if ann.get("iscrowd", 0) or ann.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
            continue
        grouped[ann["image_id"]].append(list(ann["bbox"][:4]) + [1.0])
    return {key: _as_boxes(rows, path) for key, rows in grouped.items()}


def coco_names_to_ids(path) -> dict[str, int]:
    """``{file_name: id}`` from a COCO json with an ``images`` list."""
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputError(f"{path}: expected a COCO json with an 'images' list of {{id, file_name}}")
    return {img["file_name"]: int(img["id"]) for img in data["images"]}


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"box file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid json ({err})") from None


def load_box_source(path=None, images_json=None) -> BoxSource:
    """The box source for ``--boxes``: None -> whole image; else a json file in one of three formats.

    * COCO detector results: a list of ``{image_id, bbox [x, y, w, h], score, category_id}``; only
      category 1 (person) is kept. Frames are matched by image id (from ``images_json``'s
      ``file_name -> id`` mapping or a 12-digit COCO file name) or, when ``image_id`` is a string, by
      file name or stem.
    * COCO annotations (a dict with ``images`` and ``annotations``): its GT person boxes, score 1.
    * Per-image boxes: ``{"file.jpg": [[x, y, w, h, score], ...]}`` (the score may be left out).
    """
    if path is None:
        return BoxSource()
    data = _read_json(path)
    names_to_ids = coco_names_to_ids(images_json) if images_json else {}
    if isinstance(data, list):
        boxes = _coco_detections(data, str(path))
    elif isinstance(data, dict) and "annotations" in data and "images" in data:
        boxes = _coco_ground_truth(data, str(path))
        names_to_ids = {**{img["file_name"]: int(img["id"]) for img in data["images"]}, **names_to_ids}
    elif isinstance(data, dict):
        boxes = {str(name): _as_boxes(rows, f"{path} [{name!r}]") for name, rows in data.items()}
    else:
        raise InputError(f"{path}: expected a COCO detection list, a COCO annotations json or "
                         '{"file.jpg": [[x, y, w, h, score], ...]}')
    logger.info("boxes from %s: %d images, %d boxes", path, len(boxes), sum(len(b) for b in boxes.values()))
    return BoxesByKey(boxes, names_to_ids, source=str(path))


def filter_boxes(boxes: np.ndarray, score_thr: float, min_size: float = 1.0) -> np.ndarray:
    """Keep boxes ``[N, 5]`` with score >= ``score_thr`` and width and height >= ``min_size`` pixels."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 5)
    keep = (boxes[:, 4] >= score_thr) & (boxes[:, 2] >= min_size) & (boxes[:, 3] >= min_size)
    return boxes[keep]
