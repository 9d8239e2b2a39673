"""Topic identity: the pure diff between two snapshots of what the broker says."""

from __future__ import annotations

from deltastream.kafka.topics import TopicChanges, TopicState, diff


def test_the_same_topics_make_no_change() -> None:
    snapshot = {"a": TopicState("id-a", 3), "b": TopicState(None, 1)}
    assert not diff(snapshot, dict(snapshot))
    assert diff(snapshot, dict(snapshot)) == TopicChanges()


def test_a_new_id_is_a_topic_created_anew() -> None:
    changes = diff({"a": TopicState("old", 3)}, {"a": TopicState("new", 3)})
    assert changes.recreated == {"a"}
    assert not changes.resized
    assert str(changes) == "a: created anew"


def test_another_partition_count_is_a_resize() -> None:
    changes = diff({"a": TopicState("x", 3)}, {"a": TopicState("y", 5)})
    assert changes.recreated == {"a"}
    assert changes.resized == {"a": (3, 5)}
    assert str(changes) == "a: created anew; a: 3 -> 5 partitions"


def test_topics_that_went_away_or_appeared() -> None:
    changes = diff(
        {"a": TopicState("x", 1), "b": TopicState("y", 1)}, {"b": TopicState("y", 1), "c": TopicState("z", 2)}
    )
    assert changes.missing == {"a"}
    assert changes.appeared == {"c"}
    assert bool(changes)
    assert str(changes) == "a: gone from the broker; c: now on the broker"


def test_a_restarted_broker_without_topics_loses_them_all() -> None:
    before = {"a": TopicState("x", 3), "b": TopicState("y", 3)}
    assert diff(before, {}).missing == {"a", "b"}


def test_the_starting_line_says_where_each_partition_is_read_from_and_why() -> None:
    from deltastream.subscribe.positions import starting_line

    assert starting_line("t", {0: 0, 1: 0}, {}, False, None) == "t: reading p0 at 0, p1 at 0 (no table yet)"
    assert starting_line("t", {0: 5, 1: 8}, {0: 4, 1: 7}, True, "x") == (
        "t: reading p0 at 5, p1 at 8 (after the offsets stored in Delta)"
    )
    assert starting_line("t", {0: 0}, {}, True, "new-id") == (
        "t: reading p0 at 0 (the table holds no offsets for topic id new-id)"
    )
    assert starting_line("t", {0: 3, 1: 0}, {0: 2}, True, "x") == (
        "t: reading p0 at 3, p1 at 0 (p1: the table holds no offsets for topic id x; "
        "the others after the offsets stored in Delta)"
    )
