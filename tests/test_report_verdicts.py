"""Verdict logic of the report on hand-made result rows: supports / contradicts / cannot tell."""

import math

import pandas as pd
import pytest

from monorobust.report import verdicts as V

FLAGS = {"cl": False, "ncl": True}


def rows(points: dict[tuple[str, float], dict[str, list[float]]]) -> pd.DataFrame:
    """{(scenario, severity): {representation: [accuracy per seed]}} -> result rows."""
    out = []
    for (scen, sev), by_rep in points.items():
        for rep, accs in by_rep.items():
            for seed, acc in enumerate(accs):
                out.append({"representation": rep, "scenario": scen, "severity": sev,
                            "seed": seed, "accuracy": acc})
    return pd.DataFrame(out)


def verdict_of(df: pd.DataFrame, key: str, flags=FLAGS) -> V.Verdict:
    return {v.key: v for v in V.claim_verdicts(df, flags)}[key]


def test_label_noise_supports_when_mono_is_consistently_better():
    df = rows({("clean", 0.0): {"cl": [0.80, 0.81, 0.79], "ncl": [0.80, 0.815, 0.795]},
               ("label_noise", 0.4): {"cl": [0.7, 0.7, 0.7], "ncl": [0.5, 0.5, 0.5]},
               ("label_noise", 0.8): {"cl": [0.40, 0.42, 0.38], "ncl": [0.50, 0.53, 0.49]}})
    v = verdict_of(df, "label_noise")
    assert v.verdict == V.SUPPORTS
    assert v.primary.what.endswith("label_noise@0.8")        # judged at the strongest rate
    assert v.primary.diff == pytest.approx(0.1067, abs=1e-3)
    assert v.primary.lo > 0 and v.primary.test == "paired over 3 seeds"
    assert verdict_of(df, "clean").verdict == V.SUPPORTS    # |diff| CI within 2 points


def test_contradicts_when_mono_is_consistently_worse():
    df = rows({("gaussian_noise", 0.3): {"cl": [0.60, 0.62, 0.61], "ncl": [0.50, 0.51, 0.49]},
               ("uniform_noise", 0.5): {"cl": [0.55, 0.56, 0.57], "ncl": [0.45, 0.47, 0.46]}})
    v = verdict_of(df, "input_noise")
    assert v.verdict == V.CONTRADICTS and v.primary.hi < 0
    assert len(v.details) == 2                                # one per scenario


def test_cannot_tell_when_spread_swamps_the_difference():
    df = rows({("few_shot", 1.0): {"cl": [0.30, 0.50, 0.40], "ncl": [0.45, 0.35, 0.44]},
               ("few_shot", 5.0): {"cl": [0.9, 0.9, 0.9], "ncl": [0.1, 0.1, 0.1]}})
    v = verdict_of(df, "few_shot")
    assert v.primary.what.endswith("few_shot@1")             # the smallest k
    assert v.verdict == V.CANNOT_TELL and v.primary.lo < 0 < v.primary.hi


def test_clean_parity_contradicted_by_a_large_clean_gap():
    df = rows({("clean", 0.0): {"cl": [0.90, 0.91, 0.92], "ncl": [0.80, 0.805, 0.81]}})
    assert verdict_of(df, "clean").verdict == V.CONTRADICTS


def test_one_seed_and_missing_sides_cannot_tell():
    df = rows({("label_noise", 0.8): {"cl": [0.2], "ncl": [0.9]}})
    v = verdict_of(df, "label_noise")
    assert v.verdict == V.CANNOT_TELL and math.isnan(v.primary.lo)
    assert "one seed" in v.primary.test
    only_mono = verdict_of(df, "label_noise", {"ncl": True})
    assert only_mono.verdict == V.CANNOT_TELL and "polysemantic" in only_mono.reason
    absent = verdict_of(df, "ood")
    assert absent.verdict == V.CANNOT_TELL and absent.primary is None


def test_zero_spread_is_not_certainty():
    df = rows({("sketch", 1.0): {"cl": [0.2, 0.3], "ncl": [0.25, 0.35]}})
    v = verdict_of(df, "ood")
    assert v.verdict == V.CANNOT_TELL and "zero spread" in v.primary.test


def test_unregistered_representation_is_left_out_and_welch_without_shared_seeds():
    df = rows({("label_noise", 0.8): {"cl": [0.30, 0.32, 0.31], "mystery": [0.0, 0.0, 0.0]}})
    extra = rows({("label_noise", 0.8): {"ncl": [0.0, 0.0, 0.0, 0.50, 0.52, 0.51]}})
    extra = extra[extra.seed >= 3]                            # seeds 3-5: none shared with cl
    df = pd.concat([df, extra])
    v = verdict_of(df, "label_noise", {"cl": False, "ncl": True, "mystery": None})
    assert "mystery" not in v.primary.what
    assert v.primary.test.startswith("Welch") and v.verdict == V.SUPPORTS


def test_several_mono_representations_are_pooled_per_seed():
    df = rows({("label_noise", 0.8): {"cl": [0.30, 0.31, 0.32], "ncl": [0.40, 0.41, 0.42],
                                      "cl+sae": [0.20, 0.21, 0.22]}})
    v = verdict_of(df, "label_noise", {"cl": False, "ncl": True, "cl+sae": True})
    assert v.primary.diff == pytest.approx(0.0)               # (+10 - 10) / 2
    assert v.verdict == V.CANNOT_TELL
    assert {d.what.split(" -")[0] for d in v.details} == {"ncl", "cl+sae"}


def test_verdicts_table_has_one_row_per_claim():
    df = rows({("clean", 0.0): {"cl": [0.8, 0.81], "ncl": [0.8, 0.8]}})
    table = V.verdicts_table(V.claim_verdicts(df, FLAGS))
    assert list(table.claim) == [c.title for c in V.CLAIMS.values()]
    assert set(table.verdict) <= {V.SUPPORTS, V.CONTRADICTS, V.CANNOT_TELL}


def test_verdicts_on_few_seeds_say_they_are_provisional():
    def verdicts_on(n: int) -> list[V.Verdict]:
        df = rows({("clean", 0.0): {"cl": [0.80 + 0.001 * i for i in range(n)],
                                    "ncl": [0.79 + 0.002 * i for i in range(n)]},
                   ("label_noise", 0.8): {"cl": [0.60 + 0.01 * i for i in range(n)],
                                          "ncl": [0.65 + 0.005 * i for i in range(n)]}})
        return V.claim_verdicts(df, FLAGS)

    note = V.few_seeds_note(verdicts_on(3))
    assert note is not None and "rest on 3 seeds" in note and "+-4.30 standard errors" in note
    assert "--seeds" in note
    assert "rest on 4 seeds" in V.few_seeds_note(verdicts_on(4))
    assert V.few_seeds_note(verdicts_on(V.FEW_SEEDS)) is None
    assert V.few_seeds_note(verdicts_on(1)) is None          # one seed: every verdict says so


def test_one_common_seed_is_compared_on_that_seed_alone():
    """cl and ncl on seeds 0 and 1, cl+sae on seed 0 only: the contrast pairs seed 0, it does
    not set seed 0's mono against the poly mean over seeds 0 and 1."""
    df = rows({("clean", 0.0): {"cl": [0.80, 0.90], "cl+sae": [0.77]}})
    c = V.contrast(df, ["cl+sae"], ["cl"], [("clean", 0.0)])
    assert c.diff == pytest.approx(-0.03) and c.test == "one seed (0): no spread"
    apart = pd.DataFrame([{"representation": "cl", "scenario": "clean", "severity": 0.0,
                           "seed": 1, "accuracy": 0.8},
                          {"representation": "ncl", "scenario": "clean", "severity": 0.0,
                           "seed": 0, "accuracy": 0.7}])
    c = V.contrast(apart, ["ncl"], ["cl"], [("clean", 0.0)])
    assert c.diff == pytest.approx(-0.1) and "unpaired" in c.test


def test_the_study_p_value_of_a_welch_comparison_is_scipys_welch_test():
    """Without shared seeds the interval is Welch's; the study's p-value uses its degrees of
    freedom (not seeds - 1), so it equals scipy's unequal-variance t-test."""
    from scipy import stats

    from monorobust.report.study import _p_value

    a, b = [0.50, 0.53, 0.49, 0.55], [0.40, 0.47]
    df = rows({("label_noise", 0.8): {"cl": [0.0] * 4 + b}})
    df = pd.concat([df[df.seed >= 4], rows({("label_noise", 0.8): {"ncl": a}})])
    c = verdict_of(df, "label_noise", {"cl": False, "ncl": True}).primary
    assert c.test.startswith("Welch") and 1 < c.df < 5
    expected = stats.ttest_ind(a, b, equal_var=False).pvalue
    assert _p_value(c, parity=False) == pytest.approx(expected, rel=1e-9)
    paired = verdict_of(rows({("label_noise", 0.8): {"cl": b + [0.45], "ncl": a[:3]}}),
                        "label_noise", {"cl": False, "ncl": True}).primary
    assert paired.df == 2 and _p_value(paired, parity=False) == pytest.approx(
        stats.ttest_rel(a[:3], b + [0.45]).pvalue, rel=1e-9)
