"""Kill-and-resume: a run interrupted mid-epoch and restarted with the same command ends with the same
weights as an uninterrupted run (CPU, tiny HRNet, tiny synthetic data, the real trainer)."""

import pytest
import torch

from hrpose.config import load_cfg
from hrpose.engine import trainer
from hrpose.utils.checkpoint import load_checkpoint

SAMPLE_CFG = "experiments/sample/hrnet_tiny_sample.yaml"
pytestmark = pytest.mark.slow


def tiny_cfg(repo_root, data_root, out_dir, *opts):
    return load_cfg(str(repo_root / SAMPLE_CFG), [
        "DATASET.ROOT", str(data_root), "OUTPUT_DIR", str(out_dir), "WORKERS", "0", "PRINT_FREQ", "100",
        "MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]", "TRAIN.BATCH_SIZE_PER_GPU", "8",
        "TEST.BATCH_SIZE_PER_GPU", "16", "TRAIN.END_EPOCH", "3", "TRAIN.LR_STEP", "[2]",
        "TRAIN.VAL_INTERVAL", "2", "TRAIN.WARMUP_ITERS", "4", *opts])


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


def fake_evaluate(model, cfg, device, output_dir, loader=None):
    """Cheap and deterministic in the weights (the real evaluation is tested elsewhere)."""
    total = sum(p.detach().double().abs().sum() for p in model.parameters())
    return {"AP": float(total % 1.0), "AP .5": 0.5}


def test_interrupted_run_resumes_to_identical_weights(repo_root, sample_data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "evaluate_model", fake_evaluate)
    cpu = torch.device("cpu")
    reference = trainer.train(tiny_cfg(repo_root, sample_data_root, tmp_path / "a"), SAMPLE_CFG, cpu)

    cfg = tiny_cfg(repo_root, sample_data_root, tmp_path / "b")
    real_train_one_epoch = trainer.train_one_epoch

    def interrupt_epoch_1(model, loader, *args, **kwargs):
        epoch = args[3]
        loader = InterruptingLoader(loader, 1) if epoch == 1 else loader
        return real_train_one_epoch(model, loader, *args, **kwargs)

    monkeypatch.setattr(trainer, "train_one_epoch", interrupt_epoch_1)
    with pytest.raises(Interrupted):
        trainer.train(cfg, SAMPLE_CFG, cpu)
    out = tmp_path / "b" / "coco" / "pose_hrnet" / "hrnet_tiny_sample"
    assert load_checkpoint(out / "last.pth")["epoch"] == 1 and not (out / "final.pth").exists()

    monkeypatch.setattr(trainer, "train_one_epoch", real_train_one_epoch)
    resumed = trainer.train(cfg, SAMPLE_CFG, cpu)  # the same command again
    assert resumed["epoch"] == reference["epoch"] == 3
    assert resumed["best_ap"] == reference["best_ap"]
    final_a = load_checkpoint(tmp_path / "a" / "coco" / "pose_hrnet" / "hrnet_tiny_sample" / "final.pth")
    final_b = load_checkpoint(out / "final.pth")
    assert final_a.keys() == final_b.keys()
    different = [k for k in final_a if not torch.equal(final_a[k], final_b[k])]
    assert not different, f"weights differ after resume: {different[:5]}"

    last = load_checkpoint(out / "last.pth")
    assert last["epoch"] == 3 and last["scheduler"]["last_epoch"] == 3
    assert "resumed from" in (out / "train.log").read_text()
    again = trainer.train(cfg, SAMPLE_CFG, cpu)  # a finished run only rewrites final.pth
    assert again["epoch"] == 3 and again["val"] == resumed["val"]
