"""Contender (d) of bench/side_by_side.py: PyFlink SQL jobs, run in .venv-flink.

side_by_side.py writes a JSON spec (JAR URLs, parallelism, DDL statements, a warm-up
INSERT and the INSERTs to time) and runs this script with .venv-flink's Python (set up
by bench/side_by_side_setup.sh); it never imports lakeforge. It prints one JSON line:

* ``startup_s``: from this process's start to a ready TableEnvironment (imports, JVM,
  Py4J gateway) plus the DDL;
* ``warmup_s``: the warm-up INSERT, over an empty input: a job's fixed cost (planning,
  the local mini-cluster's start, scheduling, task start-up); it also warms the JVM;
* ``jobs``: for each timed INSERT, in order, ``seconds`` from its submission to the job
  finished (the same fixed cost again, then reading, decoding, writing, committing)
  and ``cpu_s``, the CPU seconds this process and the JVM used meanwhile.

    .venv-flink/bin/python bench/flink_job.py SPEC.json
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

STARTED = time.monotonic()


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants (the JVM)."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / ticks
    return own + sum(tree_cpu_seconds(int(child)) for child in children)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    config = env.get_config()
    config.set("pipeline.jars", ";".join(spec["jars"]))
    config.set("parallelism.default", str(spec["parallelism"]))
    for statement in spec["statements"]:
        env.execute_sql(statement)
    ready = time.monotonic()
    env.execute_sql(spec["warmup"]).wait()
    timing: dict[str, object] = {"startup_s": ready - STARTED, "warmup_s": time.monotonic() - ready}
    jobs = []
    for insert in spec["inserts"]:
        began, cpu = time.monotonic(), tree_cpu_seconds(os.getpid())
        env.execute_sql(insert).wait()
        seconds = time.monotonic() - began
        jobs.append({"seconds": seconds, "cpu_s": tree_cpu_seconds(os.getpid()) - cpu})
    timing["jobs"] = jobs
    print(json.dumps(timing), flush=True)


if __name__ == "__main__":
    main()
