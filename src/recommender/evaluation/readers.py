"""Reading evaluation data sets: MovieLens, the NCF paper's files, CSV and our own store.

A reader takes a source (a file or folder path; for the store, a database URL) and returns an
`EvalDataset`. Adding a source means adding one function to `READERS`.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import IntArray
from recommender.evaluation.datasets import (
    EvalDataset,
    Filters,
    ShippedTest,
    apply_filters,
    from_interactions,
)

StrArray = NDArray[np.str_]


class DatasetNotAvailableError(RuntimeError):
    """The requested source cannot be read by this installation."""


# --- reading text tables ------------------------------------------------------------------


@contextmanager
def _open_text(path: Path, encoding: str = "utf-8") -> Iterator[IO[str]]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding=encoding, newline="") as handle:
            yield handle
    else:
        with path.open(encoding=encoding, newline="") as handle:
            yield handle


def _read_table(
    path: Path,
    delimiter: str,
    *,
    header: bool,
    encoding: str = "utf-8",
    wanted: tuple[str, ...] | None = None,
) -> tuple[list[str], list[StrArray]]:
    """Columns of a delimited file as string arrays, and the header (empty when there is none).

    `wanted` reads only the named columns (by header name), in that order."""
    with _open_text(path, encoding) as handle:
        names = next(csv.reader([handle.readline()], delimiter=delimiter)) if header else []
        names = [name.strip() for name in names]
        usecols = None
        if wanted is not None:
            absent = [name for name in wanted if name not in names]
            if absent:
                raise ValueError(f"{path}: missing columns {', '.join(absent)}")
            usecols = [names.index(name) for name in wanted]
            names = list(wanted)
        # numpy's C reader is several times faster than the csv module on a million rows.
        table = np.loadtxt(
            handle,
            dtype=str,
            delimiter=delimiter,
            comments=None,
            quotechar='"',
            ndmin=2,
            usecols=usecols,
        )
    width = len(names) if header else table.shape[1]
    if table.shape[0] and table.shape[1] != width:
        raise ValueError(f"{path}: every row must have {width} fields")
    columns = [table[:, j] for j in range(table.shape[1])] if table.shape[0] else []
    if not columns:
        columns = [np.empty(0, dtype=str) for _ in range(width)]
    return names, columns


def _read_numbers(
    path: Path, delimiter: str, *, header: bool, wanted: tuple[str, ...] | tuple[int, ...]
) -> list[NDArray[np.float64]]:
    """Numeric columns (by header name, or by index without a header) as floats, NaN where a
    field is empty: the fast path for large files whose wanted columns are all numbers."""
    with _open_text(path) as handle:
        names = next(csv.reader([handle.readline()], delimiter=delimiter)) if header else []
        text = handle.read()
    names = [name.strip() for name in names]
    if header:
        absent = [name for name in wanted if name not in names]
        if absent:
            raise ValueError(f"{path}: missing columns {', '.join(map(str, absent))}")
        usecols = [names.index(str(name)) for name in wanted]
    else:
        usecols = [int(index) for index in wanted]
    # Spell empty fields as NaN so numpy's C reader parses every wanted column as a number.
    empty = delimiter + delimiter
    while empty in text:
        text = text.replace(empty, f"{delimiter}nan{delimiter}")
    text = text.replace("\r\n", "\n").replace(f"{delimiter}\n", f"{delimiter}nan\n")
    text = text.replace(f"\n{delimiter}", f"\nnan{delimiter}")
    if text.startswith(delimiter):
        text = "nan" + text
    if text.endswith(delimiter):
        text += "nan"
    table = np.loadtxt(
        io.StringIO(text), dtype=np.float64, delimiter=delimiter, usecols=usecols, ndmin=2
    )
    return [table[:, j] for j in range(len(usecols))]


def _floats(column: StrArray) -> NDArray[np.float64]:
    return np.where(column == "", "nan", column).astype(np.float64)


def _ints(column: StrArray) -> IntArray:
    return column.astype(np.int64)


def _times(column: StrArray) -> NDArray[np.float64]:
    """Seconds since the epoch from numbers or ISO-8601 text; NaN where empty."""
    try:
        return _floats(column)
    except ValueError:
        return np.array(
            [datetime.fromisoformat(v).timestamp() if v.strip() else np.nan for v in column],
            dtype=np.float64,
        )


def _ids(column: StrArray) -> tuple[IntArray, dict[int, str] | None]:
    """Integer ids as they are; any other labels numbered in sorted order (labels returned)."""
    try:
        return _ints(column), None
    except ValueError:
        labels, codes = np.unique(np.char.strip(column), return_inverse=True)
        return codes.astype(np.int64), {i: str(label) for i, label in enumerate(labels)}


def _in_folder(source: str | Path, name: str) -> Path:
    path = Path(source)
    return path / name if path.is_dir() else path


# --- readers ------------------------------------------------------------------------------


def read_movielens_100k(source: str | Path) -> EvalDataset:
    """GroupLens MovieLens 100K: `u.data` (or the folder holding it), titles from `u.item`."""
    path = _in_folder(source, "u.data")
    users, items, rating_values, times = _read_numbers(
        path, "\t", header=False, wanted=(0, 1, 2, 3)
    )
    names: dict[int, str] = {}
    titles = path.parent / "u.item"
    if titles.exists():
        _, columns = _read_table(titles, "|", header=False, encoding="latin-1")
        names = dict(zip(_ints(columns[0]).tolist(), columns[1].tolist(), strict=True))
    return EvalDataset(
        name="movielens-100k",
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        weights=np.ones(rating_values.shape, dtype=np.float32),
        timestamps=times,
        ratings=rating_values,
        item_names=names,
    )


def read_movielens_1m(source: str | Path) -> EvalDataset:
    """GroupLens MovieLens 1M as `ratings.csv.gz` keyed by `item_rank`; titles from `movies.dat`.

    About a third of the ratings carry no time (NaN); the protocols treat them as older than
    every timed rating of the same user.
    """
    path = _in_folder(source, "ratings.csv.gz")
    users, items_f, movie, rating_values, times = _read_numbers(
        path, ",", header=True, wanted=("user_id", "item_rank", "movie_id", "rating", "timestamp")
    )
    items = items_f.astype(np.int64)
    names: dict[int, str] = {}
    movies = path.parent / "movies.dat"
    if movies.exists():
        with movies.open(encoding="latin-1") as handle:
            title_of = {
                int(parts[0]): parts[1]
                for parts in (line.rstrip("\n").split("::") for line in handle)
                if len(parts) >= 2
            }
        known = ~np.isnan(movie)
        rank_to_movie = dict(
            zip(items[known].tolist(), movie[known].astype(int).tolist(), strict=True)
        )
        names = {
            rank: title_of[movie_id]
            for rank, movie_id in rank_to_movie.items()
            if movie_id in title_of
        }
    return EvalDataset(
        name="movielens-1m",
        users=users.astype(np.int64),
        items=items,
        weights=np.ones(rating_values.shape, dtype=np.float32),
        timestamps=times,
        ratings=rating_values,
        item_names=names,
    )


def read_ncf(source: str | Path) -> EvalDataset:
    """The NCF paper's MovieLens 1M split (`ncf-protocol/`), in its own 0-based ids, with the
    99 shipped negatives of each user's held-out latest interaction."""
    folder = Path(source)
    if not (folder / "test.rating").exists() and (folder / "ncf-protocol").is_dir():
        folder = folder / "ncf-protocol"
    train_users, train_items, train_ratings, train_times = _read_numbers(
        folder / "train.csv.gz",
        ",",
        header=True,
        wanted=("ncf_user", "ncf_item", "rating", "timestamp"),
    )
    test_users, test_items, test_ratings, test_times = _read_numbers(
        folder / "test.rating", "\t", header=False, wanted=(0, 1, 2, 3)
    )
    _, negative_columns = _read_table(folder / "test.negative.gz", "\t", header=False)
    # The first field of each negatives line is "(user,item)"; check it names the test pair.
    pair = np.char.strip(np.char.strip(negative_columns[0]), "()")
    pair_users = np.array([int(p.split(",")[0]) for p in pair], dtype=np.int64)
    shipped = ShippedTest(
        users=test_users.astype(np.int64),
        items=test_items.astype(np.int64),
        negatives=np.stack([_ints(c) for c in negative_columns[1:]], axis=1),
    )
    if not np.array_equal(pair_users, shipped.users):
        raise ValueError(f"{folder}: test.negative.gz does not follow test.rating's users")
    rating_values = np.concatenate([train_ratings, test_ratings])
    return EvalDataset(
        name="ml-1m-ncf",
        users=np.concatenate([train_users.astype(np.int64), shipped.users]),
        items=np.concatenate([train_items.astype(np.int64), shipped.items]),
        weights=np.ones(rating_values.shape, dtype=np.float32),
        timestamps=np.concatenate([train_times, test_times]),
        ratings=rating_values,
        shipped_test=shipped,
    )


CSV_COLUMNS = ("user", "item", "timestamp", "weight", "rating")


def read_csv(source: str | Path) -> EvalDataset:
    """Any data set as CSV or TSV (optionally gzipped) with a header naming its columns:
    `user`, `item`, and optionally `timestamp` (epoch seconds or ISO-8601), `weight` (training
    weight, also what `--min-rating` filters on) and `rating` (for `--min-rating` only).
    Non-integer ids are numbered in sorted order, and item labels kept as names."""
    path = Path(source)
    with _open_text(path) as handle:
        first = handle.readline()
    delimiter = "\t" if "\t" in first else ","
    header, columns = _read_table(path, delimiter, header=True)
    column = dict(zip((name.lower() for name in header), columns, strict=True))
    missing = [name for name in ("user", "item") if name not in column]
    if missing:
        raise ValueError(f"{path}: the header must name the columns {', '.join(missing)}")
    users, _ = _ids(column["user"])
    items, labels = _ids(column["item"])
    n = users.shape[0]
    weights = (
        _floats(column["weight"]).astype(np.float32)
        if "weight" in column
        else np.ones(n, dtype=np.float32)
    )
    if "rating" in column:
        ratings = _floats(column["rating"])
    elif "weight" in column:
        ratings = weights.astype(np.float64)
    else:
        ratings = np.full(n, np.nan)
    times = _times(column["timestamp"]) if "timestamp" in column else np.full(n, np.nan)
    return EvalDataset(
        name=path.name.split(".")[0],
        users=users,
        items=items,
        weights=weights,
        timestamps=times,
        ratings=ratings,
        item_names=labels or {},
    )


def read_store(source: str | Path) -> EvalDataset:
    """Our own catalogue and activity, read from the store at a database URL (empty: the
    configured `DATABASE_URL`), with the configured interaction weights."""
    from recommender.activity.usage import build_interactions, weights_from
    from recommender.config import get_settings
    from recommender.store.database import Database

    settings = get_settings()
    db = Database(str(source) or settings.database_url, pool_size=1)
    try:
        with db.engine.connect() as conn, conn.begin():
            data = build_interactions(conn, weights_from(settings))
    finally:
        db.dispose()
    if data.nnz == 0:
        raise DatasetNotAvailableError("the store holds no interactions yet (load a dump first)")
    return from_interactions(data, "store")


Reader = Callable[[str | Path], EvalDataset]

READERS: dict[str, Reader] = {
    "csv": read_csv,
    "movielens-100k": read_movielens_100k,
    "movielens-1m": read_movielens_1m,
    "ncf": read_ncf,
    "store": read_store,
}


def load_dataset(fmt: str, source: str | Path, filters: Filters | None = None) -> EvalDataset:
    """Read a source in a named format and apply the filters."""
    try:
        reader = READERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(READERS)}") from None
    data = reader(source)
    return apply_filters(data, filters) if filters is not None else data
