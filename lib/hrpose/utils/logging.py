"""Logging setup: rank 0 logs INFO to the console and to ``<output_dir>/train.log``; other ranks only warn.

Library modules use ``logging.getLogger(__name__)``; this is the one place handlers are installed.
"""

import logging
import os
import pathlib
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_HANDLER_TAG = "_hrpose_handler"


def setup_logging(output_dir: str | os.PathLike | None, rank: int = 0, filename: str = "train.log") -> None:
    """Install the console (and, on rank 0, file) handlers on the root logger; idempotent.

    Calling it again (a second run in the same process, as in tests) replaces the handlers it
    installed before, so the new run's ``train.log`` receives the lines.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_TAG, False)]:
        root.removeHandler(handler)
        handler.close()
    level = logging.INFO if rank == 0 else logging.WARNING
    root.setLevel(level)
    formatter = logging.Formatter(_FORMAT if rank == 0 else f"[rank {rank}] {_FORMAT}", _DATE_FORMAT)
    console = logging.StreamHandler(sys.stdout)
    # a record logged with extra={"console": False} goes to train.log only (its text is shown otherwise)
    console.addFilter(lambda record: getattr(record, "console", True))
    handlers: list[logging.Handler] = [console]
    if rank == 0 and output_dir is not None:
        pathlib.Path(output_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(pathlib.Path(output_dir) / filename, mode="a"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.setLevel(level)
        setattr(handler, _HANDLER_TAG, True)
        root.addHandler(handler)
