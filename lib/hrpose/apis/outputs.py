"""What inference writes: COCO results json, per-frame json lines with track ids, rendered pictures / video.

Files under the output folder (``tools/infer.py --out``):

* ``keypoints.json``: COCO keypoint results, one record per person: ``image_id``, ``category_id`` 1,
  ``keypoints`` [3K] ``(x, y, score)``, ``score`` (mean keypoint score x box score), plus ``box``
  ``[x, y, w, h]`` and ``box_score`` (not ``bbox``: COCO's ``loadRes`` would take its area).
* ``frames.jsonl``: one json object per frame and line, written as frames come (a camera run can be
  stopped at any time): ``{"frame", "name", "image_id", "persons": [{"track_id", "box", "box_score",
  "keypoints" [[x, y, score] x K], "score"}]}``; ``track_id`` is -1 without tracking.
* ``vis/<image name>`` for images and folders, ``<video stem>_pose.mp4`` (mp4v) for a video or camera:
  skeletons (one colour per limb), and with boxes or tracking the box with its track id / score.
"""

import json
import pathlib

import cv2
import numpy as np

from hrpose.apis.io import Frame
from hrpose.utils import vis

TRACK_COLORS = vis.palette(12)  # box colour of track id i: TRACK_COLORS[i % 12]


def result_records(image_id, keypoints: np.ndarray, boxes: np.ndarray) -> list[dict]:
    """COCO results for one image: keypoints [N, K, 3] (x, y, score), boxes [N, 5] (x, y, w, h, score)."""
    records = []
    for kpts, box in zip(keypoints, boxes, strict=True):
        records.append({
            "image_id": image_id,
            "category_id": 1,
            "keypoints": [round(float(v), 3) for v in kpts.reshape(-1)],
            "score": float(kpts[:, 2].mean() * box[4]),
            "box": [round(float(v), 2) for v in box[:4]],  # not 'bbox': COCO loadRes would take its area
            "box_score": float(box[4]),
        })
    return records


def frame_record(result) -> dict:
    """The ``frames.jsonl`` object of one ``hrpose.apis.pipeline.FramePoses``."""
    persons = []
    for record, track_id in zip(result_records(result.image_id, result.keypoints, result.boxes),
                                result.track_ids.tolist(), strict=True):
        persons.append({"track_id": int(track_id), "box": record["box"], "box_score": record["box_score"],
                        "keypoints": np.asarray(record["keypoints"]).reshape(-1, 3).tolist(),
                        "score": record["score"]})
    frame = result.frame
    return {"frame": frame.index, "name": frame.name, "image_id": result.image_id, "persons": persons}


def render(image: np.ndarray, keypoints: np.ndarray, boxes: np.ndarray, skeleton, kpt_thr: float,
           draw_boxes: bool, track_ids: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``image`` (BGR) with the skeletons (``hrpose.utils.vis``, shared with training's images);
    with ``draw_boxes`` the boxes and their scores, and with track ids (>= 0) each box in its track's
    colour, labelled ``#id``."""
    tracked = track_ids is not None and len(track_ids) and (np.asarray(track_ids) >= 0).any()
    out = vis.draw_poses(image, keypoints, skeleton, kpt_thr=kpt_thr,
                         boxes_xywh=boxes[:, :4] if draw_boxes and not tracked else None,
                         box_scores=boxes[:, 4] if draw_boxes and not tracked else None)
    if tracked:
        for box, track_id in zip(boxes, np.asarray(track_ids).tolist(), strict=True):
            color = TRACK_COLORS[track_id % len(TRACK_COLORS)]
            out = vis.draw_boxes(out, box[None, :4], color=color, thickness=2)
            cv2.putText(out, f"#{track_id}", (int(box[0]) + 2, int(box[1]) + 14), cv2.FONT_HERSHEY_SIMPLEX,
                        0.5, color, 1, cv2.LINE_AA)
    return out


class PictureWriter:
    """Rendered frames: one picture per image under ``out/vis``, or one mp4 for a video or camera."""

    def __init__(self, out_dir: pathlib.Path, stem: str, kind: str, fps: float, enabled: bool = True):
        self.enabled, self.kind, self.fps = enabled, kind, float(fps)
        self.vis_dir = out_dir / "vis"
        self.video_path = out_dir / f"{stem}_pose.mp4"
        self._writer = None
        self.written = 0

    def write(self, frame: Frame, picture: np.ndarray) -> None:
        if not self.enabled:
            return
        if self.kind in ("image", "folder"):
            self.vis_dir.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(self.vis_dir / frame.name), picture):
                raise OSError(f"cannot write {self.vis_dir / frame.name}")
        else:
            if self._writer is None:
                h, w = picture.shape[:2]
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                self._writer = cv2.VideoWriter(str(self.video_path), fourcc, self.fps, (w, h))
                if not self._writer.isOpened():
                    raise OSError(f"cannot open a video writer (mp4v) for {self.video_path}")
            self._writer.write(picture)
        self.written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def describe(self) -> str:
        if not self.enabled or not self.written:
            return "no pictures"
        return f"{self.written} pictures in {self.vis_dir}" if self.kind in ("image", "folder") else str(
            self.video_path)


class ResultsWriter:
    """``keypoints.json`` (written by ``close``) and ``frames.jsonl`` (one line per ``add``, flushed)."""

    def __init__(self, out_dir: pathlib.Path):
        self.json_path, self.frames_path = out_dir / "keypoints.json", out_dir / "frames.jsonl"
        self.records: list[dict] = []
        self._frames = open(self.frames_path, "w", encoding="utf-8")  # closed by close()

    def add(self, result) -> None:
        """Record one ``FramePoses``."""
        self.records += result_records(result.image_id, result.keypoints, result.boxes)
        self._frames.write(json.dumps(frame_record(result)) + "\n")
        self._frames.flush()

    def close(self) -> None:
        self._frames.close()
        with open(self.json_path, "w", encoding="utf-8") as f:
            json.dump(self.records, f)
