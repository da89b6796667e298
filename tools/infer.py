"""Pose inference on an image, a folder of images or a video; writes a COCO results json and pictures.

    python tools/infer.py --checkpoint best.pth --input photo.jpg --out out/
    python tools/infer.py --checkpoint best.pth --input images/ --boxes dets.json --box-thr 0.3 --out out/
    python tools/infer.py --checkpoint w32.pth --cfg experiments/coco/hrnet/w32_256x192.yaml --input clip.mp4

Boxes (``--boxes``): a COCO detector json (list of {image_id, bbox, score, category_id}; matched by image
id, from a 12-digit COCO file name or ``--images-json``, or by file name), a COCO annotations json (GT
boxes), or ``{"file.jpg": [[x, y, w, h, score], ...]}``. Without ``--boxes`` the whole image is one person.

Outputs under ``--out``: ``keypoints.json`` (COCO results: image_id, category_id 1, keypoints [3K],
score = mean keypoint score x box score, plus the box), and ``vis/<image>`` pictures or
``<video>_pose.mp4`` (mp4v). Trailing ``KEY VALUE`` pairs override the config (e.g. ``TEST.DECODE dark``).
"""

import argparse
import json
import logging
import pathlib
import sys
import time

import cv2
import numpy as np
import torch

from hrpose.apis.io import (
    Frame,
    InputError,
    filter_boxes,
    input_kind,
    iter_frames,
    load_box_source,
    video_fps,
)
from hrpose.apis.predictor import Predictor
from hrpose.config import ConfigError
from hrpose.utils import vis
from hrpose.utils.checkpoint import CheckpointError

logger = logging.getLogger("infer")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True,
                        help="training checkpoint, or a plain state_dict with --cfg")
    parser.add_argument("--cfg", help="experiment yaml (required for a plain state_dict)")
    parser.add_argument("--input", required=True, help="image file, folder of images, or video file")
    parser.add_argument("--boxes", help="box json (see above); default: the whole image is one person")
    parser.add_argument("--images-json", help="COCO json whose 'images' map file names to image ids")
    parser.add_argument("--box-thr", type=float, default=0.3, help="minimum box score")
    parser.add_argument("--kpt-thr", type=float, default=0.3, help="keypoints scoring below are not drawn")
    parser.add_argument("--out", default="infer_out", help="output directory")
    parser.add_argument("--no-flip", action="store_true", help="no flip test (about 2x faster)")
    parser.add_argument("--draw-boxes", action="store_true", help="draw the person boxes too")
    parser.add_argument("--no-render", action="store_true", help="write the json only (no pictures / video)")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0 = all)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = torch's default)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return parser.parse_args(argv)


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


def render(image: np.ndarray, keypoints: np.ndarray, boxes: np.ndarray, keypoint_set, kpt_thr: float,
           draw_boxes: bool) -> np.ndarray:
    """A copy of ``image`` (BGR) with skeletons (one colour per limb) and optionally the boxes, drawn by
    ``hrpose.utils.vis`` (the drawing module shared with training's TensorBoard images)."""
    return vis.draw_poses(image, keypoints, keypoint_set.skeleton, kpt_thr=kpt_thr,
                          boxes_xywh=boxes[:, :4] if draw_boxes else None,
                          box_scores=boxes[:, 4] if draw_boxes else None)


class Outputs:
    """Where rendered frames go: one picture per image under ``out/vis``, or one mp4 for a video."""

    def __init__(self, out_dir: pathlib.Path, input_path: str, kind: str, enabled: bool):
        self.enabled, self.kind, self.input_path = enabled, kind, pathlib.Path(input_path)
        self.vis_dir = out_dir / "vis"
        self.video_path = out_dir / f"{self.input_path.stem}_pose.mp4"
        self._writer = None
        self.written = 0

    def write(self, frame: Frame, picture: np.ndarray) -> None:
        if not self.enabled:
            return
        if self.kind != "video":
            self.vis_dir.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(self.vis_dir / frame.name), picture):
                raise OSError(f"cannot write {self.vis_dir / frame.name}")
        else:
            if self._writer is None:
                h, w = picture.shape[:2]
                fps = video_fps(self.input_path)
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                self._writer = cv2.VideoWriter(str(self.video_path), fourcc, fps, (w, h))
                if not self._writer.isOpened():
                    raise OSError(f"cannot open a video writer (mp4v) for {self.video_path}")
            self._writer.write(picture)
        self.written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()

    def describe(self) -> str:
        if not self.enabled or not self.written:
            return "no pictures"
        return str(self.video_path) if self.kind == "video" else f"{self.written} pictures in {self.vis_dir}"


def run(args: argparse.Namespace) -> dict:
    """The inference loop; returns a summary dict (frames, persons, seconds, fps, paths)."""
    kind = input_kind(args.input)  # fail on a bad input or box file before loading the model
    boxes_from = load_box_source(args.boxes, args.images_json)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    overrides = {"flip_test": False} if args.no_flip else {}
    predictor = Predictor.from_checkpoint(args.checkpoint, args.cfg, args.opts, device=args.device,
                                          **overrides)
    logger.info("model on %s, flip test %s, keypoint set %s", predictor.device, predictor.options.flip_test,
                predictor.keypoint_set.name)
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = Outputs(out_dir, args.input, kind, enabled=not args.no_render)
    results, frames, persons, pose_s = [], 0, 0, 0.0
    start = time.perf_counter()
    try:
        for frame in iter_frames(args.input):
            boxes = filter_boxes(boxes_from.boxes(frame), args.box_thr)
            t0 = time.perf_counter()
            keypoints = predictor.predict(frame.image, boxes[:, :4], color="bgr")
            pose_s += time.perf_counter() - t0
            results += result_records(boxes_from.image_id(frame), keypoints, boxes)
            if outputs.enabled:
                outputs.write(frame, render(frame.image, keypoints, boxes, predictor.keypoint_set,
                                            args.kpt_thr, args.draw_boxes))
            frames, persons = frames + 1, persons + len(boxes)
            if args.max_frames and frames >= args.max_frames:
                break
    finally:
        outputs.close()
    seconds = time.perf_counter() - start
    json_path = out_dir / "keypoints.json"
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(results, f)
    return {"frames": frames, "persons": persons, "seconds": seconds, "fps": frames / max(seconds, 1e-9),
            "pose_fps": frames / max(pose_s, 1e-9), "json": str(json_path), "pictures": outputs.describe(),
            "device": str(predictor.device)}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        summary = run(parse_args(argv))
    except (InputError, CheckpointError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    line = (f"{summary['frames']} frames, {summary['persons']} persons in {summary['seconds']:.2f} s on "
            f"{summary['device']}: {summary['fps']:.2f} frames/s end to end "
            f"({summary['pose_fps']:.2f} frames/s pose model incl. crops and decoding)")
    logger.info(line)
    print(line)
    print(f"results: {summary['json']}; pictures: {summary['pictures']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
