"""Distributed helpers in a single process (what every test and single-device run sees), and
resolve_device's cases."""

import pytest
import torch

from hrpose.utils import dist as hdist
from hrpose.utils.dist import resolve_device


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch):
    """CUDA 'available' (nothing is allocated: resolve_device only builds torch.device objects)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_a_device_object_is_used_as_given(no_cuda):
    device = torch.device("cuda", 3)
    assert resolve_device(device) is device


@pytest.mark.parametrize("requested", [None, "auto", "cpu"])
def test_cpu_without_cuda(no_cuda, requested):
    assert resolve_device(requested) == torch.device("cpu")


def test_cpu_when_asked_even_with_cuda(fake_cuda):
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("requested", ["cuda", "cuda:1"])
def test_cuda_requested_but_absent_is_an_error(no_cuda, requested):
    with pytest.raises(RuntimeError, match=f"device '{requested}' was requested but CUDA is not available"):
        resolve_device(requested)


def test_auto_and_cuda_take_the_local_rank(fake_cuda, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert resolve_device() == resolve_device("cuda") == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda:3") == torch.device("cuda", 3)  # an explicit index wins


def test_unknown_device_names_are_rejected(no_cuda):
    with pytest.raises(ValueError, match="device 'tpu': expected auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")


def test_single_process_helpers(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert not hdist.is_distributed() and hdist.get_rank() == 0 and hdist.get_world_size() == 1
    assert hdist.is_main_process() and not hdist.launched_by_torchrun()
    assert not hdist.init_distributed(torch.device("cpu"))  # not launched by torchrun: no process group
    assert hdist.all_gather_objects({"a": 1}) == [{"a": 1}]
    assert hdist.broadcast_object([1, 2]) == [1, 2]
    hdist.barrier()
    hdist.cleanup_distributed()
    value = torch.tensor([1.0, 3.0])
    mean = hdist.reduce_mean(value)
    assert torch.equal(mean, value) and mean.data_ptr() != value.data_ptr()  # a new tensor


def test_torchrun_is_detected_from_its_environment(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert hdist.launched_by_torchrun()
