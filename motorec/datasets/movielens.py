"""MovieLens-100k from the GroupLens layout or RecBole's atomic files, into the catalog contract.

Both layouts give the same tables: the catalog (`MOVIELENS_CATALOG_SCHEMA`: item_id, title such as
"Toy Story (1995)", description such as "Genres: Animation, Children's, Comedy", year, genres) and
the interactions (`INTERACTIONS_SCHEMA`: user_id, item_id, timestamp, weight = rating).

GroupLens layout: `u.data` (tab-separated user, item, rating, timestamp), `u.item` (pipe-separated,
latin-1: id, "Title (Year)", release date, video date, URL, 19 genre flags) and optionally `u.genre`.
RecBole layout: `<name>.inter`, `<name>.item` (tab-separated, typed headers such as `item_id:token`,
latin-1; `class` holds space-separated genre tokens), as fetched by `scripts/fetch_ml100k.py`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, NamedTuple

import pyarrow as pa
import pyarrow.csv as pacsv

from motorec.datasets.schema import (
    INTERACTIONS_SCHEMA,
    MOVIELENS_CATALOG_SCHEMA,
    check_known_items,
    check_unique_ids,
    require_non_null,
    seconds_to_timestamp,
    write_catalog,
    write_interactions,
)
from motorec.errors import InputError

Layout = Literal["auto", "grouplens", "recbole"]

#: The 19 genres of `u.genre`, in flag order. "unknown" marks a movie with no genre and is dropped.
GROUPLENS_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)
_NO_GENRE = "unknown"
_ENCODING = "latin-1"
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)")
_RECBOLE_TITLE_FIXES = {"unkonwn": "unknown"}  # item 267 is "unknown" in u.item, misspelt by RecBole


class MovieLens(NamedTuple):
    """MovieLens-100k as contract tables."""

    catalog: pa.Table
    interactions: pa.Table
    layout: str


def _genre_key(token: str) -> str:
    # "Children's", "Childrens", "children_s" and "Sci-Fi", "SciFi", "sci fi" all share one key.
    return re.sub(r"[^a-z0-9]", "", token.lower())


_GENRE_BY_KEY = {_genre_key(g): g for g in GROUPLENS_GENRES}


def _recbole_genres(field: str, where: str) -> list[str]:
    """Map RecBole's space-separated genre tokens to GroupLens names (a name may span two tokens)."""
    tokens, names, i = field.split(), [], 0
    while i < len(tokens):
        key = _genre_key(tokens[i])
        if key in _GENRE_BY_KEY:
            names.append(_GENRE_BY_KEY[key])
            i += 1
        elif i + 1 < len(tokens) and key + _genre_key(tokens[i + 1]) in _GENRE_BY_KEY:
            names.append(_GENRE_BY_KEY[key + _genre_key(tokens[i + 1])])
            i += 2
        else:
            raise InputError(f"{where}: column 'class' has unknown genre token {tokens[i]!r}")
    return names


def _catalog_row(item_id: int, title: str, year: int | None, genres: list[str]) -> dict:
    """One catalog row: genres in GroupLens order without "unknown", year appended to the title."""
    order = {g: k for k, g in enumerate(GROUPLENS_GENRES)}
    genres = sorted({g for g in genres if g != _NO_GENRE}, key=order.__getitem__)
    title = title.strip()
    if year is not None and f"({year})" not in title:
        title = f"{title} ({year})"
    return {
        "item_id": item_id,
        "title": title or None,
        "description": f"Genres: {', '.join(genres)}" if genres else None,
        "year": year,
        "genres": genres,
    }


def _year_from_title(title: str) -> int | None:
    found = _YEAR_IN_TITLE.findall(title)
    return int(found[-1]) if found else None


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty lines of a latin-1 text file with their 1-based line numbers."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    text = path.read_bytes().decode(_ENCODING)
    return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _int(value: str, where: str, column: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{where}: column {column!r} is not an integer: {value!r}") from None


def _grouplens_genre_names(src: Path) -> tuple[str, ...]:
    path = src / "u.genre"
    if not path.is_file():
        return GROUPLENS_GENRES
    pairs = []
    for n, line in _read_lines(path):
        name, _, index = line.rpartition("|")
        pairs.append((_int(index, f"{path}: line {n}", "index"), name))
    return tuple(name for _, name in sorted(pairs))


def _grouplens_catalog(src: Path) -> pa.Table:
    path, genres = src / "u.item", _grouplens_genre_names(src)
    rows = []
    for n, line in _read_lines(path):
        where = f"{path}: line {n}"
        fields = line.split("|")
        if len(fields) != 5 + len(genres):
            raise InputError(f"{where}: expected {5 + len(genres)} '|'-separated fields, got {len(fields)}")
        flags = fields[5:]
        if any(f not in ("0", "1") for f in flags):
            raise InputError(f"{where}: genre flags must be 0 or 1, got {flags}")
        title, date = fields[1], fields[2].strip()
        year = _year_from_title(title)
        if year is None and re.fullmatch(r".*\d{4}", date):
            year = int(date[-4:])
        picked = [g for g, f in zip(genres, flags, strict=True) if f == "1"]
        rows.append(_catalog_row(_int(fields[0], where, "movie id"), title, year, picked))
    return pa.Table.from_pylist(rows, schema=MOVIELENS_CATALOG_SCHEMA)


def _recbole_header(path: Path) -> list[str]:
    """Column names of an atomic file, without their `:type` suffixes."""
    with open(path, encoding=_ENCODING) as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
    return [h.split(":", 1)[0] for h in header]


def _recbole_catalog(path: Path) -> pa.Table:
    lines = _read_lines(path)
    names = [h.split(":", 1)[0] for h in lines[0][1].split("\t")] if lines else []
    for required in ("item_id", "movie_title"):
        if required not in names:
            raise InputError(f"{path}: missing column {required!r} in header {names}")
    col = {name: k for k, name in enumerate(names)}
    rows = []
    for n, line in lines[1:]:
        where = f"{path}: line {n}"
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) != len(names):
            raise InputError(f"{where}: expected {len(names)} tab-separated fields, got {len(fields)}")
        title = _RECBOLE_TITLE_FIXES.get(fields[col["movie_title"]], fields[col["movie_title"]])
        year_token = fields[col["release_year"]].strip() if "release_year" in col else ""
        year = int(year_token) if re.fullmatch(r"\d{4}", year_token) else _year_from_title(title)
        genres = _recbole_genres(fields[col["class"]], where) if "class" in col else []
        rows.append(_catalog_row(_int(fields[col["item_id"]], where, "item_id"), title, year, genres))
    return pa.Table.from_pylist(rows, schema=MOVIELENS_CATALOG_SCHEMA)


def _read_tsv(path: Path, names: list[str], types: dict[str, pa.DataType], skip_rows: int) -> pa.Table:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=skip_rows),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pacsv.ConvertOptions(column_types=types),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}: {exc}") from None


def _interactions(raw: pa.Table, path: Path, first_line: int) -> pa.Table:
    """Contract interactions from a table with user_id, item_id and optional rating, timestamp."""
    require_non_null(raw, ["user_id", "item_id"], str(path), row_offset=first_line)
    n = raw.num_rows
    if "timestamp" in raw.column_names:
        ts = seconds_to_timestamp(raw.column("timestamp"), str(path), "timestamp", first_line)
    else:
        ts = pa.nulls(n, pa.timestamp("s"))
    weight = raw.column("rating") if "rating" in raw.column_names else pa.nulls(n, pa.float32())
    return pa.table([raw.column("user_id"), raw.column("item_id"), ts, weight], schema=INTERACTIONS_SCHEMA)


def _grouplens_interactions(src: Path) -> pa.Table:
    path = src / "u.data"
    types = {"user_id": pa.int64(), "item_id": pa.int64(), "rating": pa.float32(), "timestamp": pa.int64()}
    return _interactions(_read_tsv(path, list(types), types, skip_rows=0), path, first_line=1)


def _recbole_interactions(path: Path) -> pa.Table:
    names = _recbole_header(path)
    for required in ("user_id", "item_id"):
        if required not in names:
            raise InputError(f"{path}: missing column {required!r} in header {names}")
    known = {"user_id": pa.int64(), "item_id": pa.int64(), "rating": pa.float32(), "timestamp": pa.float64()}
    types = {name: known[name] for name in names if name in known}
    return _interactions(_read_tsv(path, names, types, skip_rows=1), path, first_line=2)


def _recbole_stem(src: Path) -> str | None:
    stems = sorted(p.stem for p in src.glob("*.inter") if (src / f"{p.stem}.item").is_file())
    if len(stems) > 1:
        raise InputError(f"{src}: several RecBole data sets {stems}; point at a folder holding one")
    return stems[0] if stems else None


def detect_ml100k_layout(src_dir: str | os.PathLike) -> Literal["grouplens", "recbole"]:
    """Tell which MovieLens layout a folder holds from the files in it.

    Raises:
        InputError: The folder holds neither `u.data` + `u.item` nor `<name>.inter` + `<name>.item`.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise InputError(f"{src}: not a folder")
    if (src / "u.data").is_file() and (src / "u.item").is_file():
        return "grouplens"
    if _recbole_stem(src) is not None:
        return "recbole"
    raise InputError(
        f"{src}: no MovieLens files found; expected u.data and u.item (GroupLens) or <name>.inter and "
        f"<name>.item (RecBole atomic files; run scripts/fetch_ml100k.py)"
    )


def load_ml100k(src_dir: str | os.PathLike, layout: Layout = "auto") -> MovieLens:
    """Load MovieLens-100k into the catalog and interaction contracts.

    Args:
        src_dir: Folder with the GroupLens files or the RecBole atomic files.
        layout: "grouplens", "recbole", or "auto" to detect it from the folder's contents.

    Returns:
        `MovieLens(catalog, interactions, layout)`; the catalog has unique int64 item ids and every
        interaction's item is in it.

    Raises:
        InputError: A file is missing or malformed (the message names file, column and line), item ids
            repeat, or interactions name items the catalog lacks.
    """
    src = Path(src_dir)
    chosen = detect_ml100k_layout(src) if layout == "auto" else layout
    if chosen == "grouplens":
        catalog, interactions = _grouplens_catalog(src), _grouplens_interactions(src)
        item_file = src / "u.item"
    elif chosen == "recbole":
        stem = _recbole_stem(src) if src.is_dir() else None
        if stem is None:
            raise InputError(f"{src}: no <name>.inter with a matching <name>.item")
        item_file = src / f"{stem}.item"
        catalog, interactions = _recbole_catalog(item_file), _recbole_interactions(src / f"{stem}.inter")
    else:
        raise InputError(f"unknown MovieLens layout {layout!r}; use 'auto', 'grouplens' or 'recbole'")
    check_unique_ids(catalog, str(item_file))
    check_known_items(interactions, catalog, f"{src} interactions")
    return MovieLens(catalog, interactions, chosen)


def write_ml100k_parquet(src_dir: str | os.PathLike, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Load MovieLens-100k from `src_dir` and write `catalog.parquet`, `interactions.parquet` atomically.

    Returns:
        `(catalog_path, interactions_path)` inside `out_dir` (created if needed).
    """
    data = load_ml100k(src_dir)
    out = Path(out_dir)
    return (
        write_catalog(data.catalog, out / "catalog.parquet"),
        write_interactions(data.interactions, out / "interactions.parquet"),
    )
