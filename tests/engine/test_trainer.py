"""Kill-and-resume: a run interrupted mid-epoch and restarted with the same command ends with the same
weights as an uninterrupted run (CPU, tiny HRNet, tiny synthetic data, the real trainer). Short trainings
on the CrowdPose-style and MPII-format sample data end well above chance."""

import os

import pytest
import torch

from hrpose.codecs import build_codec
from hrpose.datasets import build_keypoint_set
from hrpose.engine import trainer
from hrpose.engine.evaluate import build_evaluator
from hrpose.models import build_model
from hrpose.utils.checkpoint import load_checkpoint
from hrpose.utils.run_dir import RunDirectoryError, RunLock

pytestmark = pytest.mark.slow


@pytest.fixture
def run_cfg(tiny_cfg, sample_data_root):
    """``run_cfg(out_dir)``: the tiny HRNet trained 3 epochs on the sample data (AUTO_RESUME, the default)."""

    def build(out_dir):
        return tiny_cfg(
            "DATASET.ROOT", sample_data_root, "DATASET.TRAIN_SET", "train2017", "DATASET.TEST_SET", "val2017",
            "TEST.USE_GT_BBOX", "True", "OUTPUT_DIR", out_dir, "WORKERS", "0", "PRINT_FREQ", "100",
            "MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]", "TRAIN.BATCH_SIZE_PER_GPU", "8",
            "TEST.BATCH_SIZE_PER_GPU", "16", "TRAIN.END_EPOCH", "3", "TRAIN.LR_STEP", "[2]",
            "TRAIN.VAL_INTERVAL", "2", "TRAIN.WARMUP_ITERS", "4")

    return build


class Interrupted(Exception):
    pass


class InterruptingLoader:
    """The real loader, raising ``Interrupted`` instead of yielding batch ``at``."""

    def __init__(self, loader, at: int):
        self.loader, self.at = loader, at
        self.dataset, self.sampler = loader.dataset, loader.sampler

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i == self.at:
                raise Interrupted(f"killed at iteration {i}")
            yield batch


class FakeEvaluator:
    """Cheap and deterministic in the weights (the real evaluation is tested elsewhere)."""

    primary_stat = "AP"  # the number that selects best.pth (Evaluator.primary_stat; PCKh: "Mean")

    def run(self, model, output_dir, oracle=False, name="model"):
        total = sum(p.detach().double().abs().sum() for p in model.parameters())
        return {"AP": float(total % 1.0), "AP .5": 0.5}


def test_interrupted_run_resumes_to_identical_weights(run_cfg, tiny_yaml, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "build_evaluator", lambda *args, **kwargs: FakeEvaluator())
    cpu = torch.device("cpu")
    cfg_path = str(tiny_yaml)  # names the run directory
    assert run_cfg(tmp_path).AUTO_RESUME
    reference = trainer.train(run_cfg(tmp_path / "a"), cfg_path, cpu)

    cfg = run_cfg(tmp_path / "b")
    real_train_one_epoch = trainer.train_one_epoch

    def interrupt_epoch_1(step, loader, device, epoch, *args, **kwargs):
        loader = InterruptingLoader(loader, 1) if epoch == 1 else loader
        return real_train_one_epoch(step, loader, device, epoch, *args, **kwargs)

    monkeypatch.setattr(trainer, "train_one_epoch", interrupt_epoch_1)
    with pytest.raises(Interrupted):
        trainer.train(cfg, cfg_path, cpu)
    out = tmp_path / "b" / "coco" / "pose_hrnet" / tiny_yaml.stem
    assert load_checkpoint(out / "last.pth")["epoch"] == 1 and not (out / "final.pth").exists()

    monkeypatch.setattr(trainer, "train_one_epoch", real_train_one_epoch)
    resumed = trainer.train(cfg, cfg_path, cpu)  # the same command again
    assert resumed["epoch"] == reference["epoch"] == 3
    assert resumed["best_ap"] == reference["best_ap"]
    final_a = load_checkpoint(tmp_path / "a" / "coco" / "pose_hrnet" / tiny_yaml.stem / "final.pth")
    final_b = load_checkpoint(out / "final.pth")
    assert final_a.keys() == final_b.keys()
    different = [k for k in final_a if not torch.equal(final_a[k], final_b[k])]
    assert not different, f"weights differ after resume: {different[:5]}"

    last = load_checkpoint(out / "last.pth")
    assert last["epoch"] == 3 and last["scheduler"]["last_epoch"] == 3
    assert "resumed from" in (out / "train.log").read_text()
    again = trainer.train(cfg, cfg_path, cpu)  # a finished run only rewrites final.pth
    assert again["epoch"] == 3 and again["val"] == resumed["val"]


@pytest.mark.parametrize("interval, end, expected", [
    (2, 5, [1, 3, 4]),  # after every second epoch (1-based count) and after the last one
    (1, 3, [0, 1, 2]),
    (0, 4, [3]),  # interval <= 0: the last epoch only
    (10, 3, [2]),
])
def test_should_validate(interval, end, expected):
    assert [e for e in range(end) if trainer.should_validate(e, interval, end)] == expected


def _files(directory) -> dict:
    """{relative path: bytes} of every file under ``directory`` (to show nothing changed)."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def one_epoch_run(run_cfg, tiny_yaml, tmp_path, monkeypatch):
    """A finished 1-epoch run in ``tmp_path``: ``(run_cfg_with(*opts), out_dir)``."""
    monkeypatch.setattr(trainer, "build_evaluator", lambda *args, **kwargs: FakeEvaluator())

    def cfg_with(*opts):
        return _merged(run_cfg(tmp_path), opts)

    trainer.train(cfg_with("TRAIN.END_EPOCH", "1"), str(tiny_yaml), torch.device("cpu"))
    return cfg_with, tmp_path / "coco" / "pose_hrnet" / tiny_yaml.stem


def _merged(cfg, opts):
    cfg = cfg.clone()
    cfg.defrost()
    cfg.merge_from_list([str(o) for o in opts])
    cfg.freeze()
    return cfg


def test_fresh_start_over_a_finished_run_is_refused_then_moved_aside_with_restart(one_epoch_run, tiny_yaml):
    cfg_with, out = one_epoch_run
    before = _files(out)
    assert {"last.pth", "best.pth", "final.pth", "config.yaml"} <= set(before)
    fresh = cfg_with("TRAIN.END_EPOCH", "1", "AUTO_RESUME", "False")
    with pytest.raises(RunDirectoryError, match=r"already holds last\.pth, best\.pth, final\.pth.*--restart"):
        trainer.train(fresh, str(tiny_yaml), torch.device("cpu"))
    assert _files(out) == before  # nothing written, nothing overwritten, no lock left behind
    trainer.train(fresh, str(tiny_yaml), torch.device("cpu"), restart=True)
    (aside,) = (out / "previous").iterdir()
    assert (aside / "best.pth").read_bytes() == before["best.pth"]
    assert (aside / "last.pth").read_bytes() == before["last.pth"]
    assert (out / "best.pth").exists() and not (out / "run.lock").exists()


def test_resume_with_a_changed_architecture_fails_before_writing(one_epoch_run, tiny_yaml):
    cfg_with, out = one_epoch_run
    before = _files(out)
    changed = cfg_with("TRAIN.END_EPOCH", "2", "MODEL.EXTRA.STEM_INPLANES", "32")
    with pytest.raises(RunDirectoryError, match=rf"{out / 'last.pth'} was written with a different config.*"
                                                r"MODEL\.EXTRA\.STEM_INPLANES.*new OUTPUT_DIR.*--restart"):
        trainer.train(changed, str(tiny_yaml), torch.device("cpu"))
    assert _files(out) == before  # config.yaml included


def test_a_second_training_into_a_locked_directory_is_refused(one_epoch_run, tiny_yaml):
    cfg_with, out = one_epoch_run
    with RunLock(out):  # another training holds the directory (this process: alive)
        with pytest.raises(RunDirectoryError, match=rf"in use by another training: process {os.getpid()}"):
            trainer.train(cfg_with("TRAIN.END_EPOCH", "2"), str(tiny_yaml), torch.device("cpu"))


def test_divergence_stops_before_validation_and_saving(run_cfg, tiny_yaml, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "build_evaluator", lambda *args, **kwargs: FakeEvaluator())
    cfg = _merged(run_cfg(tmp_path),
                  ["TRAIN.LR", "1e6", "TRAIN.WARMUP_ITERS", "0", "TRAIN.VAL_INTERVAL", "1"])
    with pytest.raises(FloatingPointError, match=r"training diverged in epoch 0: nothing of this epoch was "
                                                 r"saved.*largest \|weight\|"):
        trainer.train(cfg, str(tiny_yaml), torch.device("cpu"))
    out = tmp_path / "coco" / "pose_hrnet" / tiny_yaml.stem
    assert not (out / "best.pth").exists() and not (out / "last.pth").exists()


# --- short trainings on other benchmarks' layouts -----------------------------------------------------------

# A smaller HRNet than the sample job's (widths 8..64, 64x96 input): ~0.5 s of CPU per epoch of 60 images.
SHORT_RUN = ("MODEL.IMAGE_SIZE", "[64, 96]", "MODEL.HEATMAP_SIZE", "[16, 24]",
             "MODEL.EXTRA.STEM_INPLANES", "16", "MODEL.EXTRA.STAGE1.NUM_CHANNELS", "[8]",
             "MODEL.EXTRA.STAGE2.NUM_CHANNELS", "[8, 16]", "MODEL.EXTRA.STAGE3.NUM_CHANNELS", "[8, 16, 32]",
             "MODEL.EXTRA.STAGE4.NUM_CHANNELS", "[8, 16, 32, 64]", "TRAIN.LR", "0.005",
             "TRAIN.END_EPOCH", "50", "TRAIN.LR_STEP", "[42, 48]", "TRAIN.VAL_INTERVAL", "50",
             "PRINT_FREQ", "1000")


@pytest.mark.parametrize(("variant", "stat", "at_least"), [("crowdpose", "AP", 0.12), ("mpii", "Mean", 25.0)])
def test_short_training_on_a_benchmark_layout_beats_chance(sample_variant_root, variant_cfg, tmp_path,
                                                          variant, stat, at_least):
    """CrowdPose-style (CrowdPose AP) and MPII-format (PCKh) sample data: 50 epochs on 60 images end far
    above the untrained network's score (the reference init predicts nothing: ~0)."""
    cfg = variant_cfg(variant, sample_variant_root(variant, 60, 16), "OUTPUT_DIR", tmp_path, *SHORT_RUN)
    device = torch.device("cpu")
    evaluator = build_evaluator(cfg, device, build_codec(cfg), build_keypoint_set(cfg))
    chance = evaluator.run(build_model(cfg, is_train=True), tmp_path / "untrained")[stat]
    result = trainer.train(cfg, None, device)
    assert result["val"][stat] >= at_least and result["val"][stat] > 5 * max(chance, 0.0) + at_least / 2
    assert result["best_ap"] == result["val"][stat]  # best.pth follows the metric's primary number
