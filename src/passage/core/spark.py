"""One way to start Spark for every module, so that a session shared between modules can run their Python code.

Spark's Python workers must run this interpreter (the virtual environment that has Passage installed) and see
the package source; whichever module starts the session first, `spark_session` sets both, so a later module
that reuses the session through `getOrCreate()` still finds `passage` in its workers.
"""

from __future__ import annotations

import os
import sys
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
