"""setup_logging: rank 0 logs INFO to the console and train.log, other ranks only warn; calling it again
replaces its own handlers (and no others)."""

import logging

import pytest

from hrpose.utils.logging import setup_logging


@pytest.fixture
def root_logger():
    """The root logger, restored afterwards (level and handlers) so other tests' logging is untouched."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def _own_handlers(root):
    return [h for h in root.handlers if getattr(h, "_hrpose_handler", False)]


def test_rank_0_writes_the_log_file(root_logger, tmp_path):
    setup_logging(tmp_path / "run", rank=0)
    logging.getLogger("hrpose.test").info("hello %d", 1)
    assert root_logger.level == logging.INFO and len(_own_handlers(root_logger)) == 2
    for handler in _own_handlers(root_logger):
        handler.flush()
    text = (tmp_path / "run" / "train.log").read_text()
    assert "INFO hrpose.test: hello 1" in text


def test_calling_again_moves_the_file_and_keeps_foreign_handlers(root_logger, tmp_path):
    foreign = logging.NullHandler()
    root_logger.addHandler(foreign)
    setup_logging(tmp_path / "a", rank=0)
    setup_logging(tmp_path / "b", rank=0, filename="test.log")
    assert len(_own_handlers(root_logger)) == 2 and foreign in root_logger.handlers
    logging.getLogger("hrpose.test").info("second run")
    for handler in _own_handlers(root_logger):
        handler.flush()
    assert "second run" in (tmp_path / "b" / "test.log").read_text()
    assert "second run" not in (tmp_path / "a" / "train.log").read_text()


def test_other_ranks_only_warn_and_write_no_file(root_logger, tmp_path, capsys):
    setup_logging(tmp_path, rank=1)
    assert root_logger.level == logging.WARNING and len(_own_handlers(root_logger)) == 1
    logging.getLogger("hrpose.test").info("not shown")
    logging.getLogger("hrpose.test").warning("shown")
    out = capsys.readouterr().out
    assert "[rank 1]" in out and "shown" in out and "not shown" not in out
    assert not (tmp_path / "train.log").exists()
