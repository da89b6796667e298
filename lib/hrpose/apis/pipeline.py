"""From frames to tracked, smoothed poses: boxes (file, detector or whole image) -> pose -> track -> filter.

    predictor = Predictor.from_checkpoint("best.pth")
    pipeline = PosePipeline(predictor, detector=build_detector(predictor.cfg, predictor.device),
                            tracker=build_tracker(predictor.cfg, predictor.keypoint_set),
                            smoother=build_smoother(predictor.cfg, rate=video_fps("clip.mp4")))
    for result in pipeline.run(iter_frames("clip.mp4")):   # also an image, a folder, a camera index
        result.keypoints, result.track_ids                    # [N, K, 3], [N]

Boxes for a frame come from, in this order: the box file (``boxes``, a ``hrpose.apis.io.BoxSource``;
it wins when given), the ``detector``, else the whole frame as one person. Frames go through the detector
and the pose model ``frame_batch`` at a time; the tracker and the filter then see them one by one, in
order. Coordinates: image pixels; boxes ``(x, y, w, h, score)``, keypoints ``(x, y, score)``.
"""

import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from hrpose.apis.detector import PersonDetector
from hrpose.apis.io import BoxSource, Frame, filter_boxes
from hrpose.apis.smoothing import KeypointSmoother
from hrpose.apis.tracking import PoseTracker


@dataclass
class FramePoses:
    """The persons of one frame: ``boxes`` float32 [N, 5], ``keypoints`` float32 [N, K, 3] (smoothed when
    the pipeline has a filter), ``track_ids`` int64 [N] (-1 without a tracker), ``image_id`` (results-json
    id: video frame number, COCO id or file name)."""

    frame: Frame
    boxes: np.ndarray
    keypoints: np.ndarray
    track_ids: np.ndarray
    image_id: int | str


@dataclass
class PipelineStats:
    """Counts and seconds so far (``PosePipeline.stats``)."""

    frames: int = 0
    persons: int = 0
    frames_with_file_boxes: int = 0  # frames the box file had an entry for
    detect_s: float = 0.0
    pose_s: float = 0.0
    names_without_boxes: list = field(default_factory=list)  # first few frame names the box file missed


class PosePipeline:
    """Poses for a stream of frames.

    Args:
        predictor: a ``hrpose.apis.Predictor`` (its ``predict_batch`` runs the pose model).
        boxes: a box file's ``BoxSource`` (see ``hrpose.apis.io.load_box_source``); wins over the detector.
        detector: a ``PersonDetector``, used when ``boxes`` is None. Neither: the whole frame is one person.
        tracker: a ``PoseTracker`` giving track ids (None: ids are -1).
        smoother: a ``KeypointSmoother`` (needs the tracker's ids); time stamps are frame index / its rate.
        box_thr: boxes scoring below are dropped (the box file's; the detector has its own threshold).
        frame_batch: frames per detector / pose-model call.
    """

    def __init__(self, predictor, boxes: BoxSource | None = None, detector: PersonDetector | None = None,
                 tracker: PoseTracker | None = None, smoother: KeypointSmoother | None = None,
                 box_thr: float = 0.0, frame_batch: int = 1):
        if smoother is not None and tracker is None:
            raise ValueError("keypoint smoothing needs track ids: give PosePipeline a tracker too")
        self.predictor, self.box_source, self.detector = predictor, boxes, detector
        self.tracker, self.smoother = tracker, smoother
        self.box_thr, self.frame_batch = float(box_thr), max(1, int(frame_batch))
        self.stats = PipelineStats()

    def run(self, frames: Iterable[Frame]) -> Iterator[FramePoses]:
        """``FramePoses`` for each frame, in order (lazily: a camera stream may be endless)."""
        frames = iter(frames)
        while chunk := list(itertools.islice(frames, self.frame_batch)):
            boxes = self._boxes(chunk)
            start = time.perf_counter()
            keypoints = self.predictor.predict_batch([f.image for f in chunk], [b[:, :4] for b in boxes])
            self.stats.pose_s += time.perf_counter() - start
            for frame, frame_boxes, frame_keypoints in zip(chunk, boxes, keypoints, strict=True):
                yield self._finish(frame, frame_boxes, frame_keypoints)

    def _boxes(self, chunk: list[Frame]) -> list[np.ndarray]:
        if self.box_source is not None:
            return [self._file_boxes(frame) for frame in chunk]
        if self.detector is None:
            return [BoxSource().boxes(frame) for frame in chunk]
        start = time.perf_counter()
        found = self.detector.detect([frame.image for frame in chunk])
        self.stats.detect_s += time.perf_counter() - start
        return [filter_boxes(b, self.box_thr) for b in found]

    def _file_boxes(self, frame: Frame) -> np.ndarray:
        if self.box_source.has_boxes(frame):
            self.stats.frames_with_file_boxes += 1
        elif len(self.stats.names_without_boxes) < 5:
            self.stats.names_without_boxes.append(frame.name)
        return filter_boxes(self.box_source.boxes(frame), self.box_thr)

    def _finish(self, frame: Frame, boxes: np.ndarray, keypoints: np.ndarray) -> FramePoses:
        if self.tracker is not None:
            ids = self.tracker.update(boxes, keypoints)
        else:
            ids = np.full(len(boxes), -1, dtype=np.int64)
        if self.smoother is not None:
            keypoints = self.smoother(ids, keypoints, frame.index / self.smoother.rate)
        self.stats.frames += 1
        self.stats.persons += len(boxes)
        image_id = (self.box_source or BoxSource()).image_id(frame)
        return FramePoses(frame, boxes, keypoints, ids, image_id)
