"""The prediction log follows the store: with the blobs on S3 (the moto server), endpoints
write the log beside them and a monitor on another client reads it from there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loopml.core.settings import load_settings
from loopml.sdk import Client
from tests.monitoring.conftest import FEATURES, log_traffic, make_data, train


@pytest.mark.parametrize(
    ("blobs", "expected"),
    [
        ("s3://bucket/team/blobs", "s3://bucket/team/monitoring"),
        ("s3://bucket/blobs/", "s3://bucket/monitoring"),
        ("s3://bucket", "s3://bucket/monitoring"),
    ],
)
def test_the_log_lives_beside_an_s3_blob_store(blobs: str, expected: str, tmp_path: Path) -> None:
    settings = load_settings(env={}, home=str(tmp_path), blobs=blobs)
    assert settings.monitoring_url == expected
    local = load_settings(env={}, home=str(tmp_path))
    assert local.monitoring_url == str(tmp_path / "monitoring")
    named = load_settings(env={"LOOPML_MONITORING": "s3://elsewhere/log"}, home=str(tmp_path))
    assert named.monitoring_url == "s3://elsewhere/log"


def test_replicas_write_to_s3_and_a_monitor_elsewhere_reads_it(
    s3_blobs_url: str, tmp_path: Path
) -> None:
    import boto3

    def settings_of(home: str) -> object:
        return load_settings(
            env={},
            home=str(tmp_path / home),
            db=f"sqlite:///{tmp_path / 'meta.db'}",
            blobs=s3_blobs_url,
        )

    writer = Client(settings_of("replica"))  # type: ignore[arg-type]
    reader = Client(settings_of("monitor"))  # type: ignore[arg-type]
    try:
        train(writer)
        # two replicas (two loggers), each flushing its own files to the shared prefix
        log_traffic(writer, make_data(120, seed=2, shift=1.0)[FEATURES], prefix="a")
        log_traffic(writer, make_data(80, seed=3, shift=1.0)[FEATURES], prefix="b")
        assert not (tmp_path / "replica" / "monitoring" / "predictions").exists()
        bucket = s3_blobs_url.split("/")[2]
        s3 = boto3.session.Session().client("s3", endpoint_url=os.environ["LOOPML_S3_ENDPOINT_URL"])
        keys = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=bucket, Prefix="monitoring/predictions/")["Contents"]
        ]
        assert len(keys) == 2 and all("/model=churn/date=" in k for k in keys)
        # what a killed writer could leave without the atomic PUT: a broken object
        s3.put_object(
            Bucket=bucket, Key=keys[0].rsplit("/", 1)[0] + "/part-9.parquet", Body=b"PAR1"
        )
        reader.monitoring.add("churn@production", rules=["dataset_drift"])
        result = reader.monitoring.run("churn@production")
        assert result.rows == 200 and result.skipped_files == 1
        assert result.drift is not None and result.drift.dataset_drift is True
        assert result.alerts and result.alerts[0].rule == "dataset_drift"
        s3.close()
    finally:
        writer.close()
        reader.close()
