"""Pose inference on an image, a folder of images, a video file or a camera: detect -> pose -> track -> draw.

    python tools/infer.py --checkpoint best.pth --input photo.jpg --out out/
    python tools/infer.py --checkpoint best.pth --input images/ --boxes dets.json --box-thr 0.3 --out out/
    python tools/infer.py --checkpoint w32.pth --cfg experiments/coco/hrnet/w32_256x192.yaml --input clip.mp4
    python tools/infer.py --checkpoint best.pth --input 0 --max-frames 300      # camera 0

Person boxes: ``--boxes`` (wins when given): a COCO detector json (list of {image_id, bbox, score,
category_id}; matched by image id, from a 12-digit COCO file name or ``--images-json``, or by file name),
a COCO annotations json (GT boxes), or ``{"file.jpg": [[x, y, w, h, score], ...]}``. Without it a
torchvision detector finds the persons (``--detector``, config ``DETECTOR.*``); its COCO weights are
downloaded once into the torch hub cache, or given with ``--det-weights FILE|FOLDER`` (``--offline``
never downloads). ``--detector none``: the whole image is one person.

Videos and cameras are tracked (person ids, config ``TRACK.*``) and their keypoints filtered (One-Euro,
``SMOOTH.*``); ``--track`` / ``--smooth`` turn either on or off for any input.

Outputs under ``--out`` (see ``hrpose.apis.outputs``): ``keypoints.json`` (COCO results),
``frames.jsonl`` (per frame, with track ids), ``vis/<image>`` pictures or ``<video>_pose.mp4``. The log
shows frames/s and the ETA. Trailing ``KEY VALUE`` pairs override the config (e.g. ``TEST.DECODE dark``).
Exit status: 0 done, 1 ``--strict`` and the box file matched no frame, 2 bad input / checkpoint / config.
"""

import argparse
import logging
import pathlib
import sys
import time

import torch

from hrpose.apis.detector import DETECTOR_MODELS, PersonDetector, build_detector
from hrpose.apis.io import (
    Frame,
    InputError,
    count_frames,
    input_kind,
    iter_frames,
    list_images,
    load_box_source,
    video_fps,
)
from hrpose.apis.outputs import PictureWriter, ResultsWriter, render
from hrpose.apis.pipeline import PosePipeline
from hrpose.apis.predictor import Predictor
from hrpose.apis.smoothing import build_smoother
from hrpose.apis.tracking import build_tracker
from hrpose.config import ConfigError
from hrpose.utils.checkpoint import CheckpointError
from hrpose.utils.progress import ProgressLog

logger = logging.getLogger("infer")

SWITCH = ("auto", "on", "off")  # auto: on for videos and cameras


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--checkpoint", required=True, help="training checkpoint, or a plain state_dict with --cfg")
    add("--cfg", help="experiment yaml (required for a plain state_dict)")
    add("--input", required=True, help="image file, folder of images, video file, or camera index (0, 1)")
    add("--boxes", help="box json (see above); default: the detector")
    add("--images-json", help="COCO json whose 'images' map file names to image ids")
    add("--box-thr", type=float, default=0.3, help="minimum score of a --boxes box")
    add("--strict", action="store_true", help="exit 1 when --boxes matches none of the frames")
    add("--detector", choices=[*DETECTOR_MODELS, "none"],
        help="DETECTOR.MODEL (default: the config's), or none: the whole image is one person")
    add("--det-weights", help="detector weights file or folder (DETECTOR.WEIGHTS; 'random' for smoke tests)")
    add("--det-thr", type=float, help="minimum detector score (DETECTOR.SCORE_THRE)")
    add("--offline", action="store_true", help="never download detector weights (DETECTOR.DOWNLOAD False)")
    add("--track", choices=SWITCH, default="auto", help="person ids across frames (auto: videos, cameras)")
    add("--smooth", choices=SWITCH, default="auto", help="One-Euro keypoint filter (auto: with tracking)")
    add("--fps", type=float, default=0.0, help="frame rate for the filter and the mp4 (0 = the video's; 25)")
    add("--kpt-thr", type=float, default=0.3, help="keypoints scoring below are not drawn")
    add("--out", default="infer_out", help="output directory")
    add("--no-flip", action="store_true", help="no flip test (about 2x faster)")
    add("--draw-boxes", action="store_true", help="draw the person boxes too")
    add("--no-render", action="store_true", help="write the json only (no pictures / video)")
    add("--max-frames", type=int, default=0, help="stop after N frames (0 = all)")
    add("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    add("--threads", type=int, default=0, help="CPU threads for torch (0 = torch's default)")
    add("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return parser.parse_args(argv)


def config_overrides(args: argparse.Namespace) -> list[str]:
    """The detector flags as ``KEY VALUE`` overrides (before the user's own, which win)."""
    opts = []
    if args.detector and args.detector != "none":
        opts += ["DETECTOR.MODEL", args.detector]
    if args.det_weights:
        opts += ["DETECTOR.WEIGHTS", args.det_weights]
    if args.det_thr is not None:
        opts += ["DETECTOR.SCORE_THRE", str(args.det_thr)]
    if args.offline:
        opts += ["DETECTOR.DOWNLOAD", "False"]
    return opts + list(args.opts)


def check_box_names(boxes, input_path, kind: str, strict: bool) -> None:
    """Before any work: warn (``--strict``: raise ``UnmatchedBoxes``) when a box file matches no image."""
    if boxes is None or kind not in ("image", "folder"):
        return
    names = [pathlib.Path(input_path).name] if kind == "image" else [f.name for f in list_images(input_path)]
    missing = [name for i, name in enumerate(names) if not boxes.has_boxes(Frame(name, None, i))]
    report_unmatched(boxes, len(names), len(names) - len(missing), missing[:3], strict)


def report_unmatched(boxes, frames: int, matched: int, examples: list[str], strict: bool) -> None:
    """Log how many frames the box file covered; none: a warning, or ``UnmatchedBoxes`` with ``strict``."""
    if matched or not frames:
        if matched < frames:
            logger.info("--boxes %s has entries for %d of %d frames (none for e.g. %s)", boxes.source,
                        matched, frames, examples)
        return
    message = (f"--boxes {boxes.source} matches none of the {frames} frames (e.g. {examples}), so no "
               "person is posed: check its file names / image ids, or pass --images-json")
    if strict:
        raise UnmatchedBoxes(message)
    logger.warning(message)


class UnmatchedBoxes(InputError):
    """``--strict``: the box file has no entry for any frame."""


def switch(value: str, kind: str) -> bool:
    return value == "on" or (value == "auto" and kind in ("video", "camera"))


def build_pipeline(args, kind: str, predictor: Predictor, boxes, detector: PersonDetector | None,
                   fps: float) -> PosePipeline:
    """Boxes file > injected detector > ``--detector none`` (whole image) > the configured detector."""
    cfg = predictor.cfg
    if boxes is not None or args.detector == "none":
        detector = None
    elif detector is None:
        detector = build_detector(cfg, predictor.device)
    track = switch(args.track, kind)
    smooth = switch(args.smooth, kind) and track
    if args.smooth == "on" and not track:
        logger.warning("--smooth on needs tracking (--track off was given): not smoothing")
    logger.info("boxes: %s; tracking %s; smoothing %s", boxes.source if boxes else detector or "whole image",
                "on" if track else "off", f"on ({fps:g} frames/s)" if smooth else "off")
    tracker = build_tracker(cfg, predictor.keypoint_set) if track else None
    return PosePipeline(predictor, boxes, detector, tracker, build_smoother(cfg, fps) if smooth else None,
                        args.box_thr if boxes else 0.0, int(cfg.DETECTOR.BATCH_SIZE) if detector else 1)


def run(args: argparse.Namespace, detector: PersonDetector | None = None) -> dict:
    """The inference loop; ``detector`` replaces the configured one (tests, other detectors). Returns a
    summary dict (frames, persons, seconds, fps, paths)."""
    kind = input_kind(args.input)  # fail on a bad input or box file before loading any model
    boxes = load_box_source(args.boxes, args.images_json) if args.boxes else None
    check_box_names(boxes, args.input, kind, args.strict)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    overrides = {"flip_test": False} if args.no_flip else {}
    predictor = Predictor.from_checkpoint(args.checkpoint, args.cfg, config_overrides(args),
                                          device=args.device, **overrides)
    logger.info("pose model on %s, flip test %s, keypoint set %s", predictor.device,
                predictor.options.flip_test, predictor.keypoint_set.name)
    fps = args.fps or video_fps(args.input)
    pipeline = build_pipeline(args, kind, predictor, boxes, detector, fps)
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"camera{args.input}" if kind == "camera" else pathlib.Path(args.input).stem
    pictures = PictureWriter(out_dir, stem, kind, fps, enabled=not args.no_render)
    results = ResultsWriter(out_dir)
    total = count_frames(args.input)  # None for a camera: no progress line
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    start = time.perf_counter()
    try:
        loop(args, pipeline, pictures, results, ProgressLog("posed", total, "frames", logger, every_s=5.0)
             if total else None)
    finally:
        pictures.close()
        results.close()
    stats, seconds = pipeline.stats, time.perf_counter() - start
    if boxes is not None and kind in ("video", "camera"):
        report_unmatched(boxes, stats.frames, stats.frames_with_file_boxes, stats.names_without_boxes[:3],
                         args.strict)
    return {"frames": stats.frames, "persons": stats.persons, "seconds": seconds,
            "fps": stats.frames / max(seconds, 1e-9), "pose_fps": stats.frames / max(stats.pose_s, 1e-9),
            "detect_fps": stats.frames / stats.detect_s if stats.detect_s else None,
            "json": str(results.json_path), "frames_json": str(results.frames_path),
            "pictures": pictures.describe(), "device": str(predictor.device)}


def loop(args, pipeline: PosePipeline, pictures: PictureWriter, results: ResultsWriter, progress) -> None:
    """Pipeline results into the writers until the input ends, ``--max-frames`` or Ctrl-C."""
    skeleton = pipeline.predictor.keypoint_set.skeleton
    draw_boxes = args.draw_boxes or pipeline.tracker is not None
    try:
        for result in pipeline.run(iter_frames(args.input)):
            results.add(result)
            if pictures.enabled:
                picture = render(result.frame.image, result.keypoints, result.boxes, skeleton, args.kpt_thr,
                                 draw_boxes, result.track_ids)
                pictures.write(result.frame, picture)
            if progress is not None:
                progress.update(1)
            if args.max_frames and pipeline.stats.frames >= args.max_frames:
                break
    except KeyboardInterrupt:  # a camera runs until stopped: keep what was done
        logger.warning("interrupted after %d frames; writing the results so far", pipeline.stats.frames)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        summary = run(parse_args(argv))
    except UnmatchedBoxes as err:
        print(f"error (--strict): {err}", file=sys.stderr)
        return 1
    except (InputError, CheckpointError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    detect = f", detector {summary['detect_fps']:.2f} frames/s" if summary["detect_fps"] else ""
    line = (f"{summary['frames']} frames, {summary['persons']} persons in {summary['seconds']:.2f} s on "
            f"{summary['device']}: {summary['fps']:.2f} frames/s end to end{detect} "
            f"(pose model {summary['pose_fps']:.2f} frames/s incl. crops and decoding)")
    logger.info(line)
    print(line)
    print(f"results: {summary['json']}, {summary['frames_json']}; pictures: {summary['pictures']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
