"""Loaders for public data sets into MoToRec's catalog and interaction contracts (see DESIGN.md)."""

from motorec.datasets.mmrec import (
    MMRecData,
    find_inter_file,
    load_mmrec,
    make_synthetic_mmrec,
    write_mmrec_parquet,
)
from motorec.datasets.movielens import (
    GROUPLENS_GENRES,
    MovieLens,
    detect_ml100k_layout,
    load_ml100k,
    write_ml100k_parquet,
)
from motorec.datasets.schema import (
    INTERACTIONS_SCHEMA,
    MOVIELENS_CATALOG_SCHEMA,
    read_interactions,
    write_catalog,
    write_interactions,
)

__all__ = [
    "GROUPLENS_GENRES",
    "INTERACTIONS_SCHEMA",
    "MOVIELENS_CATALOG_SCHEMA",
    "MMRecData",
    "MovieLens",
    "detect_ml100k_layout",
    "find_inter_file",
    "load_ml100k",
    "load_mmrec",
    "make_synthetic_mmrec",
    "read_interactions",
    "write_catalog",
    "write_interactions",
    "write_ml100k_parquet",
    "write_mmrec_parquet",
]
