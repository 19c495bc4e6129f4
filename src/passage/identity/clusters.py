"""Clusters of records that are the same person, from scored pairs (pure: no I/O).

Method: the pairs at or above a probability threshold are the edges of a graph and its connected
components are the clusters, as Splink's `cluster_pairwise_predictions_at_threshold` does (Linacre et al.,
"Splink: Free software for probabilistic record linkage at scale", IJPDS 7(3), 2022). Transitivity can chain
people through one doubtful link (A~B and B~C put A and C together with no direct evidence), so each
cluster also reports its correlation-clustering disagreements: the member pairs inside it that are not
linked directly (Bansal, Blum and Chawla, "Correlation clustering", Machine Learning 56, 2004). A cluster
with disagreements is flagged for review, and each member names the link by which it joined (the strongest
edge of a maximum spanning tree), so a reviewer can split the cluster by cutting its weakest link.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Link:
    """Evidence that two records are one person: their ids and the match probability."""

    left: str
    right: str
    probability: float


@dataclass(frozen=True)
class Member:
    """One record in a cluster and the link that joined it (empty for the cluster's first member)."""

    cluster_id: str
    person_id: str
    cluster_size: int
    linked_to: str
    link_probability: float | None
    missing_links: int
    review: bool


def strongest_links(links: Iterable[Link]) -> dict[tuple[str, str], float]:
    """One undirected edge per pair, with the higher probability of the two directions."""
    best: dict[tuple[str, str], float] = {}
    for link in links:
        if link.left == link.right:
            continue
        key = (link.left, link.right) if link.left < link.right else (link.right, link.left)
        best[key] = max(best.get(key, 0.0), link.probability)
    return best


def cluster(links: Iterable[Link], *, threshold: float) -> list[Member]:
    """Connected components of the links at or above `threshold`, singletons left out.

    Within a cluster, members are ordered along a maximum spanning tree (Prim's algorithm from the member
    with the smallest id), so `linked_to` and `link_probability` give the tree edge that joined each one.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    edges = {pair: p for pair, p in strongest_links(links).items() if p >= threshold}
    neighbours: dict[str, dict[str, float]] = defaultdict(dict)
    for (a, b), p in edges.items():
        neighbours[a][b] = p
        neighbours[b][a] = p
    seen: set[str] = set()
    members: list[Member] = []
    for start in sorted(neighbours):
        if start in seen:
            continue
        component = _component(start, neighbours)
        seen.update(component)
        size = len(component)
        direct = sum(len(neighbours[n]) for n in component) // 2
        missing = size * (size - 1) // 2 - direct
        cluster_id = min(component)
        for person_id, parent, joined_by in _spanning_tree(cluster_id, neighbours, component):
            members.append(Member(cluster_id=cluster_id, person_id=person_id, cluster_size=size, linked_to=parent,
                                  link_probability=joined_by, missing_links=missing, review=missing > 0))
    return members


def _component(start: str, neighbours: dict[str, dict[str, float]]) -> set[str]:
    component = {start}
    stack = [start]
    while stack:
        node = stack.pop()
        for other in neighbours[node]:
            if other not in component:
                component.add(other)
                stack.append(other)
    return component


def _spanning_tree(root: str, neighbours: dict[str, dict[str, float]],
                   component: set[str]) -> list[tuple[str, str, float | None]]:
    """Members in the order Prim's algorithm adds them to a maximum spanning tree, with the edge used."""
    order: list[tuple[str, str, float | None]] = [(root, "", None)]
    inside = {root}
    best: dict[str, tuple[float, str]] = {n: (p, root) for n, p in neighbours[root].items()}
    while len(inside) < len(component):
        node = min(best, key=lambda n: (-best[n][0], n))  # strongest edge first; ties by id, for a stable order
        p, parent = best.pop(node)
        inside.add(node)
        order.append((node, parent, p))
        for other, q in neighbours[node].items():
            if other not in inside and q > best.get(other, (-1.0, ""))[0]:
                best[other] = (q, node)
    return order


def pairwise_scores(members: Iterable[Member], truth_clusters: dict[str, str]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of predicted clusters against true ones (person id -> true cluster).

    Pairs are all unordered pairs of records placed in one cluster (Christen 2012, "Data Matching", ch. 7).
    """
    predicted: dict[str, list[str]] = defaultdict(list)
    for m in members:
        predicted[m.cluster_id].append(m.person_id)
    true_groups: dict[str, list[str]] = defaultdict(list)
    for person_id, group in truth_clusters.items():
        true_groups[group].append(person_id)

    def pairs(groups: Iterable[list[str]]) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for g in groups:
            ordered = sorted(g)
            out.update((a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:])
        return out

    found, true = pairs(predicted.values()), pairs(true_groups.values())
    hit = len(found & true)
    precision = hit / len(found) if found else 1.0
    recall = hit / len(true) if true else 1.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)
