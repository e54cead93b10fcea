"""A data file that does not fit on the disk: the disk's error, no partial file, no noise.

pyarrow's own ``write_table`` raised "file metadata is only available after writer close"
over the real error when the disk filled at the wrong moment, and its writer's finaliser
printed a traceback later (a CI run caught it on the runner's stderr). Each case here
frees one more page of a full tmpfs until the file fits, so the disk fills at every
point of a write: opening, data pages, footer, close.
"""

from __future__ import annotations

import errno
import gc
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeforge.lake.parquet import TableFiles, WrittenFile
from tests.small_disk import fill, mounted

PAGE = 4096
#: Wide, so that the footer spans pages of its own: the disk can fill inside it.
ROWS = pa.table({f"c{i}": pa.array(range(i, i + 500), pa.int64()) for i in range(60)})


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with mounted(tmp_path / "small", "2m") as mount:
        yield mount


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[BaseException | None]:
    """What finalisers raised (Python prints these as 'Exception ignored in ...')."""
    seen: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: seen.append(report.exc_value))
    return seen


def until_it_fits(
    disk: Path, write: Callable[[TableFiles], WrittenFile], kept: frozenset[str] = frozenset()
) -> tuple[WrittenFile, int]:
    """Write on a full disk with one more free page each time; (the file, failures before).

    ``kept``: data files already there, which must stay; nothing else may be left.
    """
    files = TableFiles(f"file://{disk}/table")
    data = disk / "table" / "data"
    data.mkdir(parents=True, exist_ok=True)
    for pages in range(64):
        filler = fill(disk, leave=pages * PAGE)
        try:
            written = write(files)
        except OSError as error:
            assert error.errno == errno.ENOSPC or "[Errno 28]" in str(error), error
            left = {f"data/{p.name}" for p in data.iterdir()}
            assert left == kept, f"a failed write left its file with {pages} pages free"
        else:
            return written, pages
        finally:
            filler.unlink()
        gc.collect()
    raise AssertionError("the file never fitted")


def test_a_new_file_that_does_not_fit_fails_with_the_disk_error_alone(
    disk: Path, unraisable: list[BaseException | None]
) -> None:
    written, failures = until_it_fits(disk, lambda files: files.write(ROWS, 1))
    gc.collect()
    assert unraisable == []
    assert failures > 3, "the disk never filled inside a write: proves nothing"
    assert pq.read_table(disk / "table" / written.path).equals(ROWS)
    assert written.rows == ROWS.num_rows and written.footer.num_rows == ROWS.num_rows


def test_a_compacted_file_that_does_not_fit_fails_with_the_disk_error_alone(
    disk: Path, unraisable: list[BaseException | None]
) -> None:
    files = TableFiles(f"file://{disk}/table")
    parts = [files.write(ROWS.slice(start, 100), start) for start in range(0, 500, 100)]

    def compact(files: TableFiles) -> WrittenFile:
        return files.rewrite([part.path for part in parts], lambda rows: rows, 9)

    # The five parts stay on the disk, so the rewrite's own file is the one that fails.
    kept = frozenset(part.path for part in parts)
    written, failures = until_it_fits(disk, compact, kept)
    gc.collect()
    assert unraisable == []
    assert failures > 3, "the disk never filled inside a rewrite: proves nothing"
    assert pq.read_table(disk / "table" / written.path).equals(ROWS)
