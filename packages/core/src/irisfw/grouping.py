"""Group the runs of a comparison by backend label and spec.

A comparison may hold several runs of one backend on one spec, e.g. repeated
seeds, so summaries and plots work on groups rather than on single runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from irisfw.results import RunResult


@dataclass(frozen=True)
class RunGroup:
    """The runs that share a ``RunResult.label`` and a ``ModelSpec.label``."""

    name: str
    label: str
    spec_label: str
    runs: tuple[RunResult, ...]

    @property
    def ok_runs(self) -> list[RunResult]:
        return [run for run in self.runs if run.status == "ok" and run.metrics]


def group_runs(runs: Sequence[RunResult]) -> list[RunGroup]:
    """Group ``runs`` by backend label and spec, sorted by label, then spec.

    A group's name is the backend label, followed by the spec label only when
    the runs do not all share one spec.
    """
    members: dict[tuple[str, str], list[RunResult]] = {}
    for run in runs:
        members.setdefault((run.label, run.spec.label), []).append(run)
    several_specs = len({spec_label for _, spec_label in members}) > 1
    groups = []
    for (label, spec_label), group_members in sorted(members.items()):
        name = f"{label} {spec_label}" if several_specs else label
        groups.append(RunGroup(name, label, spec_label, tuple(group_members)))
    return groups


def run_names(runs: Sequence[RunResult]) -> list[str]:
    """Name each run by its group, adding the seed where a group has several runs."""
    names = {}
    for group in group_runs(runs):
        for run in group.runs:
            several = len(group.runs) > 1
            names[id(run)] = f"{group.name} seed {run.seed}" if several else group.name
    return [names[id(run)] for run in runs]
