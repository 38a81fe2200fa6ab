import math

import torch
import torch.nn.functional as F

from monorobust.models import ContrastiveModel, build_encoder, projector
from monorobust.objectives import activity_penalty, embed, nt_xent


def test_nt_xent_equals_hand_computation_on_four_samples():
    g = torch.Generator().manual_seed(0)
    z1 = F.normalize(torch.randn(4, 3, generator=g), dim=1)
    z2 = F.normalize(torch.randn(4, 3, generator=g), dim=1)
    t = 0.5
    z = torch.cat([z1, z2]).tolist()
    total = 0.0
    for i in range(8):
        pos = (i + 4) % 8
        sims = {j: sum(a * b for a, b in zip(z[i], z[j])) / t for j in range(8) if j != i}
        total += -(sims[pos] - math.log(sum(math.exp(s) for s in sims.values())))
    assert abs(float(nt_xent(z1, z2, t)) - total / 8) < 1e-5


def test_nt_xent_is_low_for_aligned_views_and_high_for_random_ones():
    g = torch.Generator().manual_seed(1)
    z = F.normalize(torch.randn(64, 32, generator=g), dim=1)
    other = F.normalize(torch.randn(64, 32, generator=g), dim=1)
    assert nt_xent(z, z, 0.1) < nt_xent(z, other, 0.1) - 1.0


def test_ncl_embedding_and_features_are_non_negative():
    g = torch.Generator().manual_seed(2)
    torch.manual_seed(0)
    enc = build_encoder("mlp", 1, 8, 32)
    model = ContrastiveModel(enc, projector(enc.out_dim, 64, 16), [0.5], [0.25]).eval()
    x = torch.rand(20, 1, 8, 8, generator=g)
    raw = model(x)
    assert (raw < 0).any()                                  # CL features have both signs
    z = embed(raw, nonnegative=True)
    assert (z >= 0).all() and torch.allclose(z.norm(dim=1)[z.norm(dim=1) > 0], torch.ones(1))
    assert (F.relu(raw) >= 0).all()


def test_activity_penalty_is_minus_mean_absolute_activation():
    z = torch.tensor([[1.0, -2.0], [3.0, 0.0]])
    assert float(activity_penalty(z)) == -(1 + 2 + 3 + 0) / 4
