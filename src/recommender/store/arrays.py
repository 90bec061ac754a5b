"""Numeric query results as numpy arrays, fast enough for million-row reads."""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray
from sqlalchemy import Connection, Executable

# Rows per read: a row as SQLAlchemy returns it costs about 100 bytes, so a chunk stays
# near 10 MB whatever the table's size.
CHUNK_ROWS = 100_000


def fetch_array(
    conn: Connection, statement: Executable, columns: int, dtype: DTypeLike = np.int64
) -> NDArray[Any]:
    """All rows of a query with `columns` numeric columns as an (n, columns) array.

    Rows are read a chunk at a time (a server-side cursor on PostgreSQL) and flattened by
    iteration: converting SQLAlchemy rows one by one with numpy's array protocol is two
    orders of magnitude slower, and reading every row first held a million users'
    interactions as Python objects (250 MB for two million rows) before the array existed.
    """
    # Options of this statement only: `Connection.execution_options` would change the
    # connection itself, and every later statement of the transaction with it.
    result = conn.execute(
        statement, execution_options={"stream_results": True, "yield_per": CHUNK_ROWS}
    )
    parts = [
        np.fromiter(chain.from_iterable(rows), dtype=dtype, count=len(rows) * columns)
        for rows in result.partitions()
    ]
    flat = np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
    return flat.reshape(-1, columns)
