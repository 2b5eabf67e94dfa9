"""Summaries over repeated runs and paired tests between backends.

The paired test is the corrected resampled t-test of Nadeau and Bengio
("Inference for the Generalization Error", Machine Learning 52, 2003). The
ordinary paired t-test assumes the per-split differences are independent,
but repeated holdout splits and cross-validation folds share training rows,
which makes that test far too eager to call a difference significant. The
correction multiplies the variance of the mean difference by
``1/n + n_test/n_train`` instead of ``1/n``. It still assumes the
differences are roughly normally distributed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations
from statistics import median

import numpy as np

from irisfw.results import Comparison, Estimate, GroupSummary, PairwiseTest, RunResult

CONFIDENCE = 0.95
SIGNIFICANCE = 0.05
TEST_NAME = "corrected resampled paired t-test (Nadeau and Bengio, 2003)"


def estimate(
    values: list[float], low: float = -math.inf, high: float = math.inf
) -> Estimate | None:
    """Return the mean, sample std and 95% t interval of ``values``.

    The interval is clipped to the metric's range ``[low, high]``, because a
    symmetric t interval around an accuracy near 1 can pass 1.
    """
    if not values:
        return None
    n = len(values)
    mean = float(np.mean(values))
    if n < 2:
        return Estimate(mean=mean, n=n)
    # scipy is imported only when a group has several runs: a comparison with
    # one run per backend does not need it, and importing it takes about 1 s.
    from scipy import stats

    std = float(np.std(values, ddof=1))
    half_width = stats.t.ppf((1 + CONFIDENCE) / 2, n - 1) * std / math.sqrt(n)
    return Estimate(
        mean=mean,
        std=std,
        ci_low=max(low, mean - half_width),
        ci_high=min(high, mean + half_width),
        n=n,
    )


def group_key(run: RunResult) -> tuple[str, str]:
    return (run.label, run.spec.label)


def summarize(comparison: Comparison) -> list[GroupSummary]:
    """Return one summary per backend label and spec, best mean accuracy first."""
    groups: dict[tuple[str, str], list[RunResult]] = defaultdict(list)
    for run in comparison.runs:
        groups[group_key(run)].append(run)
    summaries = []
    for (label, spec), runs in groups.items():
        ok = [run for run in runs if run.status == "ok" and run.metrics is not None]
        fit_times = [
            run.timings.fit_seconds for run in ok if run.timings.fit_seconds is not None
        ]
        summaries.append(
            GroupSummary(
                label=label,
                backend=runs[0].backend,
                spec=spec,
                runs=len(runs),
                ok_runs=len(ok),
                test_accuracy=estimate(
                    [run.metrics.test_accuracy for run in ok], 0.0, 1.0
                ),
                macro_f1=estimate([run.metrics.macro_f1 for run in ok], 0.0, 1.0),
                test_log_loss=estimate([run.metrics.test_log_loss for run in ok], 0.0),
                median_fit_seconds=median(fit_times) if fit_times else None,
            )
        )
    summaries.sort(
        key=lambda s: (-(s.test_accuracy.mean if s.test_accuracy else -1), s.label)
    )
    return summaries


def corrected_paired_t_test(
    differences: list[float], test_fraction: float
) -> tuple[float | None, float | None]:
    """Return (t, two-sided p) for per-split differences; None below 2 pairs.

    ``test_fraction`` is n_test / n_train of one split.
    """
    n = len(differences)
    if n < 2:
        return None, None
    mean = float(np.mean(differences))
    variance = float(np.var(differences, ddof=1))
    if variance == 0:
        # Identical differences on every split: no spread to test against.
        return None, 1.0 if mean == 0 else 0.0
    from scipy import stats

    t = mean / math.sqrt((1 / n + test_fraction) * variance)
    p = 2 * float(stats.t.sf(abs(t), n - 1))
    return t, p


def pairwise_tests(
    comparison: Comparison, order: list[GroupSummary]
) -> list[PairwiseTest]:
    """Compare every two groups on the splits where both have an ok run."""
    accuracy: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for run in comparison.runs:
        if run.status == "ok" and run.metrics is not None:
            accuracy[group_key(run)][run.split] = run.metrics.test_accuracy
    split_sizes = {split.index: split for split in comparison.splits}
    several_specs = len({group.spec for group in order}) > 1
    tests = []
    for first, second in combinations(order, 2):
        first_key = (first.label, first.spec)
        second_key = (second.label, second.spec)
        shared = sorted(set(accuracy[first_key]) & set(accuracy[second_key]))
        if len(shared) < 2:
            continue
        differences = [
            accuracy[first_key][index] - accuracy[second_key][index] for index in shared
        ]
        fractions = [
            split_sizes[index].test_rows / split_sizes[index].train_rows
            for index in shared
            if index in split_sizes
        ]
        fraction = float(np.mean(fractions)) if fractions else 0.0
        statistic, p_value = corrected_paired_t_test(differences, fraction)
        tests.append(
            PairwiseTest(
                first=_name(first, several_specs),
                second=_name(second, several_specs),
                spec=first.spec if first.spec == second.spec else "",
                pairs=len(shared),
                mean_difference=float(np.mean(differences)),
                statistic=statistic,
                p_value=p_value,
                significant=p_value is not None and p_value < SIGNIFICANCE,
                test=TEST_NAME,
            )
        )
    return tests


def _name(group: GroupSummary, several_specs: bool) -> str:
    return f"{group.label} [{group.spec}]" if several_specs else group.label


def add_statistics(comparison: Comparison) -> Comparison:
    """Fill ``summary`` and ``pairwise`` from the runs."""
    comparison.summary = summarize(comparison)
    comparison.pairwise = pairwise_tests(comparison, comparison.summary)
    return comparison
