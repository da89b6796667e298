"""``benchmark.py model``: network images/s on synthetic tensors, training step or forward only.

The baseline measured in the same run (``--baseline``) is the reference's way: fp32, eager, NCHW.
``--amp`` is timed as asked, also on the CPU (``engine.amp.resolve_amp`` with ``allow_cpu``, as
``TRAIN/TEST.AMP_ON_CPU`` do; training and evaluation run AMP on CUDA only by default). A training step is
the product's (``engine.train_loop.backward_and_step``: fused Adam where the trainer fuses it, the fp16
GradScaler, the device-side non-finite check). With ``--infer`` the model is prepared as evaluation
prepares it (``engine.predict.prepare_model``: eval mode, channels_last, BN folding, compile).
"""

import argparse

import torch

from hrpose.config import load_cfg
from hrpose.engine.amp import AMP_DTYPES, autocast, resolve_amp
from hrpose.engine.optim import FUSED_DEVICES
from hrpose.engine.options import TestOptions
from hrpose.engine.predict import prepare_model
from hrpose.engine.train_loop import backward_and_step
from hrpose.losses import JointsLoss
from hrpose.models import build_model
from hrpose.utils.dist import resolve_device

from .common import device_facts, report, time_calls


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cfg", required=True, help="experiment yaml (decides the network and input size)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--amp", choices=sorted(AMP_DTYPES), default="none")
    parser.add_argument("--channels_last", "--channels-last", action="store_true")
    parser.add_argument("--compile", default="", help="torch.compile mode (reduce-overhead = CUDA graphs)")
    parser.add_argument("--infer", action="store_true", help="forward only (inference mode)")
    parser.add_argument("--fuse_bn", "--fuse-bn", action="store_true", help="fold BN into convs (--infer)")
    parser.add_argument("--baseline", action="store_true", help="also time fp32 eager NCHW in this run")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")


def _step_fn(model, images, target, amp, infer: bool):
    """A zero-argument callable running one forward, or one training step as ``train_one_epoch`` takes
    it: autocast forward, the joints MSE, ``backward_and_step`` with Adam (fused where the trainer
    fuses it, ``TRAIN.FUSED_OPTIMIZER``) and the fp16 GradScaler."""
    device = images.device
    mixed = autocast(device, amp)  # entered once per call below
    if infer:
        def forward():
            with torch.inference_mode(), mixed:
                model(images)
        return forward
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=device.type in FUSED_DEVICES)
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    loss_fn = JointsLoss()

    def train_step():
        with mixed:
            loss = loss_fn(model(images), target, None)
        optimizer.zero_grad(set_to_none=True)
        backward_and_step(loss, optimizer, scaler)
    return train_step


def measure(cfg, device, batch, amp, channels_last, compile_mode, infer, fuse_bn, warmup, iters) -> dict:
    """Images/s and per-iteration seconds of one configuration; fresh model each call."""
    model = build_model(cfg, is_train=not infer)
    if infer:
        options = TestOptions(fuse_bn=fuse_bn, channels_last=channels_last, compile=compile_mode)
        model = prepare_model(model, options, device)  # autocast to ``amp`` is _step_fn's
    else:
        model = model.to(device).train()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        if compile_mode:
            model = torch.compile(model, mode=compile_mode)
    w, h = cfg.MODEL.IMAGE_SIZE
    images = torch.randn(batch, 3, h, w, device=device)
    hw, hh = cfg.MODEL.HEATMAP_SIZE
    target = torch.rand(batch, cfg.MODEL.NUM_JOINTS, hh, hw, device=device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = sorted(time_calls(_step_fn(model, images, target, amp, infer), device, warmup, iters))
    median = times[len(times) // 2]
    return {"images_per_s": round(batch / median, 2), "median_s": round(median, 5),
            "min_s": round(times[0], 5), **device_facts(device)}


def run(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    # no ImageNet weights needed to time the network (the yamls name a file most machines lack)
    cfg = load_cfg(args.cfg, ["MODEL.PRETRAINED", ""] + list(args.opts or []))
    device = resolve_device(args.device)
    args.amp = resolve_amp(args.amp, device, "--amp", allow_cpu=True)
    torch.backends.cudnn.benchmark = True
    common = dict(cfg=cfg, device=device, batch=args.batch, infer=args.infer, warmup=args.warmup,
                  iters=args.iters)
    fast = measure(amp=args.amp, channels_last=args.channels_last, compile_mode=args.compile,
                   fuse_bn=args.fuse_bn, **common)
    result = {"bench": "model", "cfg": args.cfg, "mode": "infer" if args.infer else "train",
              "batch": args.batch, "amp": args.amp, "channels_last": args.channels_last,
              "compile": args.compile, "fuse_bn": args.fuse_bn, **fast}
    summary = f"{result['mode']} {args.cfg} batch {args.batch}: {fast['images_per_s']} img/s"
    if args.baseline:
        base = measure(amp="none", channels_last=False, compile_mode="", fuse_bn=False, **common)
        result["baseline_images_per_s"] = base["images_per_s"]
        result["speedup"] = round(fast["images_per_s"] / base["images_per_s"], 3)
        summary += f" vs fp32 eager NCHW {base['images_per_s']} img/s (x{result['speedup']})"
    report(result, summary)
