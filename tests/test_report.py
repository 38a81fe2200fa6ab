"""The report on run folders: a complete smoke-shaped run, incomplete runs, errors, a real browser.

The run folders are written by hand in the documented layout (``monorobust.rundir``) with the
smoke preset's config and real test images, so the report's every path runs in seconds without
pretraining anything.
"""

import json
import re
import shutil
import subprocess
from xml.etree import ElementTree

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from monorobust.cli import main
from monorobust.config import dump_yaml, load_config
from monorobust.evaluate import REPRESENTATIONS, SCENARIOS, grid_points
from monorobust.evaluate.scenarios import CLEAN
from monorobust.io import append_jsonl, atomic_write_text, write_json
from monorobust.metrics import summarize
from monorobust.report import write_report

REPS = {"cl": 0.0, "ncl": 0.05, "cl+sae": 0.03}          # robustness bonus per representation
SECTIONS = ["overview", "verdicts", "headline", "severity", "monosemanticity", "gallery",
            "per-class", "finetune", "toy", "reproducibility"]


def _features(labels: torch.Tensor, rep: str, seed: int, dims: int = 24) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed * 7 + len(rep))
    onehot = torch.nn.functional.one_hot(labels, 10).float()
    mix = torch.randn(10, dims, generator=gen)
    if rep != "cl":                                       # sparse, class-aligned codes
        mix = torch.relu(mix) * (torch.rand(10, dims, generator=gen) < 0.3)
    x = onehot @ mix + 0.3 * torch.randn(len(labels), dims, generator=gen)
    return torch.relu(x) if rep != "cl" else x


def make_run(out, seeds=(0, 1), scenarios=None, features=True, metrics=True, provenance=True,
             reps=REPS, labels=None):
    """A run folder with results for ``scenarios`` (default: the smoke grid) of ``reps``."""
    cfg = load_config("smoke", {"out": str(out), "seeds": list(seeds),
                                "representations": [r for r in reps if r != "mystery"]})
    atomic_write_text(out / "config.yaml", dump_yaml(cfg))
    rng = np.random.default_rng(0)
    rows = []
    for rep, bonus in reps.items():
        for seed in seeds:
            for scen, sev in grid_points(cfg.grid):
                if scenarios is not None and scen not in scenarios:
                    continue
                drop = 0.0 if scen == "clean" else 0.2 + 0.3 * min(sev, 1.0)
                acc = float(np.clip(0.9 - drop + (bonus if scen != "clean" else 0)
                                    + rng.normal(0, 0.003), 0, 1))
                per_class = np.clip(acc + rng.normal(0, 0.05, 10), 0, 1).tolist()
                rows.append({"representation": rep, "scenario": scen, "severity": sev,
                             "severity_name": "x", "seed": seed, "accuracy": acc,
                             "realised_noise_rate": sev if scen == "label_noise" else 0.0,
                             "per_class_accuracy": per_class, "n_train": 1000, "n_test": 450})
            if labels is not None and (features or metrics) and rep != "mystery":
                x = _features(labels, rep, seed)
                if features:
                    (out / "features").mkdir(exist_ok=True)
                    save_file({"features": x, "labels": labels},
                              str(out / "features" / f"{rep}-seed{seed}-test.safetensors"))
                if metrics:
                    m = summarize(x, labels, 10)._asdict()
                    append_jsonl(out / "metrics.jsonl", [{"representation": rep, "seed": seed, **m}])
    append_jsonl(out / "results.jsonl", rows)
    if provenance:
        write_json(out / "run.json", {"seconds": 12.5, "seeds": list(seeds), "python": "3.11",
                                      "platform": "test", "cpu_threads": 2, "cuda": None,
                                      "versions": {"monorobust": "0.1.0", "torch": "x"}})
    return out


@pytest.fixture(scope="module")
def test_labels():
    from monorobust.data.prepare import prepare_splits

    return prepare_splits(load_config("smoke").data).test.labels


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, test_labels):
    out = make_run(tmp_path_factory.mktemp("full"), labels=test_labels)
    return out, write_report(out)


def test_complete_run_renders_every_section_and_figure(full_run):
    out, paths = full_run
    page = paths.html.read_text()
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in page
    assert paths.missing == [] and "What this run lacks" not in page
    names = {p.name for p in paths.figures}
    for stem in ("headline", "severity", "mono_vs_robust", "per_class", "gallery_cl",
                 "gallery_ncl", "gallery_cl_sae"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
    for p in paths.figures:
        assert p.stat().st_size > 1000
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _check_svg_texts(out, {p.stem: p for p in paths.figures if p.suffix == ".svg"})
    # Self-contained: every image inline, nothing fetched from anywhere.
    assert page.count('src="data:image/png;base64,') == len(names) // 2
    assert not re.search(r'(src|href)="(https?:|//|file:)', page) and "<script" not in page
    md = paths.markdown.read_text()
    assert "## Verdicts per claim" in md and "](figures/headline.png)" in md
    assert "label noise" in md and "supports" in md        # +3-5 pts at every seed


def _svg_texts(path) -> set[str]:
    """The text elements of an SVG figure (text stays text: svg.fonttype is "none")."""
    root = ElementTree.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return {"".join(el.itertext()) for el in root.iter() if el.tag.endswith("}text")}


def _check_svg_texts(out, svgs) -> None:
    """Each figure carries the titles, axis labels and legend its data call for."""
    cfg = load_config(str(out / "config.yaml"))
    labels = {REPRESENTATIONS.get(r).label for r in cfg.representations}
    texts = {stem: _svg_texts(path) for stem, path in svgs.items()}
    for stem in ("headline", "severity", "mono_vs_robust", "per_class"):
        assert labels <= texts[stem], f"{stem}.svg lacks a legend entry"
    assert {"Clean vs. noisy accuracy per representation (cf. paper Figure 1b)",
            "test accuracy (%)"} <= texts["headline"]
    for name, severities in cfg.grid.scenarios.items():
        scen = SCENARIOS.get(name)
        if name != CLEAN:
            assert scen.title in texts["severity"]
        if name != CLEAN and (scen.zero_is_clean or len(severities) > 1):   # drawn as a curve
            assert scen.axis in texts["severity"]
    assert {"semantic consistency", "topk purity"} <= texts["mono_vs_robust"]
    assert "purity of the class's top dimensions" in texts["per_class"]
    for rep in cfg.representations:
        gallery = texts[f"gallery_{rep.replace('+', '_')}"]
        assert f"{REPRESENTATIONS.get(rep).label}, seed 0" in gallery and "most pure" in gallery


def test_incomplete_run_renders_and_names_what_is_missing(tmp_path):
    out = make_run(tmp_path, seeds=(0,), scenarios={"clean", "label_noise"}, features=False,
                   metrics=False, provenance=False)
    (out / "figures").mkdir()
    (out / "figures" / "gallery_dropped.png").write_bytes(b"stale")
    paths = write_report(out)
    assert not (out / "figures" / "gallery_dropped.png").exists()
    page = paths.html.read_text()
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in page
    missing = "\n".join(paths.missing)
    for needle in ("scenario gaussian_noise: no results", "scenario few_shot: no results",
                   "only one seed", "features/", "metrics.jsonl", "run.json"):
        assert needle in missing and needle in page
    assert "What this run lacks" in page and "cannot tell" in page
    assert 'class="v-sup"' not in page and 'class="v-con"' not in page    # one seed: no verdict


def test_unknown_representation_finetune_rows_and_toy_section(tmp_path):
    out = make_run(tmp_path, scenarios={"clean", "label_noise", "gaussian_noise"},
                   features=False, metrics=False, reps={"cl": 0.0, "ncl": 0.05, "mystery": 0.1})
    from monorobust.rundir import FinetuneRow

    append_jsonl(out / "finetune.jsonl", [    # rows as `monorobust finetune` writes them
        FinetuneRow(o, h, "label_noise", 0.6, s, test_accuracy=0.7, best_epoch=3,
                    train_accuracy=0.6, train_accuracy_clean=0.6, val_accuracy=0.5,
                    final_train_accuracy=0.9, final_val_accuracy=0.4, realised_noise_rate=0.6,
                    n_train=100, n_val=50, nonneg_share=1.0, seconds=1.0).to_json()
        for o in ("cl", "ncl") for h in ("standard", "mono") for s in (0, 1)])
    # Bring-your-own arrays (evaluate_arrays) write metrics rows without a seed.
    append_jsonl(out / "metrics.jsonl", [{"representation": "mystery", "seed": None,
                                          "topk_purity": 0.5, "semantic_consistency": 0.4}])
    (out / "toy").mkdir()
    _tiny_png(out / "toy" / "t.png")
    (out / "toy" / "toy.json").write_text(json.dumps(
        {"figures": ["t.png"], "two_feature": None,
         "superposition": {"summary": ["mono wins under label noise above 30%"]}}))
    paths = write_report(out)
    page = paths.html.read_text()
    assert "representation &#x27;mystery&#x27; is not registered" in page
    assert "mystery" in page.split('id="severity"')[1]     # shown, with its own colour
    assert "label_noise@0.6" in page and "standard" in page   # fine-tuning table
    assert "mono wins under label noise above 30%" in page and "toy/t.png" in page


def _tiny_png(path):
    from PIL import Image

    Image.new("RGB", (4, 4), "white").save(path)


def test_missing_or_empty_run_dir_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "does not exist" in err and "\n" not in err
    assert main(["report", str(tmp_path)]) == 2
    assert "results.jsonl" in capsys.readouterr().err
    (tmp_path / "results.jsonl").write_text("")
    assert main(["report", str(tmp_path)]) == 2
    assert "no rows" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=5000"]
CHECK = ('<script>addEventListener("load",function(){var im=document.images,bad=0;'
         'for(var i=0;i<im.length;i++){if(!im[i].complete||im[i].naturalWidth===0)bad++}'
         'var d=document.createElement("div");d.id="imgcheck";'
         'd.textContent="IMGCHECK "+im.length+" "+bad;document.body.appendChild(d)})</script>')


def _chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def _images_in_browser(tmp_path, page: str) -> tuple[int, int]:
    """(images, broken images) after Chromium loaded ``page`` with the check script added."""
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK + "</body>"))
    dom = _chromium(tmp_path, "--dump-dom", probe.as_uri()).stdout
    found = re.search(r'id="imgcheck">IMGCHECK (\d+) (\d+)<', dom)
    assert found, f"the page did not load in Chromium: {dom[:300]!r}"
    return int(found.group(1)), int(found.group(2))


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                    "(./install.sh test installs it); the browser check needs it")
def test_report_loads_in_headless_chromium_with_every_image(full_run, tmp_path):
    out, paths = full_run
    page = paths.html.read_text()
    total, broken = _images_in_browser(tmp_path, page)
    assert total == page.count("<img ") and total >= 7 and broken == 0
    # The check itself catches a broken image.
    bad_page = page.replace("<main>", '<main><img src="data:image/png;base64,AAAA">', 1)
    assert _images_in_browser(tmp_path, bad_page)[1] == 1
    shot = out / "report-screenshot.png"
    _chromium(tmp_path, "--window-size=1280,2400", f"--screenshot={shot}", paths.html.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000
    shutil.copy(shot, tmp_path / "report-screenshot.png")


def test_mono_vs_robust_with_a_constant_accuracy_warns_nothing():
    """A tiny test split (your own 23 images) gave every seed the same accuracy: scipy's
    'An input array is constant' warning reached the user twice; the panel says rho = nan."""
    import warnings

    import pandas as pd

    from monorobust.report import figures

    points = pd.DataFrame({"representation": ["cl", "cl", "ncl", "ncl"], "seed": [0, 1, 0, 1],
                           "topk_purity": [0.2, 0.3, 0.5, 0.6],
                           "semantic_consistency": [0.1, 0.2, 0.3, 0.4],
                           "label_noise_acc": [0.5, 0.5, 0.5, 0.5],
                           "input_noise_acc": [0.4, 0.5, 0.6, 0.7]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = figures.mono_vs_robust(points, ["cl", "ncl"], {"cl": "CL", "ncl": "NCL"},
                                     {"cl": "C0", "ncl": "C1"})
    assert fig is not None


@pytest.mark.parametrize("command", [["report"], ["study", "--quiet", "--no-report"]])
def test_report_and_study_on_a_folder_in_use_say_wait_not_another_out(command, tmp_path, capsys):
    """They take the run folder as their argument and have no --out to pass."""
    from monorobust.rundir import RunDir

    run = RunDir(tmp_path)
    run.write_config(load_config("smoke", {"out": str(tmp_path)}))
    with run.hold("run"):
        assert main([command[0], str(tmp_path), *command[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("(monorobust run); wait for it to finish"), err


@pytest.mark.parametrize("text", ['{"superposition": {"summary": [', "[1, 2]",
                                  '{"superposition": 5}', '{"two_feature": {"summary": 3}}',
                                  '{"figures": [3]}', '{"figures": ["../../config.png"]}'])
def test_a_damaged_toy_json_is_noted_not_a_traceback(text, tmp_path):
    """toy/toy.json cut short was a JSONDecodeError traceback, one of another shape an
    AttributeError / TypeError in the toy section; a figure that is not a file name in the toy
    folder is not read."""
    from monorobust.report.load import load_run

    out = make_run(tmp_path, seeds=(0,), scenarios={"clean"}, features=False, metrics=False,
                   provenance=False)
    (out / "toy").mkdir()
    (out / "toy" / "toy.json").write_text(text)
    data = load_run(out)
    assert data.toy is None
    assert any(line.startswith("toy/toy.json: damaged (") and "monorobust toy --out" in line
               for line in data.missing)
    assert write_report(out).html.exists()


def test_a_finetune_row_edited_by_hand_is_an_error_naming_its_line(tmp_path):
    """The report read finetune.jsonl unchecked: "test_accuracy": "high" dropped that seed from
    the mean without a word (the table showed one seed's number beside "2 seeds")."""
    from monorobust.errors import ConfigError
    from monorobust.rundir import FinetuneRow

    out = make_run(tmp_path, seeds=(0,), scenarios={"clean"}, features=False, metrics=False,
                   provenance=False)
    row = FinetuneRow("cl", "mono", "clean", 0.0, 0, 0.5, 3, 0.6, 0.6, 0.5, 0.6, 0.5, 0.0,
                      100, 50, 1.0, 1.0)
    append_jsonl(out / "finetune.jsonl", [row.to_json(), {**row.to_json(), "seed": 1,
                                                          "test_accuracy": "high"}])
    with pytest.raises(ConfigError, match=r"finetune.jsonl line 2 is not a FinetuneRow"):
        write_report(out)


def test_characters_the_font_lacks_are_one_warning_naming_them():
    """Class names in a script matplotlib's font lacks: one warning for the whole report, not
    one per character and per place that draws text; other warnings still pass."""
    import warnings

    from monorobust.report.style import new_figure, one_missing_glyphs_warning, render

    def draw():
        fig, ax = new_figure(1, 2, (4, 2))
        for a in ax[0]:
            a.set_title("中文 ζ")
            a.set_xlabel("鞋")
        render(fig, "t", "caption")
        warnings.warn("something else", RuntimeWarning)

    with warnings.catch_warnings(record=True) as bare:
        warnings.simplefilter("always")
        draw()
    glyphs = [w for w in bare if "missing from" in str(w.message)]
    assert len(glyphs) > 3                                   # what a report used to print
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with one_missing_glyphs_warning():
            draw()
    messages = [str(w.message) for w in caught]
    assert "something else" in messages
    [one] = [m for m in messages if "lacks" in m or "missing from" in m]
    assert "3 character(s)" in one and "中" in one and "鞋" in one
