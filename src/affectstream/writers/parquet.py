"""The Parquet writer (`--format parquet`, `pip install affectstream[parquet]`): the CSV's columns
with the types `af.read_csv` gives them, at full precision, for pandas, polars and DuckDB.

Rows are buffered and written a row group at a time to `PATH.partial`, renamed to PATH when the
source is finished. Parquet's footer is written last, so a file whose run was killed cannot be
read (the CSV keeps every row up to the kill); one that stopped on an error or Ctrl-C is closed
properly and keeps its `.partial` name.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import AffectStreamError
from ..registry import register
from ..tables import column_dtype, row_values
from ..types import Affect

ROWS_PER_GROUP = 8192  # a row group: large enough to compress well, small enough to hold


def pyarrow_modules():
    """(pyarrow, pyarrow.parquet); AffectStreamError naming the [parquet] extra without them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise AffectStreamError("pyarrow is not installed: pip install 'affectstream[parquet]'"
                                ) from None
    return pyarrow, pyarrow.parquet


def arrow_type(name: str):
    """The Arrow type of a result column: its `column_dtype`, nullable as every Arrow type is."""
    pa, _ = pyarrow_modules()
    return {"int64": pa.int64(), "Int64": pa.int64(), "bool": pa.bool_(),
            "str": pa.string()}.get(column_dtype(name), pa.float64())


def _typed(values: list, dtype: str) -> list:
    """A column's values as Arrow takes them: CSV text of columns the tables module does not know
    as numbers, NaN as null."""
    if dtype in ("float64", "Int64", "int64"):
        cast = int if dtype != "float64" else float
        return [None if v is None or v == "" or v != v else cast(v) for v in values]
    return values


@register("writer", "parquet")
class ParquetWriter:
    """One Parquet file per source, zstd-compressed, a row group per ROWS_PER_GROUP rows."""

    suffix = ".parquet"

    @staticmethod
    def partial_path(path: Path) -> Path:
        return path.with_name(path.name + ".partial")

    def open(self, path: str | os.PathLike, columns: tuple[str, ...], options=None) -> None:
        pa, pq = pyarrow_modules()
        self.path = Path(path)
        self.partial = self.partial_path(self.path)
        self.columns = tuple(columns)
        self.schema = pa.schema([(c, arrow_type(c)) for c in self.columns])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(self.partial, self.schema, compression="zstd")
        self._rows: list[list] = []

    def write(self, rows: list[Affect]) -> None:
        self._rows += [row_values(a, self.columns) for a in rows]
        if len(self._rows) >= ROWS_PER_GROUP:
            self._flush()

    def _flush(self) -> None:
        pa, _ = pyarrow_modules()
        if not self._rows:
            return
        cells = list(zip(*self._rows))
        arrays = [pa.array(_typed(list(cells[k]), column_dtype(name)), type=self.schema[k].type)
                  for k, name in enumerate(self.columns)]
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self._rows = []

    def close(self, complete: bool = True) -> Path:
        """Write what is buffered and the footer; with complete=False the file keeps its
        `.partial` name. Returns where it is."""
        if self._writer is not None:
            try:
                self._flush()
            finally:
                self._writer.close()
                self._writer = None
            if complete:
                os.replace(self.partial, self.path)
        return self.path if complete else self.partial


class DatasetPart(ParquetWriter):
    """One input's file of a `--dataset` folder (`input=NAME/part-0.parquet`, Hive-partitioned by
    input). While it is written it is the hidden `.part-0.parquet.partial`, which pyarrow, pandas,
    polars and DuckDB skip when they read the folder."""

    @staticmethod
    def partial_path(path: Path) -> Path:
        return path.with_name(f".{path.name}.partial")
