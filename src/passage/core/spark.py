"""One way to start Spark for every module, so that a session shared between modules can run their Python code.

Spark's Python workers must run this interpreter (the virtual environment that has Passage installed) and see
the package source; whichever module starts the session first, `spark_session` sets both, so a later module
that reuses the session through `getOrCreate()` still finds `passage` in its workers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def spark_session(master: str, *, app_name: str, config: dict[str, str] | None = None) -> Any:
    """`SparkSession.builder.master(master)...getOrCreate()` with the Python-worker settings Passage needs."""
    from pyspark.sql import SparkSession

    import passage

    source_root = str(Path(passage.__file__).resolve().parents[1])
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if source_root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([source_root, *paths])
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
        .config("spark.executorEnv.PYTHONPATH", source_root)
        .config("spark.ui.enabled", "false")
    )
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


@contextmanager
def job_session(master: str, *, app_name: str, config: dict[str, str] | None = None, spark: Any = None) -> Iterator[Any]:
    """A session for one job: `spark` if given, else `spark_session(...)`; stopped at the end only if this call
    started it. A session that was already running in the process (another module's, a test's, a notebook's)
    is reused and left running: stopping it would kill every other user of the process's one SparkContext."""
    if spark is not None:
        yield spark
        return
    from pyspark import SparkContext

    running = SparkContext._active_spark_context is not None
    session = spark_session(master, app_name=app_name, config=config)
    try:
        yield session
    finally:
        if not running:
            session.stop()
