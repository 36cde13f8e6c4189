"""Print the first strict-cold movie (by item_id) whose 2-level code prefix another movie shares (make demo)."""

from __future__ import annotations

import sys

import pyarrow.parquet as pq

from motorec.sql import connect_readonly


def main(store: str, cold_items: str) -> int:
    cold = [str(i) for i in pq.read_table(cold_items).column("item_id").to_pylist()]
    con = connect_readonly(f"{store}/motorec.duckdb")
    shared = {r[0] for r in con.execute(
        "SELECT c.item_id FROM current_codes c JOIN current_codes o ON o.modality = c.modality AND "
        "o.item_id <> c.item_id AND o.c1 = c.c1 AND o.c2 = c.c2").fetchall()}
    con.close()
    picks = sorted((i for i in cold if i in shared), key=lambda s: (len(s), s))
    print(picks[0] if picks else cold[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
