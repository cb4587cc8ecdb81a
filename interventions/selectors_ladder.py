"""Reads for the ladder pages: pupils at each stage, and a simulation laid out beside where pupils stand now."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, QuerySet

from pupils.models import Pupil, School

from .models import Ladder, Placement, Proposal, Stage
from .services import Simulation, active_ladder


def stage_counts_by_key(*, ladder: Ladder, pupils: QuerySet[Pupil]) -> dict[str, int]:
    """Pupils at each stage key of this ladder. One query."""
    return dict(
        Placement.objects.filter(ladder=ladder, pupil__in=pupils)
        .order_by()
        .values("stage__key")
        .annotate(n=Count("id"))
        .values_list("stage__key", "n")
    )


@dataclass
class SimulationPage:
    stages: list[dict[str, Any]]  # the simulated count per stage; with now and change when comparable
    moves: list[dict[str, Any]]  # most concerning destination first
    compared_with: Ladder | None  # the ladder "now" is read from
    comparable: bool  # the two share stage keys, so counts can sit side by side
    current: list[dict[str, Any]] = field(default_factory=list)  # the other ladder's counts, when not comparable
    proposals: list[dict[str, Any]] = field(default_factory=list)  # laid out as moves; "waiting": already proposed
    staying: list[dict[str, Any]] = field(default_factory=list)  # laid out as moves
    resting: list[dict[str, Any]] = field(default_factory=list)  # laid out as moves: declined lately, not proposed

    @property
    def proposals_waiting(self) -> int:
        return sum(1 for proposal in self.proposals if proposal.get("waiting"))


def _rows(stages: list[Stage], counts: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"key": s.key, "label": s.label, "name": s.name, "colour": s.colour, "count": counts.get(s.key, 0)}
        for s in stages
    ]


def simulation_page(
    *,
    school: School,
    ladder: Ladder | None,
    pupils: QuerySet[Pupil],
    simulation: Simulation,
    stages: list[Stage] | None = None,
) -> SimulationPage:
    """Lay out a simulation of `ladder` against where pupils stand now. A fixed number of queries.

    "Now" is this ladder's placements if it has any (it is or was active), otherwise the active ladder's.
    A ladder the school has not loaded (a shipped one) is None, with its `stages` unsaved
    (`services.document_stages`): "now" is then the active ladder's.
    """
    if ladder is not None:
        stages = list(ladder.stages.all())
    assert stages is not None, "a ladder not loaded needs its stages"
    now = stage_counts_by_key(ladder=ladder, pupils=pupils) if ladder is not None else {}
    compared_with = ladder if ladder is not None and (now or ladder.is_active) else active_ladder(school)
    current: list[dict[str, Any]] = []
    if compared_with is not None and compared_with != ladder:
        other_stages = list(compared_with.stages.all())
        now = stage_counts_by_key(ladder=compared_with, pupils=pupils)
        current = _rows(other_stages, now)
    comparable = compared_with is not None and (
        not current or bool({r["key"] for r in current} & {s.key for s in stages})
    )
    by_key = {s.key: s for s in stages}
    rows = []
    for row in simulation.stages:
        stage = by_key.get(row["key"])
        before = now.get(row["key"], 0)
        rows.append(
            {
                **row,
                "colour": stage.colour if stage else "#6c757d",
                "now": before if comparable else None,
                "delta": row["count"] - before if comparable else None,
            }
        )
    pks = dict(pupils.values_list("upn", "pk"))

    def laid_out(moves: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The moves of the pupils shown, with their stages' labels; the most concerning stage first, and
        within it the lowest attendance."""
        rows = [
            {
                **move,
                "pk": pks[move["upn"]],
                "from_label": by_key[move["from"]].label if move["from"] in by_key else "",
                "to_label": by_key[move["to"]].label if move["to"] in by_key else move["to"],
                "to_colour": by_key[move["to"]].colour if move["to"] in by_key else "#6c757d",
                "position": by_key[move["to"]].position if move["to"] in by_key else 0,
                "indicated_label": by_key[move["indicated"]].label if move.get("indicated") in by_key else "",
            }
            for move in moves
            if move["upn"] in pks
        ]
        rows.sort(key=lambda m: (-m["position"], float(m["attendance"]) if m["attendance"] else 101.0, m["name"]))
        return rows

    proposals = laid_out(simulation.proposals)
    # The same move awaiting approval now, on the ladder "now" is read from (kept by key on activation).
    if compared_with is not None:
        waiting = set(
            Proposal.objects.filter(ladder=compared_with, status=Proposal.Status.PENDING).values_list(
                "pupil_id", "to_stage__key"
            )
        )
        for proposal in proposals:
            proposal["waiting"] = (proposal["pk"], proposal["to"]) in waiting
    return SimulationPage(
        stages=rows,
        moves=laid_out(simulation.moves),
        proposals=proposals,
        staying=laid_out(simulation.staying),
        resting=laid_out(simulation.resting),
        compared_with=compared_with,
        comparable=comparable,
        current=[] if comparable else current,
    )


# --- an edit, simulated before it is saved ------------------------------------------


@dataclass(frozen=True)
class EditPreview:
    """What a ladder would do as saved and as edited, on the same register: the edit's effect, before saving."""

    saved: Simulation
    edited: Simulation
    #: Each stage of either version, the edited version's order first: key, label, name, saved, edited, change.
    stages: list[dict[str, Any]]
    #: The pupils the edit changes the outcome for (a move, or a move proposed): name, pk, attendance, saved, edited.
    pupils: list[dict[str, Any]]

    @property
    def changes_nothing(self) -> bool:
        return not self.pupils and all(row["change"] == 0 for row in self.stages)


def edit_preview(*, saved: Simulation, edited: Simulation, pupils: QuerySet[Pupil]) -> EditPreview:
    """Lay the saved and the edited ladder's simulations side by side (both from `services.ladder_simulate`)."""
    saved_counts = {row["key"]: row["count"] for row in saved.stages}
    edited_counts = {row["key"]: row["count"] for row in edited.stages}
    seen: dict[str, dict[str, Any]] = {}
    for row in [*edited.stages, *saved.stages]:
        seen.setdefault(row["key"], row)
    stages = [
        {
            "key": key,
            "label": row["label"],
            "name": row["name"],
            "saved": saved_counts.get(key),
            "edited": edited_counts.get(key),
            "change": edited_counts.get(key, 0) - saved_counts.get(key, 0),
        }
        for key, row in seen.items()
    ]
    labels = {key: row["name"] for key, row in seen.items()}
    before, after = _outcomes(saved, labels), _outcomes(edited, labels)
    people = {row["upn"]: row for sim in (saved, edited) for rows in (sim.moves, sim.proposals) for row in rows}
    pks = dict(pupils.values_list("upn", "pk"))
    changed = [
        {
            "name": people[upn]["name"],
            "attendance": people[upn]["attendance"],
            "pk": pks[upn],
            "saved": before.get(upn, "stays where they are"),
            "edited": after.get(upn, "stays where they are"),
        }
        for upn in people
        if upn in pks and before.get(upn) != after.get(upn)
    ]
    changed.sort(key=lambda row: (float(row["attendance"]) if row["attendance"] else 101.0, row["name"]))
    return EditPreview(saved=saved, edited=edited, stages=stages, pupils=changed)


def _outcomes(simulation: Simulation, labels: dict[str, str]) -> dict[str, str]:
    """What the night would do for each pupil it does something for, in words: "moves to M; L proposed"."""
    said: dict[str, list[str]] = {}
    for move in simulation.moves:
        said.setdefault(move["upn"], []).append(f"moves to {labels.get(move['to'], move['to'])}")
    for proposal in simulation.proposals:
        said.setdefault(proposal["upn"], []).append(f"{labels.get(proposal['to'], proposal['to'])} proposed")
    return {upn: "; ".join(words) for upn, words in said.items()}
