"""MonoLoRA on PEFT: formula, init, gradients, save/load, merge refusal, sparsity (tiny random models)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import torch
from torch import nn

pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from peft import LoraConfig, PeftConfig, PeftModel, get_peft_model  # noqa: E402
from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING  # noqa: E402

from monorobust.adapters import (MonoLoraConfig, MonoLoraLinear, MonoLoraMergeError,  # noqa: E402
                                 adapter_sparsity, load_adapter, save_adapter, sparsity_meter)

POSITIONS = ["code", "output"]


def tiny_llama() -> nn.Module:
    cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg).eval()


def mono(base: nn.Module, position: str | None, **kw) -> nn.Module:
    cfg = MonoLoraConfig(r=4, lora_alpha=12, target_modules=["q_proj", "v_proj"], relu_position=position, **kw)
    return get_peft_model(copy.deepcopy(base), cfg).eval()


def randomise_adapters(model: nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if "lora_" in name:
            p.data = torch.randn(p.shape, generator=g) * 0.5


def first_adapted(model: nn.Module) -> MonoLoraLinear:
    return next(m for m in model.modules() if isinstance(m, MonoLoraLinear))


TOKENS = torch.randint(0, 64, (2, 7), generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("position", POSITIONS)
def test_layer_output_equals_formula(position: str) -> None:
    model = mono(tiny_llama(), position, lora_dropout=0.3)   # dropout must be inactive in eval()
    randomise_adapters(model)
    layer = first_adapted(model)
    x = torch.randn(3, 5, layer.in_features)
    w0, b0 = layer.base_layer.weight, layer.base_layer.bias
    a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
    s = 12 / 4
    base = x @ w0.T + (0 if b0 is None else b0)
    if position == "code":
        expected = base + s * (torch.relu(x @ a.T) @ b.T)
    else:
        expected = base + s * torch.relu(x @ a.T @ b.T)
    torch.testing.assert_close(layer(x), expected)
    # Dense LoRA with the same weights gives something else: the ReLU is really there.
    assert not torch.allclose(layer(x), base + s * (x @ a.T @ b.T))


def test_rslora_scaling_is_respected() -> None:
    model = mono(tiny_llama(), "code", use_rslora=True)
    assert first_adapted(model).scaling["default"] == pytest.approx(12 / 2)


@pytest.mark.parametrize("position", POSITIONS + [None])
def test_initial_model_equals_base(position: str | None) -> None:
    base = tiny_llama()
    model = mono(base, position)
    torch.testing.assert_close(model(TOKENS).logits, base(TOKENS).logits)


@pytest.mark.parametrize("position", POSITIONS)
def test_gradients_reach_a_and_b(position: str) -> None:
    model = mono(tiny_llama(), position).train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    layer = first_adapted(model)
    grads = []
    for _ in range(2):   # at B = 0 only B gets a gradient (as in LoRA); after one step both do
        opt.zero_grad()
        model(TOKENS, labels=TOKENS).loss.backward()
        grads.append((layer.lora_A["default"].weight.grad.abs().sum().item(),
                      layer.lora_B["default"].weight.grad.abs().sum().item()))
        opt.step()
    assert grads[0][1] > 0, "B gets no gradient at init (output placement needs relu'(0) = 1)"
    assert grads[1][0] > 0 and grads[1][1] > 0


@pytest.mark.parametrize("position", POSITIONS)
def test_save_then_load_reproduces_outputs(position: str, tmp_path) -> None:
    base = tiny_llama()
    model = mono(base, position)
    randomise_adapters(model)
    expected = model(TOKENS).logits
    save_adapter(model, tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    loaded = load_adapter(copy.deepcopy(base), tmp_path / "adapter").eval()
    assert first_adapted(loaded).relu_position["default"] == position
    torch.testing.assert_close(loaded(TOKENS).logits, expected)
    assert MonoLoraConfig.from_pretrained(str(tmp_path / "adapter")).relu_position == position


@pytest.mark.parametrize("position", POSITIONS)
def test_peft_from_pretrained_rebuilds_monolora(position: str, tmp_path) -> None:
    base = tiny_llama()
    model = mono(base, position)
    randomise_adapters(model)
    expected = model(TOKENS).logits
    model.save_pretrained(str(tmp_path))                     # PEFT's own save, not save_adapter
    assert json.loads((tmp_path / "adapter_config.json").read_text())["peft_type"] == "MONOLORA"
    loaded = PeftModel.from_pretrained(copy.deepcopy(base), str(tmp_path)).eval()
    assert isinstance(loaded.peft_config["default"], MonoLoraConfig)
    assert first_adapted(loaded).relu_position["default"] == position
    torch.testing.assert_close(loaded(TOKENS).logits, expected)
    # The same weights read as a plain LoRA (what PEFT did before) give other outputs.
    plain = PeftModel.from_pretrained(copy.deepcopy(base), str(tmp_path), config=LoraConfig(
        r=4, lora_alpha=12, target_modules=["q_proj", "v_proj"])).eval()
    assert not torch.allclose(plain(TOKENS).logits, expected, atol=1e-3)
    # transformers' own adapter loading goes through the same registry.
    hf = copy.deepcopy(base)
    hf.load_adapter(str(tmp_path))
    torch.testing.assert_close(hf(TOKENS).logits, expected)


def test_peft_without_monorobust_refuses_a_monolora_folder(tmp_path, monkeypatch) -> None:
    model = mono(tiny_llama(), "code")
    model.save_pretrained(str(tmp_path))
    monkeypatch.delitem(PEFT_TYPE_TO_CONFIG_MAPPING, "MONOLORA")   # as PEFT is without the import
    with pytest.raises(KeyError, match="MONOLORA"):
        PeftModel.from_pretrained(tiny_llama(), str(tmp_path))
    with pytest.raises(KeyError, match="MONOLORA"):
        PeftConfig.from_pretrained(str(tmp_path))


def test_plain_lora_through_monolora_config_is_saved_as_lora() -> None:
    assert MonoLoraConfig(relu_position=None).to_dict()["peft_type"] == "LORA"


def test_folder_saved_with_peft_type_lora_loads_with_load_adapter(tmp_path) -> None:
    # adapter_config.json as written before MonoLoRA had its own peft_type: "LORA" + relu_position.
    base = tiny_llama()
    model = mono(base, "output")
    randomise_adapters(model)
    expected = model(TOKENS).logits
    model.save_pretrained(str(tmp_path))
    raw = json.loads((tmp_path / "adapter_config.json").read_text())
    (tmp_path / "adapter_config.json").write_text(json.dumps({**raw, "peft_type": "LORA"}))
    torch.testing.assert_close(load_adapter(copy.deepcopy(base), tmp_path).eval()(TOKENS).logits, expected)


def test_importing_the_package_registers_with_peft_imported_later() -> None:
    # A fresh interpreter: the import hook must fire after PEFT is imported, and the package import
    # itself must not import PEFT or torch (monorobust --help stays fast).
    code = ("import sys, monorobust.adapters\n"
            "assert 'peft' not in sys.modules and 'torch' not in sys.modules\n"
            "from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING as M\n"
            "print(M['MONOLORA'].__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "MonoLoraConfig"


@pytest.mark.parametrize("position", POSITIONS)
def test_merge_raises(position: str) -> None:
    model = mono(tiny_llama(), position)
    with pytest.raises(MonoLoraMergeError, match="cannot be merged"):
        model.merge_and_unload()
    with pytest.raises(MonoLoraMergeError):
        model.merge_adapter()
    with pytest.raises(MonoLoraMergeError):
        first_adapted(model).get_delta_weight("default")


def test_plain_lora_through_the_same_class_still_merges() -> None:
    base = tiny_llama()
    model = mono(base, None)
    randomise_adapters(model)
    expected = model(TOKENS).logits
    torch.testing.assert_close(model.merge_and_unload()(TOKENS).logits, expected, atol=1e-4, rtol=1e-4)


def test_sparsity_on_hand_built_case() -> None:
    net = nn.Sequential(nn.Linear(2, 3))
    model = get_peft_model(net, MonoLoraConfig(r=4, lora_alpha=4, target_modules=["0"], relu_position="code"))
    layer = first_adapted(model)
    layer.lora_A["default"].weight.data = torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
    x = torch.tensor([[[1.0, 0], [0, 1]], [[2.0, 0], [0, 0]]])      # (batch 2, seq 2, 2)
    # codes: [1,-1,0,0] [0,0,1,-1] [2,-2,0,0] [0,0,0,0] -> zeros (<= 0): 3, 3, 3, 4 of 16
    assert adapter_sparsity(model, {"input": x}) == pytest.approx(13 / 16)
    mask = torch.tensor([[1, 1], [1, 0]])                          # padding position excluded
    with sparsity_meter(model) as meter:
        meter.set_mask(mask)
        model(x)
    assert (meter.zeros, meter.total) == (9, 12)
    # Output placement: the update relu(B A x) is what is counted.
    model2 = get_peft_model(nn.Sequential(nn.Linear(2, 3)),
                            MonoLoraConfig(r=1, lora_alpha=1, target_modules=["0"], relu_position="output"))
    layer2 = first_adapted(model2)
    layer2.lora_A["default"].weight.data = torch.tensor([[1.0, 1.0]])
    layer2.lora_B["default"].weight.data = torch.tensor([[1.0], [-1.0], [2.0]])
    assert adapter_sparsity(model2, {"input": torch.tensor([[1.0, 0.0]])}) == pytest.approx(1 / 3)
    # Plain LoRA: a dense code has no zeros.
    model3 = get_peft_model(nn.Sequential(nn.Linear(2, 3)), LoraConfig(r=2, target_modules=["0"]))
    assert adapter_sparsity(model3, {"input": torch.tensor([[1.0, 2.0]])}) == 0.0


def test_gpt2_conv1d_and_sequence_classifier(tmp_path) -> None:
    torch.manual_seed(0)
    gpt = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=64, n_embd=32, n_layer=1, n_head=2,
                                                               n_positions=32)).eval()
    m = get_peft_model(copy.deepcopy(gpt), MonoLoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
    torch.testing.assert_close(m(TOKENS).logits, gpt(TOKENS).logits)
    bert_cfg = transformers.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=48, max_position_embeddings=32, num_labels=3)
    bert = transformers.BertForSequenceClassification(bert_cfg).eval()
    clf = get_peft_model(copy.deepcopy(bert), MonoLoraConfig(task_type="SEQ_CLS", r=2,
                                                             target_modules=["query", "value"])).eval()
    randomise_adapters(clf)
    out = clf(input_ids=TOKENS).logits
    save_adapter(clf, tmp_path / "clf")
    torch.testing.assert_close(load_adapter(copy.deepcopy(bert), tmp_path / "clf").eval()(input_ids=TOKENS).logits, out)


def test_target_modules_that_match_nothing_are_refused_before_training():
    from torch import nn

    from monorobust.adapters.lm_utils import check_target_modules
    from monorobust.errors import ConfigError

    model = nn.Sequential()
    model.add_module("attn", nn.Module())
    model.attn.add_module("q_proj", nn.Linear(4, 4))
    model.attn.add_module("v_proj", nn.Linear(4, 4))
    check_target_modules(model, ["q_proj", "attn.v_proj"])          # PEFT's suffix match
    check_target_modules(model, ["all-linear"])
    with pytest.raises(ConfigError, match=r"\['foo'\] match no module .* named: q_proj, v_proj"):
        check_target_modules(model, ["q_proj", "foo"])
