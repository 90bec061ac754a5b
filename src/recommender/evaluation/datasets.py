"""Evaluation data sets: one in-memory shape for every source, the readers that fill it, and
the rating and k-core filters.

A reader takes a source (a file or folder path; for the store, a database URL) and returns an
`EvalDataset`. Adding a source means adding one function to `READERS`; the protocols and the
runner never look at where the data came from.
"""

# Longer than 400 lines because each public data set has its own small reader, kept together
# with the filters and the store reader that give every data set the same shape.

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import FloatArray, IntArray
from recommender.interactions import Interactions, SideFeatures

StrArray = NDArray[np.str_]


def _no_names() -> dict[int, str]:
    return {}


@dataclass(frozen=True, eq=False)
class ShippedTest:
    """A test split that comes with the data: per user one held-out item and its negatives."""

    users: IntArray
    items: IntArray
    # One row per held-out pair, external item ids.
    negatives: IntArray


@dataclass(frozen=True, eq=False)
class EvalDataset:
    """Feedback events as parallel arrays of external ids, in source order.

    `weights` are what an engine trains on (1 for every rating: feedback is implicit);
    `ratings` are kept only for `--min-rating` (NaN where the source has none). A shipped test
    split's pairs are among the events.
    """

    name: str
    users: IntArray
    items: IntArray
    weights: FloatArray
    timestamps: NDArray[np.float64]
    ratings: NDArray[np.float64]
    shipped_test: ShippedTest | None = None
    item_names: Mapping[int, str] = field(default_factory=_no_names)
    # User and item features (our own store has them; public data sets do not).
    features: SideFeatures | None = None

    def __len__(self) -> int:
        return int(self.users.shape[0])

    @property
    def n_users(self) -> int:
        return int(np.unique(self.users).shape[0])

    @property
    def n_items(self) -> int:
        return int(np.unique(self.items).shape[0])

    def item_universe(self) -> IntArray:
        """Every item the data names, shipped negatives included."""
        parts = [self.items]
        if self.shipped_test is not None:
            parts += [self.shipped_test.items, self.shipped_test.negatives.ravel()]
        return np.unique(np.concatenate(parts))

    def select(self, keep: NDArray[np.bool_]) -> EvalDataset:
        """The events where `keep` holds; a shipped split no longer applies to a subset."""
        if self.shipped_test is not None and not keep.all():
            raise ValueError(
                f"{self.name} ships its own test split; filtering its events would invalidate it"
            )
        return replace(
            self,
            users=self.users[keep],
            items=self.items[keep],
            weights=self.weights[keep],
            timestamps=self.timestamps[keep],
            ratings=self.ratings[keep],
        )

    def to_interactions(self) -> Interactions:
        return with_features(
            self.features,
            self.users,
            self.items,
            self.weights,
            self.timestamps,
            user_ids=np.unique(self.users),
            item_ids=self.item_universe(),
        )


@dataclass(frozen=True)
class Filters:
    """RecBole-style preprocessing: drop low ratings, then keep the k-core."""

    min_rating: float | None = None
    # Users and items with fewer distinct partners than this are dropped, repeatedly, until
    # every remaining one has at least k; 0 or 1 keeps everything.
    k_core: int = 0


def apply_filters(data: EvalDataset, filters: Filters) -> EvalDataset:
    if filters.min_rating is not None:
        if np.isnan(data.ratings).all():
            raise ValueError(f"--min-rating needs ratings, and {data.name} has none")
        data = data.select(data.ratings >= filters.min_rating)
    if filters.k_core > 1:
        data = data.select(_k_core_mask(data.users, data.items, filters.k_core))
    return data


def _k_core_mask(users: IntArray, items: IntArray, k: int) -> NDArray[np.bool_]:
    _, user_pos = np.unique(users, return_inverse=True)
    _, item_pos = np.unique(items, return_inverse=True)
    # Count distinct pairs, so repeated events of one user on one item do not make a core.
    pair_key = user_pos.astype(np.int64) * (int(item_pos.max(initial=0)) + 1) + item_pos
    _, first = np.unique(pair_key, return_index=True)
    is_first = np.zeros(users.shape[0], dtype=bool)
    is_first[first] = True
    keep = np.ones(users.shape[0], dtype=bool)
    while True:
        counted = keep & is_first
        user_count = np.bincount(user_pos[counted], minlength=int(user_pos.max(initial=-1)) + 1)
        item_count = np.bincount(item_pos[counted], minlength=int(item_pos.max(initial=-1)) + 1)
        still = keep & (user_count[user_pos] >= k) & (item_count[item_pos] >= k)
        if np.array_equal(still, keep):
            return keep
        keep = still


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


def with_features(
    features: SideFeatures | None,
    users: IntArray,
    items: IntArray,
    weights: FloatArray,
    timestamps: NDArray[np.float64],
    *,
    user_ids: IntArray,
    item_ids: IntArray,
) -> Interactions:
    """`Interactions.from_events` over fixed id sets, carrying side features when there are."""
    user_features, item_features = (
        features.aligned(np.unique(user_ids), np.unique(item_ids)) if features else ({}, {})
    )
    return Interactions.from_events(
        users,
        items,
        weights,
        timestamps,
        user_ids=user_ids,
        item_ids=item_ids,
        user_features=user_features,
        item_features=item_features,
        feature_vocab=features.vocab if features else {},
    )


def from_interactions(data: Interactions, name: str) -> EvalDataset:
    """An evaluation data set of everything an `Interactions` holds, features included."""
    if data.events is None:
        raise ValueError("the interactions carry no event log")
    events = data.events
    return EvalDataset(
        name=name,
        users=data.user_ids[events.users],
        items=data.item_ids[events.items],
        weights=events.weights,
        timestamps=events.timestamps,
        ratings=np.full(len(events), np.nan),
        features=SideFeatures.of(data),
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
