"""The joints MSE equals the reference's per-joint formula; OHKM; batch 1; build_loss."""

import pytest
import torch

from hrpose.config import load_cfg
from hrpose.losses import JointsLoss, build_loss, joints_mse_loss, joints_ohkm_loss


def reference_joints_mse(pred, gt, weight):
    """The reference's loop: per joint 0.5 * MSE(pred_j * w_j, gt_j * w_j) over (N, HW), mean over joints."""
    n, k = pred.shape[:2]
    pred, gt = pred.reshape(n, k, -1), gt.reshape(n, k, -1)
    total = 0.0
    for j in range(k):
        w = weight[:, j]  # [N, 1]
        total += 0.5 * torch.nn.functional.mse_loss(pred[:, j] * w, gt[:, j] * w)
    return total / k


def reference_ohkm(pred, gt, weight, topk):
    """Per sample per joint mean of 0.5 w^2 (p - g)^2; top-k summed / k; mean over the batch."""
    n, k = pred.shape[:2]
    per_joint = 0.5 * ((pred * weight[..., None] - gt * weight[..., None]) ** 2).reshape(n, k, -1).mean(-1)
    return torch.stack([row.topk(topk).values.sum() / topk for row in per_joint]).mean()


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(3, 5, 8, 6, generator=g)
    gt = torch.rand(3, 5, 8, 6, generator=g)
    # 0/1 visibility times joint weights 1.2 / 1.5: the weights must enter squared
    weight = torch.tensor([[1, 0, 1, 1, 1]] * 3, dtype=torch.float32)[..., None]
    weight = weight * torch.tensor([1.0, 1.0, 1.2, 1.5, 1.0])[None, :, None]
    return pred, gt, weight


def test_mse_matches_reference_with_joint_weights(batch):
    pred, gt, weight = batch
    expected = reference_joints_mse(pred, gt, weight)
    assert torch.allclose(joints_mse_loss(pred, gt, weight), expected, rtol=1e-6)
    closed_form = 0.5 * ((pred - gt) ** 2 * weight[..., None] ** 2).mean()
    assert torch.allclose(joints_mse_loss(pred, gt, weight), closed_form, rtol=1e-6)


def test_mse_batch_one_and_2d_weights(batch):
    pred, gt, weight = (t[:1] for t in batch)
    loss = joints_mse_loss(pred, gt, weight)
    assert loss.shape == ()
    assert torch.allclose(loss, reference_joints_mse(pred, gt, weight), rtol=1e-6)
    assert torch.allclose(joints_mse_loss(pred, gt, weight[..., 0]), loss)


def test_masked_joints_do_not_contribute(batch):
    pred, gt, weight = batch
    changed = pred.clone()
    changed[:, 1] += 100.0  # joint 1 has weight 0
    assert torch.allclose(joints_mse_loss(changed, gt, weight), joints_mse_loss(pred, gt, weight))


def test_no_target_weight_counts_every_joint(batch):
    pred, gt, weight = batch
    loss = JointsLoss(use_target_weight=False)(pred, gt, weight)
    assert torch.allclose(loss, 0.5 * ((pred - gt) ** 2).mean())


def test_ohkm_matches_reference(batch):
    pred, gt, weight = batch
    for topk in (1, 3, 5):
        expected = reference_ohkm(pred, gt, weight, topk)
        assert torch.allclose(joints_ohkm_loss(pred, gt, weight, topk), expected)
    assert torch.allclose(joints_ohkm_loss(pred[:1], gt[:1], weight[:1], 2),
                          reference_ohkm(pred[:1], gt[:1], weight[:1], 2))


def test_loss_is_float32_and_differentiable(batch):
    pred, gt, weight = batch
    pred = pred.to(torch.bfloat16).requires_grad_()
    loss = joints_mse_loss(pred, gt, weight)
    assert loss.dtype == torch.float32
    loss.backward()
    assert pred.grad is not None and pred.grad.shape == pred.shape


def test_build_loss_reads_loss_keys():
    assert build_loss(load_cfg(None)).ohkm_topk == 0
    loss = build_loss(load_cfg(None, ["LOSS.USE_OHKM", "True", "LOSS.TOPK", "4"]))
    assert loss.ohkm_topk == 4 and loss.use_target_weight
    with pytest.raises(ValueError, match="LOSS.TOPK"):
        build_loss(load_cfg(None, ["LOSS.USE_OHKM", "True", "LOSS.TOPK", "40"]))
