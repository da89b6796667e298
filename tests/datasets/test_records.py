"""Compact person records: the same records as the list, a cache that is built once (in a child process)
and reused, keys that change with the input files, and build errors that reach the caller."""

import logging
import os
import pathlib

import numpy as np
import pytest

from hrpose.datasets import CocoFormatError, load_coco_records
from hrpose.datasets.records import PersonRecords, cache_key, cached_records

ANN = "annotations/person_keypoints_val2017.json"


def _listed(root):
    return load_coco_records(str(root), "val2017", 17, 0.75)[0]


def _same(a, b) -> bool:
    return (a.image_id == b.image_id and a.image_path == b.image_path and a.ann_id == b.ann_id
            and a.score == pytest.approx(b.score) and a.area == b.area
            and all(np.array_equal(getattr(a, k), getattr(b, k))
                    for k in ("center", "scale", "box_xywh", "keypoints")))


def test_arrays_hold_the_same_records_and_round_trip_through_a_file(sample_data_root, tmp_path):
    listed = _listed(sample_data_root)
    packed = PersonRecords.from_list(listed, 17)
    assert len(packed) == len(listed) > 0
    assert all(_same(a, b) for a, b in zip(listed, packed, strict=True))
    packed.save(tmp_path / "r.npz")
    loaded = PersonRecords.load(tmp_path / "r.npz")
    assert all(_same(a, b) for a, b in zip(listed, loaded, strict=True))
    assert not loaded.arrays["keypoints"].flags.writeable
    assert [p.name for p in tmp_path.iterdir()] == ["r.npz"]
    assert len(loaded.paths) == len({r.image_path for r in listed})  # one path per image, not per person


def test_cache_is_built_once_then_loaded(sample_data_root, tmp_path, caplog):
    calls = tmp_path / "calls"

    def build():
        with open(calls, "a") as f:  # the build runs in a child process: count calls in a file
            f.write("x")
        return _listed(sample_data_root)

    key = cache_key(str(sample_data_root / ANN), "", {"set": "val2017"})
    first = cached_records(tmp_path / "cache", key, build, 17, "val")
    with caplog.at_level(logging.INFO, logger="hrpose.datasets.records"):
        second = cached_records(tmp_path / "cache", key, build, 17, "val")
    assert calls.read_text() == "x"
    assert all(_same(a, b) for a, b in zip(first, second, strict=True))
    assert "loaded from the cache" in caplog.text


def test_key_changes_with_the_file_and_the_settings(sample_data_root, tmp_path):
    ann = tmp_path / "a.json"
    ann.write_text((sample_data_root / ANN).read_text())
    key = cache_key(str(ann), "", {"aspect": 0.75})
    assert key == cache_key(str(ann), "", {"aspect": 0.75})
    assert key != cache_key(str(ann), "", {"aspect": 1.0})
    os.utime(ann, ns=(1, 1))
    assert key != cache_key(str(ann), "", {"aspect": 0.75})


def test_a_build_error_reaches_the_caller_and_nothing_is_cached(tmp_path):
    def build():
        raise CocoFormatError("/data/x.json: annotation id 3 has 48 keypoint values; expected 51")

    with pytest.raises(CocoFormatError, match="annotation id 3 has 48 keypoint values"):
        cached_records(tmp_path, "k", build, 17, "train")
    assert not pathlib.Path(tmp_path / "k.npz").exists()
