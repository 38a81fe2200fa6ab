import pytest
import torch

from monorobust.models import ENCODERS, build_encoder


@pytest.mark.parametrize("name", ENCODERS.names())
def test_every_registered_encoder_maps_images_to_out_dim(name):
    torch.manual_seed(0)
    enc = build_encoder(name, in_channels=3, image_size=32, width=8 if name != "mlp" else 16)
    out = enc(torch.rand(4, 3, 32, 32))
    assert out.shape == (4, enc.out_dim)
    out.sum().backward()
    assert all(p.grad is not None for p in enc.parameters())
