"""The defaults: every key the reference knew, valid as they stand, cloned per use, and an open
MODEL.EXTRA for the architecture spec."""

from yacs.config import CfgNode

from hrpose.config import get_cfg, load_cfg
from hrpose.config.defaults import UNUSED_REFERENCE_KEYS
from hrpose.config.loading import _CHOICES


def _get(cfg, dotted):
    for part in dotted.split("."):
        assert part in cfg, dotted
        cfg = cfg[part]
    return cfg


def test_get_cfg_is_a_mutable_clone():
    cfg = get_cfg()
    assert not cfg.is_frozen()
    cfg.TRAIN.LR = 123.0
    cfg.MODEL.EXTRA.STAGE2 = CfgNode({"NUM_BRANCHES": 2})
    fresh = get_cfg()
    assert fresh.TRAIN.LR == 0.001 and "STAGE2" not in fresh.MODEL.EXTRA


def test_defaults_pass_validation_and_are_consistent():
    cfg = load_cfg(None)
    for key, choices in _CHOICES.items():
        assert _get(cfg, key) in choices, key
    assert [s // 4 for s in cfg.MODEL.IMAGE_SIZE] == list(cfg.MODEL.HEATMAP_SIZE)
    assert cfg.AUTO_RESUME and cfg.TRAIN.AMP == cfg.TEST.AMP == "none"


def test_unused_reference_keys_exist():
    cfg = get_cfg()
    for key in UNUSED_REFERENCE_KEYS:
        _get(cfg, key)


def test_model_extra_takes_any_architecture_key():
    cfg = get_cfg()
    cfg.merge_from_other_cfg(CfgNode({"MODEL": {"EXTRA": {"STAGE2": {"NUM_CHANNELS": [32, 64]},
                                                          "NUM_DECONV_LAYERS": 3}}}))
    assert cfg.MODEL.EXTRA.STAGE2.NUM_CHANNELS == [32, 64] and cfg.MODEL.EXTRA.NUM_DECONV_LAYERS == 3
