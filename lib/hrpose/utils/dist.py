"""Distributed helpers: one process per device, launched by torchrun (or a single plain process).

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE. The backend is NCCL on CUDA and gloo on CPU.
"""

import datetime
import logging
import os

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def resolve_device(requested: "str | torch.device | None" = "auto") -> torch.device:
    """The device of this process.

    ``requested``: a ``torch.device`` (used as given), None or 'auto' (``cuda:<LOCAL_RANK>`` when CUDA is
    available, else CPU), 'cpu', 'cuda' or 'cuda:N'. Raises ``RuntimeError`` when CUDA is asked for and
    not available.
    """
    if isinstance(requested, torch.device):
        return requested
    requested = requested or "auto"
    if requested == "cpu":
        return torch.device("cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} was requested but CUDA is not available")
    if requested.startswith("cuda:"):
        return torch.device(requested)
    if requested not in ("auto", "cuda"):
        raise ValueError(f"device {requested!r}: expected auto, cpu, cuda or cuda:N")
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def init_distributed(device: torch.device, timeout_minutes: int = 30) -> bool:
    """Join the torchrun process group if this process was launched by torchrun; returns whether it did."""
    if not launched_by_torchrun() or is_distributed():
        return is_distributed()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    timeout = datetime.timedelta(minutes=timeout_minutes)
    store, rank, world_size = next(dist.rendezvous("env://", timeout=timeout))
    # torchrun's agent keeps one store across worker restarts (--max-restarts, static rendezvous): the
    # keys of the failed attempt (a dead rank's listening address) would still be read by the new one
    # and gloo would connect to it ("connectFullMesh failed ... Connection refused"). A prefix per
    # attempt keeps every attempt's keys apart.
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    store = dist.PrefixStore(f"hrpose/attempt_{attempt}", store)
    dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world_size, timeout=timeout)
    logger.info("process group ready: rank %d of %d, backend %s", get_rank(), get_world_size(), backend)
    return True


def cleanup_distributed() -> None:
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_gather_objects(obj) -> list:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` without a process group."""
    if not is_distributed():
        return [obj]
    out = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s object on every rank."""
    if not is_distributed():
        return obj
    box = [obj if get_rank() == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over all ranks (a new tensor; the input is unchanged)."""
    out = value.detach().clone()
    if is_distributed():
        dist.all_reduce(out)
        out /= get_world_size()
    return out


def reduce_max_(value: torch.Tensor) -> torch.Tensor:
    """In place: the elementwise maximum of ``value`` over all ranks; returns ``value``. Without a process
    group it is left as it is. Like every collective it is only enqueued (no host sync on NCCL)."""
    if is_distributed():
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return value
