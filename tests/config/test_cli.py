"""The tools' shared command line: ``--cfg FILE [KEY VALUE ...]``, the reference's directory flags and
their aliases, and the frozen config they give."""

import argparse
import logging

import pytest

from hrpose.config import ConfigError
from hrpose.config.cli import add_config_arguments, cfg_from_args, parse_tool_args, run_tool


def _parse(*argv, cfg_required=True):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, cfg_required=cfg_required)
    return parser.parse_args(list(argv))


def test_overrides_and_directory_flags(tiny_yaml):
    args = _parse("--cfg", str(tiny_yaml), "--output_dir", "out", "--logDir", "tb", "--data-dir", "/data",
                  "TEST.FLIP_TEST", "False", "TRAIN.LR", "0.01")
    cfg = cfg_from_args(args)
    assert cfg.is_frozen() and cfg.MODEL.IMAGE_SIZE == [64, 96]  # the yaml
    assert not cfg.TEST.FLIP_TEST and cfg.TRAIN.LR == 0.01  # the overrides
    assert (cfg.OUTPUT_DIR, cfg.LOG_DIR, cfg.DATA_DIR) == ("out", "tb", "/data")


@pytest.mark.parametrize("flag", ["--output_dir", "--output-dir", "--modelDir"])
def test_aliases_of_the_output_flag(tiny_yaml, flag):
    assert _parse("--cfg", str(tiny_yaml), flag, "runs").output_dir == "runs"


def test_directory_flags_win_over_the_overrides(tiny_yaml):
    cfg = cfg_from_args(_parse("--cfg", str(tiny_yaml), "--modelDir", "flag", "OUTPUT_DIR", "override"))
    assert cfg.OUTPUT_DIR == "flag"


def test_cfg_is_required_unless_told_otherwise(capsys):
    with pytest.raises(SystemExit):
        _parse()
    assert "--cfg" in capsys.readouterr().err
    args = _parse("TRAIN.LR", "0.5", cfg_required=False)
    assert args.cfg is None and cfg_from_args(args).TRAIN.LR == 0.5  # the defaults + overrides


def test_prev_model_dir_is_accepted_and_ignored(tiny_yaml, caplog):
    with caplog.at_level(logging.WARNING, logger="hrpose.config.cli"):
        cfg = cfg_from_args(_parse("--cfg", str(tiny_yaml), "--prevModelDir", "old"))
    assert "--prevModelDir" in caplog.text and "no effect" in caplog.text and cfg.OUTPUT_DIR == ""


def test_unknown_override_names_the_key(tiny_yaml):
    with pytest.raises(ConfigError, match="TRAIN.NO_SUCH_KEY"):
        cfg_from_args(_parse("--cfg", str(tiny_yaml), "TRAIN.NO_SUCH_KEY", "1"))


def test_flags_may_come_after_and_between_the_overrides(tiny_yaml):
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    add_config_arguments(parser)
    args = parse_tool_args(parser, ["--cfg", str(tiny_yaml), "TEST.FLIP_TEST", "False", "--device", "cpu",
                                    "WORKERS", "3"])
    assert args.device == "cpu" and args.opts == ["TEST.FLIP_TEST", "False", "WORKERS", "3"]
    cfg = cfg_from_args(args)
    assert cfg.TEST.FLIP_TEST is False and cfg.WORKERS == 3


def test_user_errors_end_in_one_line_and_status_2(capsys):
    def main():
        raise ConfigError("x.yaml: TRAIN.LR = 'fast'; expected a float")

    with pytest.raises(SystemExit) as info:
        run_tool(main)
    assert info.value.code == 2
    assert capsys.readouterr().err == "error: x.yaml: TRAIN.LR = 'fast'; expected a float\n"
