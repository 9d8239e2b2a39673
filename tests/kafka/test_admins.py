"""The admin calls on either client ([kafka] client): the same topics created, the same topic ids
described (the offsets' app ids are made of them, so a table is read on by the other client)."""

from __future__ import annotations

from collections.abc import Callable

from deltastream.kafka import clients

from ..conftest import CLIENTS, Project


def test_both_clients_create_and_describe_the_same_topics(project_factory: Callable[..., Project]) -> None:
    project = project_factory("item", "sale")
    topics = [project.topics["item"], project.topics["sale"]]
    snapshots = []
    for n, client in enumerate(CLIENTS):
        project.write(kafka={"client": client})
        admin = clients.admin(project.config, patience_s=10)
        try:
            # The first client creates the topics; the second finds them there.
            assert clients.ensure_topics(admin, topics, 2 + n, 1) == ([] if n else topics)
            snapshots.append(admin.describe([*topics, "no-such-topic"]))
        finally:
            admin.close()
    assert snapshots[0] == snapshots[1]
    assert set(snapshots[0]) == set(topics)
    assert all(state.partitions == 2 for state in snapshots[0].values())
    ids = [state.topic_id for state in snapshots[0].values()]
    assert all(ids) and len(set(ids)) == 2
