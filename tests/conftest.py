import os

import pytest
import torch

# Two cores: keep intra-op threads small so several test processes do not thrash.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)
