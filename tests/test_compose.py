"""docker-compose.yml cannot run here (no Docker engine); it must stay valid and complete."""

from __future__ import annotations

import yaml

from .conftest import ROOT


def test_compose_file_has_the_essentials() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    kafka = compose["services"]["kafka"]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka"
    assert tag.startswith(("3.9", "4."))
    env = kafka["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"]  # KRaft: no ZooKeeper
    assert not any("ZOOKEEPER" in key for key in env)
    assert "PLAINTEXT://localhost:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "9092:9092" in kafka["ports"]
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == 0
    assert kafka["healthcheck"]["test"]
    volume = kafka["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
