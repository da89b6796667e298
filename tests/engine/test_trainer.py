"""Kill-and-resume: a run interrupted mid-epoch and restarted with the same command ends with the same
weights as an uninterrupted run (CPU, tiny HRNet, tiny synthetic data, the real trainer)."""

import pytest
import torch

from hrpose.engine import trainer
from hrpose.utils.checkpoint import load_checkpoint

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
