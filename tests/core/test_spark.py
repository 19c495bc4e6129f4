"""`core.spark.job_session` stops a session only if it started it (a session shared by modules stays alive)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_job_session_leaves_a_running_session_alone_and_stops_its_own() -> None:
    from pyspark import SparkContext

    from passage.core.spark import job_session, spark_session

    if SparkContext._active_spark_context is not None:  # another test module's session: the first half is then the test
        shared = spark_session("local[1]", app_name="passage-core-tests")
        with job_session("local[1]", app_name="job") as session:
            assert session.sparkContext is shared.sparkContext
        assert SparkContext._active_spark_context is not None and shared.range(2).count() == 2
        return
    with job_session("local[1]", app_name="job") as session:
        assert session.range(2).count() == 2
    assert SparkContext._active_spark_context is None  # it started this one, so it stopped it
    shared = spark_session("local[1]", app_name="passage-core-tests")
    with job_session("local[1]", app_name="job") as session:
        assert session.sparkContext is shared.sparkContext
    assert SparkContext._active_spark_context is not None and shared.range(2).count() == 2
