"""Frozen pretrained backbones (issue 14 item 2): hf: encoders and the frozen* representations,
on a tiny randomly initialised ViT saved to a folder (no network)."""

from __future__ import annotations

import pytest
import torch

from monorobust.config import load_config
from monorobust.errors import ConfigError

FROZEN = ["frozen", "frozen+sae", "frozen+cl", "frozen+ncl"]


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("vit")
    cfg = transformers.ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64, image_size=32, patch_size=8)
    torch.manual_seed(0)
    transformers.ViTModel(cfg).save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def test_backbone_is_frozen_and_preprocesses_grey_images(tiny_vit):
    from monorobust.models.hf import load_backbone

    backbone = load_backbone(f"hf:{tiny_vit}")
    backbone.train()
    assert not backbone.training and not any(p.requires_grad for p in backbone.parameters())
    assert backbone.size == (32, 32) and backbone.feature_rule.startswith("CLS")
    x = torch.rand(3, 1, 8, 8)
    out = backbone(x)
    assert out.shape == (3, 32) and not out.requires_grad
    assert torch.allclose(out, backbone(x.expand(-1, 3, -1, -1)))   # grey = repeated channels


def test_missing_backbone_is_one_config_error_before_any_work(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config("smoke", {"pretrain.encoder": f"hf:{tmp_path / 'nowhere'}",
                              "representations": ["frozen"]})
    assert "nowhere" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="frozen"):       # a hf: backbone pretrains nothing
        load_config("smoke", {"pretrain.encoder": "mlp", "representations": ["frozen"]})


@pytest.mark.slow
def test_frozen_representations_end_to_end(tiny_vit, tmp_path):
    from safetensors.torch import load_file

    from monorobust.experiment import run
    from monorobust.rundir import RunDir

    cfg = load_config("smoke", {"out": str(tmp_path / "run"), "seeds": [0],
                                "pretrain.encoder": f"hf:{tiny_vit}", "representations": FROZEN,
                                "pretrain.epochs": 2, "probe.steps": 30, "sae.epochs": 5,
                                "grid.scenarios": {"clean": [0], "label_noise": [0.4]}})
    result = run(cfg, progress=False)
    run_dir = RunDir(result.out)
    rows = run_dir.load_results()
    reps = set(rows["representation"])
    assert reps == set(FROZEN)
    ncl = load_file(run_dir.features("frozen+ncl", 0))["features"]
    assert (ncl >= 0).all()
    cached = sorted(p.name for p in (run_dir.root / "features").glob("frozen-raw-*"))
    assert len(cached) == 2 and any(n.endswith("-seed0.safetensors") for n in cached)
    assert (run_dir.posthoc("frozen+cl", 0) / "head.safetensors").exists()
    assert (run_dir.posthoc("frozen+sae", 0) / "sae.safetensors").exists()


def test_a_damaged_frozen_feature_cache_is_extracted_again(tmp_path):
    """Cut short, it was a SafetensorError traceback; a byte changed, it was read as features."""
    from monorobust.evaluate import frozen
    from monorobust.io import IntegrityWarning

    path = tmp_path / "frozen-raw-x.safetensors"
    frozen._save(path, {"train": torch.arange(32.0).view(4, 8)})
    assert torch.equal(frozen._load(path)["train"], torch.arange(32.0).view(4, 8))
    raw = path.read_bytes()
    for damaged in (raw[: len(raw) // 2], raw[:-3] + bytes([raw[-3] ^ 0x10]) + raw[-2:]):
        path.write_bytes(damaged)
        with pytest.warns(IntegrityWarning, match="is damaged"):
            assert frozen._load(path) is None
