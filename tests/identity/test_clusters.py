"""Clusters from linked pairs: connected components, review flags, spanning-tree links, pairwise scores."""

from __future__ import annotations

import pytest

from passage.identity.clusters import Link, cluster, pairwise_scores


def test_components_keep_only_links_at_the_threshold_and_flag_chains_for_review() -> None:
    links = [Link("a", "b", 0.999), Link("b", "a", 0.995), Link("b", "c", 0.991), Link("d", "e", 0.98), Link("f", "f", 1.0)]
    members = cluster(links, threshold=0.99)
    by_id = {m.person_id: m for m in members}
    assert set(by_id) == {"a", "b", "c"}  # d-e is below the threshold; a self-link is not a cluster
    assert {m.cluster_id for m in members} == {"a"}
    # a and c are joined only through b: one missing link, so the cluster goes to a reviewer.
    assert all(m.cluster_size == 3 and m.missing_links == 1 and m.review for m in members)
    assert by_id["a"].linked_to == "" and by_id["b"].linked_to == "a" and by_id["b"].link_probability == 0.999
    assert by_id["c"].linked_to == "b" and by_id["c"].link_probability == 0.991  # the weakest link to cut


def test_a_fully_linked_cluster_needs_no_review() -> None:
    links = [Link("x", "y", 0.999), Link("y", "z", 0.999), Link("x", "z", 0.995)]
    members = cluster(links, threshold=0.99)
    assert len(members) == 3 and not any(m.review for m in members) and members[0].missing_links == 0


def test_threshold_outside_the_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        cluster([], threshold=0.0)


def test_pairwise_scores_count_every_pair_inside_a_cluster() -> None:
    members = cluster([Link("a", "b", 1.0), Link("b", "c", 1.0)], threshold=0.99)
    truth = {"a": "1", "b": "1", "c": "2", "d": "2"}
    precision, recall, f1 = pairwise_scores(members, truth)
    # predicted pairs ab, ac, bc; true pairs ab, cd: one hit.
    assert (round(precision, 3), recall) == (0.333, 0.5)
    assert abs(f1 - 0.4) < 1e-9
