"""SimpleBaseline (``MODEL.NAME: pose_resnet``): a ResNet, transposed convolutions, a 1x1 head.

Names follow the reference (and torchvision's ResNet for the backbone: ``conv1``, ``bn1``,
``layer1`` .. ``layer4``, ``downsample.{0,1}``), so an ImageNet ResNet checkpoint's backbone keys and the
official pose_resnet checkpoints load unchanged. The head is ``deconv_layers`` (ConvTranspose2d, BN, ReLU
per layer, indices 0..3n-1) and ``final_layer``.

images ``[N, 3, H, W]`` -> backbone ``[N, 512 * expansion, H/32, W/32]`` -> each deconv doubles the size
-> heatmaps ``[N, K, H/4, W/4]`` with the usual three deconvolutions.
"""

from collections.abc import Sequence

from torch import Tensor, nn

from .blocks import BN_MOMENTUM, BasicBlock, Bottleneck, make_res_layer

# depth -> (block, blocks per layer), the standard ResNet table.
RESNET_SPECS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}

# Transposed-conv kernel -> (padding, output_padding) so that each layer exactly doubles H and W.
DECONV_PADDING: dict[int, tuple[int, int]] = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


class PoseResNet(nn.Module):
    """ResNet-``num_layers`` + ``len(deconv_filters)`` stride-2 transposed convs + final conv.

    Output stride is ``32 / 2**len(deconv_filters)`` (4 with the reference's three deconvolutions).
    """

    def __init__(self, num_layers: int, num_joints: int, deconv_filters: Sequence[int] = (256, 256, 256),
                 deconv_kernels: Sequence[int] = (4, 4, 4), deconv_with_bias: bool = False,
                 final_conv_kernel: int = 1):
        super().__init__()
        if num_layers not in RESNET_SPECS:
            raise ValueError(f"num_layers {num_layers}: expected one of {sorted(RESNET_SPECS)}")
        if len(deconv_filters) != len(deconv_kernels):
            raise ValueError(f"{len(deconv_filters)} deconv filters but {len(deconv_kernels)} kernels")
        if final_conv_kernel not in (1, 3):
            raise ValueError(f"final_conv_kernel must be 1 or 3, got {final_conv_kernel}")
        block, blocks_per_layer = RESNET_SPECS[num_layers]
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = 64
        layer_planes = (64, 128, 256, 512)  # layer1 keeps the stride-4 resolution, each later one halves it
        for i, (planes, num_blocks) in enumerate(zip(layer_planes, blocks_per_layer, strict=True), start=1):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", make_res_layer(block, channels, planes, num_blocks, stride))
            channels = planes * block.expansion
        self.deconv_layers = self._make_deconv_layers(channels, deconv_filters, deconv_kernels,
                                                      deconv_with_bias)
        self.final_layer = nn.Conv2d(deconv_filters[-1] if deconv_filters else channels, num_joints,
                                     kernel_size=final_conv_kernel, stride=1,
                                     padding=1 if final_conv_kernel == 3 else 0)
        self.output_stride = 32 // 2 ** len(deconv_filters)

    @staticmethod
    def _make_deconv_layers(in_channels: int, filters: Sequence[int], kernels: Sequence[int],
                            with_bias: bool) -> nn.Sequential:
        layers: list[nn.Module] = []
        for out_channels, kernel in zip(filters, kernels, strict=True):
            if kernel not in DECONV_PADDING:
                raise ValueError(f"deconv kernel {kernel}: expected one of {sorted(DECONV_PADDING)}")
            padding, output_padding = DECONV_PADDING[kernel]
            layers += [
                nn.ConvTranspose2d(in_channels, out_channels, kernel_size=kernel, stride=2, padding=padding,
                                   output_padding=output_padding, bias=with_bias),
                nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM),
                nn.ReLU(inplace=True),
            ]
            in_channels = out_channels
        return nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.final_layer(self.deconv_layers(x))
