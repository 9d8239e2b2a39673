"""docker-compose.yml cannot run here (no Docker engine); it must stay valid and complete."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from deltastream import config
from deltastream.kafka.apache import KAFKA_VERSION, POM

from ..conftest import ROOT


def test_compose_file_has_the_essentials() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    kafka = compose["services"]["kafka"]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka"
    assert tag == KAFKA_VERSION  # the version the tests run on
    env = kafka["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"]  # KRaft: no ZooKeeper
    assert not any("ZOOKEEPER" in key for key in env)
    assert "PLAINTEXT://localhost:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "9092:9092" in kafka["ports"]
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == 0
    assert kafka["healthcheck"]["test"]
    volume = kafka["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]


def test_the_pom_pins_the_version_the_runner_names() -> None:
    pinned = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text(encoding="utf-8"))
    assert pinned is not None
    assert pinned.group(1) == KAFKA_VERSION


def test_minio_runs_beside_kafka_with_its_bucket_created_at_start() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    minio = compose["services"]["minio"]
    assert minio["image"].startswith("minio/minio:RELEASE.")  # pinned, never latest
    assert "9000:9000" in minio["ports"]
    assert minio["healthcheck"]["test"]
    assert minio["volumes"][0].split(":")[0] in compose["volumes"]
    init = compose["services"]["create-bucket"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    script = "\n".join(init["command"])
    assert "mc mb --ignore-existing" in script
    assert init["environment"]["BUCKET"] == "delta"
    # The commented config example at the top matches the service.
    header = (ROOT / "docker-compose.yml").read_text(encoding="utf-8").split("services:")[0]
    assert 'delta_path = "s3://delta/lake"' in header
    assert f'AWS_SECRET_ACCESS_KEY = "{minio["environment"]["MINIO_ROOT_PASSWORD"]}"' in header
    assert f'AWS_ACCESS_KEY_ID = "{minio["environment"]["MINIO_ROOT_USER"]}"' in header


def test_the_commented_minio_settings_in_config_toml_load(tmp_path: Path) -> None:
    """Uncommenting the object-storage lines of config.toml (and pointing delta_path at MinIO's
    bucket) gives a valid config for the MinIO of docker-compose.yml."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    lines = text.split("# [subscriber.storage_options]", 1)[1].split("\n\n", 1)[0].splitlines()
    options = "\n".join(line.removeprefix("# ") for line in lines if line.startswith("# AWS_"))
    text = text.replace('delta_path = "delta"', 'delta_path = "s3://delta/lake"')
    text = text.replace("\n[query]", f"\n[subscriber.storage_options]\n{options}\n\n[query]")
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    cfg = config.load(path)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    minio = compose["services"]["minio"]["environment"]
    assert cfg.subscriber.delta_path == "s3://delta/lake"
    assert cfg.subscriber.storage_options["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert cfg.subscriber.storage_options["AWS_ENDPOINT_URL"] == "http://localhost:9000"
    assert cfg.secrets() == (minio["MINIO_ROOT_PASSWORD"],)
