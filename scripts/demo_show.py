"""Print a user's recommendations with strict-cold movies marked (used by `make demo`)."""

from __future__ import annotations

import sys

import pyarrow.compute as pc
import pyarrow.parquet as pq


def main(recs_path: str, catalog_path: str, cold_path: str) -> int:
    recs = pq.read_table(recs_path)
    catalog = pq.read_table(catalog_path, columns=["item_id", "title"])
    titles = dict(zip(catalog.column("item_id").to_pylist(), catalog.column("title").to_pylist(), strict=True))
    cold = set(pq.read_table(cold_path).column("item_id").to_pylist())
    user = recs.column("user_id")[0].as_py()
    rows = recs.filter(pc.equal(recs.column("user_id"), user)).to_pylist()
    print(f"\nTop {len(rows)} for user {user} (* = strict-cold movie: no interactions in training):")
    for r in rows:
        mark = "*" if r["item_id"] in cold else " "
        print(f"  {r['rank']:>2}. {mark} {titles.get(r['item_id'], r['item_id'])}  ({r['score']:.3f})")
    n_cold = sum(r["item_id"] in cold for r in rows)
    print(f"  {n_cold} of {len(rows)} are strict-cold movies")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
