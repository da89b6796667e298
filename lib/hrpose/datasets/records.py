"""Person records as compact arrays, and an on-disk cache of them, for COCO-scale datasets.

Full COCO train2017 is 149,813 persons from a 238 MB json. As Python objects (a ``PersonRecord`` per
person, plus the parsed json that CPython's allocator never gives back) that costs every rank more
than 1 GB, parsed again at every start, and every DataLoader worker slowly copies the objects'
pages (reference counts are writes). ``PersonRecords`` keeps the same information in a dozen numpy
arrays (~40 MB for COCO train) and a string table, so:

* workers read array slices, whose pages are never written, and stay at their start size;
* ``records[i]`` builds the ``PersonRecord`` of one person on demand (the ``TopDownDataset`` API);
* ``cached_records`` parses the json in a forked child process that writes the arrays to a cache
  file (``.npz``, written atomically) and exits, so the training process never holds the parsed json;
  later starts, other ranks and other nodes load the file in a fraction of a second.

The cache key covers the annotation json's and the detector json's path, size and modification time,
and every setting that changes the records (image set, K, aspect ratio, GT or detector boxes, score
threshold, SELECT_DATA, the format version): a changed file or setting builds a new cache entry.
"""

import contextlib
import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import pathlib
import pickle
import time
import uuid
from collections.abc import Callable

import numpy as np

from hrpose.datasets.coco import PersonRecord

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
ARRAYS = {  # name: dtype; shapes [N, ...]
    "image_ids": np.int64, "path_index": np.int32, "centers": np.float32, "scales": np.float32,
    "boxes": np.float32, "scores": np.float32, "areas": np.float64, "keypoints": np.float32,
    "ann_ids": np.int64,
}


class PersonRecords:
    """N person records as arrays; ``records[i]`` is a ``PersonRecord``; ``len(records)`` is N.

    ``paths`` is the table of image paths (one per image, not per person), ``path_index`` [N] indexes it.
    """

    def __init__(self, arrays: dict[str, np.ndarray], paths: np.ndarray):
        self.arrays = {name: np.asarray(arrays[name], dtype=dtype) for name, dtype in ARRAYS.items()}
        self.paths = np.asarray(paths, dtype=np.str_)
        for value in (*self.arrays.values(), self.paths):
            value.flags.writeable = False
        lengths = {len(v) for v in self.arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"PersonRecords: arrays of different lengths {sorted(lengths)}")

    @classmethod
    def from_list(cls, records: list[PersonRecord], num_keypoints: int) -> "PersonRecords":
        """Pack ``PersonRecord`` objects (in order)."""
        table: dict[str, int] = {}
        path_index = [table.setdefault(r.image_path, len(table)) for r in records]
        arrays = {
            "image_ids": [r.image_id for r in records], "path_index": path_index,
            "centers": np.reshape([r.center for r in records], (-1, 2)),
            "scales": np.reshape([r.scale for r in records], (-1, 2)),
            "boxes": np.reshape([r.box_xywh for r in records], (-1, 4)),
            "scores": [r.score for r in records], "areas": [r.area for r in records],
            "keypoints": np.reshape([r.keypoints for r in records], (-1, num_keypoints, 3)),
            "ann_ids": [r.ann_id for r in records],
        }
        return cls(arrays, np.array(list(table), dtype=np.str_) if table else np.zeros(0, dtype=np.str_))

    def __len__(self) -> int:
        return len(self.arrays["image_ids"])

    def __getitem__(self, index: int) -> PersonRecord:
        a, i = self.arrays, int(index)
        return PersonRecord(image_id=int(a["image_ids"][i]), image_path=str(self.paths[a["path_index"][i]]),
                            center=a["centers"][i], scale=a["scales"][i], box_xywh=a["boxes"][i],
                            score=float(a["scores"][i]), area=float(a["areas"][i]),
                            keypoints=a["keypoints"][i], ann_id=int(a["ann_ids"][i]))

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.arrays.values()) + self.paths.nbytes

    def save(self, path: pathlib.Path) -> None:
        """Write to ``path`` (.npz) atomically: a temp file in the same folder, then a rename."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, paths=self.paths, **self.arrays)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: pathlib.Path) -> "PersonRecords":
        with np.load(path, allow_pickle=False) as data:
            return cls({name: data[name] for name in ARRAYS}, data["paths"])


def _file_stamp(path: str) -> list:
    if not path:
        return ["", 0, 0]
    stat = os.stat(path)
    return [os.path.abspath(path), stat.st_size, stat.st_mtime_ns]


def cache_key(ann_file: str, det_file: str, settings: dict) -> str:
    """A hash of the input files' identity (path, size, mtime) and the settings that shape the records."""
    blob = json.dumps({"version": FORMAT_VERSION, "ann": _file_stamp(ann_file), "det": _file_stamp(det_file),
                       "settings": settings}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def default_cache_dir() -> pathlib.Path:
    """``$XDG_CACHE_HOME/hrpose/records`` (``~/.cache/hrpose/records``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "hrpose" / "records"


def _build_into(path: pathlib.Path, build: Callable[[], list[PersonRecord]], num_keypoints: int) -> None:
    PersonRecords.from_list(build(), num_keypoints).save(path)


class _ToParent(logging.Handler):
    """In the builder child: every log record goes to the parent, which handles it as its own."""

    def __init__(self, queue):
        super().__init__()
        self.queue = queue

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args, record.exc_info = record.getMessage(), None, None  # picklable
        self.queue.put(("log", record))


def build_in_child(path: pathlib.Path, build: Callable[[], list[PersonRecord]], num_keypoints: int) -> None:
    """Run ``build`` in a forked process that saves the packed records to ``path`` (the child's parsed json
    never enters this process's heap). Its log records are handled here, in order, as if logged here;
    its exception, if any, is raised here."""
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()

    def child():
        root = logging.getLogger()
        root.handlers = [_ToParent(queue)]
        try:
            _build_into(path, build, num_keypoints)
            queue.put(("done", None))
        except BaseException as err:  # noqa: BLE001 - every failure is reported to the parent
            queue.put(("done", err if _picklable(err) else RuntimeError(f"{type(err).__name__}: {err}")))

    process = context.Process(target=child, name="hrpose-records")
    process.start()
    while True:
        kind, payload = queue.get()
        if kind == "log":
            logging.getLogger(payload.name).handle(payload)
            continue
        break
    process.join()
    if payload is not None:
        raise payload
    if process.exitcode != 0:
        raise RuntimeError(f"building the records cache {path} failed (exit code {process.exitcode})")


def _picklable(value) -> bool:
    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001 - any pickling failure means: send a plain copy instead
        return False
    return True


@contextlib.contextmanager
def _exclusive(lock_path: pathlib.Path):
    """One builder at a time per cache entry on this file system (other ranks wait, then load)."""
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_records(cache_dir: pathlib.Path | None, key: str, build: Callable[[], list[PersonRecord]],
                   num_keypoints: int, what: str) -> PersonRecords:
    """The records of ``build()``, from ``cache_dir/<key>.npz`` when present, else built (in a child
    process) and cached. ``cache_dir`` None: built in this process, not cached. ``what`` names the
    records in the log."""
    start = time.perf_counter()
    if cache_dir is None:
        records = PersonRecords.from_list(build(), num_keypoints)
        logger.info("%s: %d records built in %.1f s (no cache)", what, len(records),
                    time.perf_counter() - start)
        return records
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{key}.npz"
    with _exclusive(cache_dir / f"{key}.lock"):
        built = not path.is_file()
        if built:
            logger.info("%s: building the records (cache %s) ...", what, path)
            build_in_child(path, build, num_keypoints)
    records = PersonRecords.load(path)
    logger.info("%s: %d records (%.1f MB) %s in %.1f s", what, len(records), records.nbytes / 1e6,
                f"built and cached at {path}" if built else f"loaded from the cache {path}",
                time.perf_counter() - start)
    return records
