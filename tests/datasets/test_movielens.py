from datetime import datetime, timezone
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from motorec.datasets import (
    GROUPLENS_GENRES,
    INTERACTIONS_SCHEMA,
    MOVIELENS_CATALOG_SCHEMA,
    detect_ml100k_layout,
    load_ml100k,
    read_interactions,
    write_ml100k_parquet,
)
from motorec.datasets.movielens import _recbole_genres
from motorec.errors import InputError

REAL_DATA = Path(__file__).resolve().parents[2] / "data" / "ml-100k"

# (id, GroupLens title, release date, genres, RecBole title, RecBole year, RecBole class)
MOVIES = [
    (1, "Toy Story (1995)", "01-Jan-1995", ["Animation", "Children's", "Comedy"],
     "Toy Story", "1995", "Animation Children's Comedy"),
    (2, "Misérables, Les (1995)", "01-Jan-1995", ["Drama", "War"], "Misérables, Les", "1995", "Drama War"),
    (3, "unknown", "", ["unknown"], "unkonwn", "unkonwn", "unknown"),
    (4, "Blade Runner (1982)", "01-Jan-1982", ["Film-Noir", "Sci-Fi"],
     "Blade Runner", "1982", "Film-Noir Sci-Fi"),
    (5, "Good Morning (1971)", "01-Jan-1971", ["unknown"], "Good Morning", "1971", "unknown"),
]
EXPECTED_CATALOG = [
    {"item_id": 1, "title": "Toy Story (1995)", "description": "Genres: Animation, Children's, Comedy",
     "year": 1995, "genres": ["Animation", "Children's", "Comedy"]},
    {"item_id": 2, "title": "Misérables, Les (1995)", "description": "Genres: Drama, War",
     "year": 1995, "genres": ["Drama", "War"]},
    {"item_id": 3, "title": "unknown", "description": None, "year": None, "genres": []},
    {"item_id": 4, "title": "Blade Runner (1982)", "description": "Genres: Film-Noir, Sci-Fi",
     "year": 1982, "genres": ["Film-Noir", "Sci-Fi"]},
    {"item_id": 5, "title": "Good Morning (1971)", "description": None, "year": 1971, "genres": []},
]
RATINGS = [(196, 1, 3, 881250949), (186, 4, 5, 891717742), (196, 3, 1, 878887116), (22, 5, 2, 880606923)]
EXPECTED_INTERACTIONS = [
    {"user_id": u, "item_id": i, "weight": float(r),
     "timestamp": datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None)}
    for u, i, r, t in RATINGS
]


def write_grouplens(folder: Path, movies=MOVIES, ratings=RATINGS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings))
    lines = []
    for item_id, title, date, genres, *_ in movies:
        flags = "|".join("1" if g in genres else "0" for g in GROUPLENS_GENRES)
        lines.append(f"{item_id}|{title}|{date}||http://us.imdb.com/M/title-exact?{item_id}|{flags}\n")
    (folder / "u.item").write_bytes("".join(lines).encode("latin-1"))
    genre_lines = "".join(f"{g}|{k}\n" for k, g in enumerate(GROUPLENS_GENRES)) + "\n"
    (folder / "u.genre").write_text(genre_lines, encoding="latin-1")
    return folder


def write_recbole(folder: Path, movies=MOVIES, ratings=RATINGS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    inter += [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in ratings]
    (folder / "ml-100k.inter").write_text("\n".join(inter) + "\n")
    item = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    item += [f"{m[0]}\t{m[4]}\t{m[5]}\t{m[6]}" for m in movies]
    (folder / "ml-100k.item").write_bytes(("\n".join(item) + "\n").encode("latin-1"))
    return folder


@pytest.mark.parametrize("layout, writer", [("grouplens", write_grouplens), ("recbole", write_recbole)])
def test_both_layouts_give_the_same_exact_rows(tmp_path, layout, writer):
    folder = writer(tmp_path / "ml")
    assert detect_ml100k_layout(folder) == layout
    data = load_ml100k(folder)
    assert data.layout == layout
    assert data.catalog.schema.equals(MOVIELENS_CATALOG_SCHEMA)
    assert data.interactions.schema.equals(INTERACTIONS_SCHEMA)
    assert data.catalog.to_pylist() == EXPECTED_CATALOG
    assert data.interactions.to_pylist() == EXPECTED_INTERACTIONS


def test_grouplens_year_from_release_date_when_title_has_none(tmp_path):
    movies = [(7, "Some Film", "01-Jan-1990", ["Comedy"], "", "", "")]
    folder = write_grouplens(tmp_path / "ml", movies=movies, ratings=[(1, 7, 4, 1)])
    (folder / "u.genre").unlink()  # the built-in genre list is used instead
    row = load_ml100k(folder).catalog.to_pylist()[0]
    assert (row["title"], row["year"], row["genres"]) == ("Some Film (1990)", 1990, ["Comedy"])


def test_recbole_year_falls_back_to_title(tmp_path):
    # RecBole reads "(V)" of "Land Before Time III ... (1995) (V)" as the year.
    movies = [(1412, "", "", [], "Land Before Time III (1995)", "V", "Animation Children's")]
    folder = write_recbole(tmp_path / "ml", movies=movies, ratings=[(1, 1412, 4, 1)])
    row = load_ml100k(folder).catalog.to_pylist()[0]
    assert (row["title"], row["year"]) == ("Land Before Time III (1995)", 1995)


@pytest.mark.parametrize("field, expected", [
    ("Animation Children's Comedy", ["Animation", "Children's", "Comedy"]),
    ("Film-Noir Sci-Fi", ["Film-Noir", "Sci-Fi"]),
    ("Children s Film Noir Sci Fi", ["Children's", "Film-Noir", "Sci-Fi"]),
    ("childrens film_noir scifi", ["Children's", "Film-Noir", "Sci-Fi"]),
    ("", []),
])
def test_recbole_genre_tokens_map_to_grouplens_names(field, expected):
    assert _recbole_genres(field, "x") == expected


def test_unknown_recbole_genre_names_the_column():
    with pytest.raises(InputError, match="'class'.*'Cartoon'"):
        _recbole_genres("Comedy Cartoon", "f.item: line 2")


def test_parquet_round_trip(tmp_path):
    folder = write_recbole(tmp_path / "ml")
    catalog_path, inter_path = write_ml100k_parquet(folder, tmp_path / "out")
    assert pq.read_table(catalog_path).to_pylist() == EXPECTED_CATALOG
    back = read_interactions(inter_path)  # Parquet has no seconds unit: stored as ms, cast back
    assert back.schema.equals(INTERACTIONS_SCHEMA)
    assert back.to_pylist() == EXPECTED_INTERACTIONS
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["catalog.parquet", "interactions.parquet"]


def test_malformed_u_item_names_file_and_line(tmp_path):
    folder = write_grouplens(tmp_path / "ml")
    with open(folder / "u.item", "ab") as fh:
        fh.write(b"6|Too Short (1999)|01-Jan-1999\n")
    with pytest.raises(InputError, match=r"u\.item: line 6: expected 24"):
        load_ml100k(folder)


def test_bad_rating_file_names_file(tmp_path):
    folder = write_grouplens(tmp_path / "ml")
    (folder / "u.data").write_text("1\tone\t3\t5\n")
    with pytest.raises(InputError, match=r"u\.data"):
        load_ml100k(folder)


def test_duplicate_item_ids_are_named(tmp_path):
    folder = write_grouplens(tmp_path / "ml", movies=MOVIES + [MOVIES[0]])
    with pytest.raises(InputError, match=r"duplicate item_id values \['1'\]"):
        load_ml100k(folder)


def test_unknown_items_are_reported_not_dropped(tmp_path):
    folder = write_recbole(tmp_path / "ml", ratings=RATINGS + [(1, 99, 4, 1)])
    with pytest.raises(InputError, match=r"1 item_id value\(s\) are not in the catalog, e\.g\. \[99\]"):
        load_ml100k(folder)


def test_folder_without_movielens_files(tmp_path):
    with pytest.raises(InputError, match="no MovieLens files"):
        load_ml100k(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        load_ml100k(tmp_path / "missing")


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason="run scripts/fetch_ml100k.py to fetch MovieLens-100k")
def test_real_ml100k():
    data = load_ml100k(REAL_DATA)
    catalog, inter = data.catalog, data.interactions
    assert catalog.num_rows == 1682
    assert len(pc.unique(catalog["item_id"])) == 1682
    assert inter.num_rows == 100_000
    assert len(pc.unique(inter["user_id"])) == 943
    assert len(pc.unique(inter["item_id"])) == 1682
    assert catalog.to_pylist()[0] == {
        "item_id": 1, "title": "Toy Story (1995)", "description": "Genres: Animation, Children's, Comedy",
        "year": 1995, "genres": ["Animation", "Children's", "Comedy"]}
    genres = set(pc.list_flatten(catalog["genres"]).to_pylist())
    assert genres == set(GROUPLENS_GENRES) - {"unknown"}
    assert set(inter["weight"].to_pylist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert inter["timestamp"].null_count == 0
