import pytest
import torch

# Test tensors are tiny: intra-op threads only add synchronisation, and under a loaded CI
# machine OpenMP spin-waiting makes two threads several times slower than one.
torch.set_num_threads(1)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)
