"""normalize_images: uint8 images -> ImageNet-normalised float32, channel order untouched."""

import pytest
import torch

from hrpose.models import normalize_images


def test_values_and_dtype():
    images = torch.zeros(2, 3, 4, 5, dtype=torch.uint8)
    images[:, 0] = 255
    images[:, 1] = 128
    out = normalize_images(images)
    assert out.dtype == torch.float32 and out.shape == images.shape
    assert torch.allclose(out[:, 0], torch.full((2, 4, 5), (1 - 0.485) / 0.229))
    assert torch.allclose(out[:, 1], torch.full((2, 4, 5), (128 / 255 - 0.456) / 0.224))
    assert torch.allclose(out[:, 2], torch.full((2, 4, 5), -0.406 / 0.225))


def test_channel_order_is_not_changed():
    images = torch.randint(0, 256, (1, 3, 4, 4), dtype=torch.uint8)
    swapped = normalize_images(images.flip(1))
    # mean/std stay attached to channel positions 0, 1, 2 (as the reference does for BGR input)
    assert torch.allclose(swapped[:, 0], (images[:, 2].float() / 255 - 0.485) / 0.229)


def test_input_untouched_and_memory_format_kept():
    images = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    images = images.contiguous(memory_format=torch.channels_last)
    copy = images.clone()
    out = normalize_images(images)
    assert torch.equal(images, copy)
    assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("images, error", [
    (torch.zeros(1, 3, 4, 4), TypeError),
    (torch.zeros(3, 4, 4, dtype=torch.uint8), ValueError),
    (torch.zeros(1, 1, 4, 4, dtype=torch.uint8), ValueError),
])
def test_rejects_wrong_input(images, error):
    with pytest.raises(error):
        normalize_images(images)
