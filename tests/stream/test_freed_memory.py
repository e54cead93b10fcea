"""The runner has Arrow's jemalloc pool hand freed batches back to the system at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: In a fresh interpreter: run a real runner over the pipeline in argv[1] (an empty
#: log: it drains at once), then in a new thread (a new jemalloc arena, as the runner's
#: threads get) fill and free 100 MB of 16 KiB buffers, and print the anonymous memory
#: before, while held and after the free, in MiB; and whether the runner's setting
#: applies under this pool and environment (calling it again changes nothing).
RUN_THEN_FILL_AND_FREE = """
import sys
import threading
import pyarrow as pa
from lakeforge.profiles import open_local
from lakeforge.spec.load import load_pipeline
from lakeforge.stream.runner import StreamRunner, release_freed_memory_promptly

pipeline = load_pipeline(sys.argv[1], environ={})
with open_local(pipeline) as profile:
    StreamRunner(pipeline, profile).run(until_drained=True)

def anonymous_mib():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) // 1024

seen = []

def fill_and_free():
    before = anonymous_mib()
    buffers = [pa.allocate_buffer(16 * 1024) for _ in range(100 * 64)]
    for buffer in buffers:
        view = memoryview(buffer).cast("B")
        for i in range(0, buffer.size, 4096):
            view[i] = 1
        del view
    held = anonymous_mib()
    del buffers, buffer
    seen.extend([before, held, anonymous_mib()])

thread = threading.Thread(target=fill_and_free)
thread.start()
thread.join()
print(pa.default_memory_pool().backend_name, release_freed_memory_promptly(), *seen)
"""


def run_then_fill_and_free(
    stocks: Path, pool: str, malloc_conf: str | None = None
) -> tuple[str, str, int, int, int]:
    env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": pool}
    env.pop("JE_ARROW_MALLOC_CONF", None)
    if malloc_conf is not None:
        env["JE_ARROW_MALLOC_CONF"] = malloc_conf
    result = subprocess.run(
        [sys.executable, "-c", RUN_THEN_FILL_AND_FREE, str(stocks)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    backend, applies, before, held, after = result.stdout.split()[-5:]
    return backend, applies, int(before), int(held), int(after)


def test_after_a_runner_ran_freed_batches_leave_its_memory_at_once(stocks: Path) -> None:
    backend, applies, before, held, after = run_then_fill_and_free(stocks, "jemalloc")
    assert (backend, applies) == ("jemalloc", "True")
    assert held - before >= 90, "the buffers were not resident: the test measures nothing"
    # Arrow's own setting keeps them for about a second: about 100 MB would remain.
    assert after - before <= 20, (before, held, after)


def test_a_decay_the_user_set_for_arrows_jemalloc_wins(stocks: Path) -> None:
    backend, applies, before, held, after = run_then_fill_and_free(
        stocks, "jemalloc", "dirty_decay_ms:10000,muzzy_decay_ms:10000"
    )
    assert (backend, applies) == ("jemalloc", "False")
    assert held - before >= 90, "the buffers were not resident: the test measures nothing"
    assert after - before >= 70, (before, held, after)


def test_other_pools_are_left_as_they_are(stocks: Path) -> None:
    backend, applies, *_ = run_then_fill_and_free(stocks, "system")
    assert (backend, applies) == ("system", "False")
