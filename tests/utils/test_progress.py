"""Progress lines: rate and ETA, throttled, always the last one."""

import logging

from hrpose.utils.progress import ProgressLog


def test_progress_logs_the_end_with_rate_and_eta(caplog):
    log = logging.getLogger("test.progress")
    progress = ProgressLog("predict", 10, "boxes", log, every_s=3600)
    with caplog.at_level(logging.INFO, logger="test.progress"):
        for _ in range(5):
            progress.update(2)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1  # throttled: only the final line within the hour
    assert lines[0].startswith("predict: 10/10 boxes (100.0%), ") and "boxes/s" in lines[0]
    assert lines[0].endswith("eta 0:00:00")


def test_progress_every_interval_and_unknown_total(caplog):
    log = logging.getLogger("test.progress")
    progress = ProgressLog("infer", 0, "frames", log, every_s=0.0)
    with caplog.at_level(logging.INFO, logger="test.progress"):
        progress.update(3)
        progress.update(4)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and lines[1].startswith("infer: 7 frames, ") and "eta" not in lines[1]
