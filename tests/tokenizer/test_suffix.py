import numpy as np
import pyarrow as pa
import pytest

from motorec.tokenizer.suffix import assign_suffixes


def test_suffixes_ordered_by_item_id_within_a_tuple():
    ids = ["c", "a", "b", "d"]
    codes = np.array([[1, 2], [1, 2], [3, 4], [1, 2]])
    np.testing.assert_array_equal(assign_suffixes(ids, codes), [1, 0, 0, 2])
    # integer ids sort numerically, not as text
    np.testing.assert_array_equal(assign_suffixes([10, 9], np.array([[0], [0]])), [1, 0])


def test_existing_items_keep_suffixes_and_new_ones_are_numbered_after():
    old_ids, old_codes = ["b", "c"], np.array([[1, 2], [1, 2]])
    old_suffix = assign_suffixes(old_ids, old_codes)
    np.testing.assert_array_equal(old_suffix, [0, 1])
    # "a" sorts first but arrives later: it must not renumber b and c
    ids = ["a", "b", "c", "e"]
    codes = np.array([[1, 2], [1, 2], [1, 2], [5, 5]])
    out = assign_suffixes(ids, codes, existing=(old_ids, old_codes, old_suffix))
    np.testing.assert_array_equal(out, [2, 0, 1, 0])


def test_changed_codes_free_the_old_slot():
    old = (["a", "b"], np.array([[1], [1]]), np.array([0, 1]))
    out = assign_suffixes(["a", "b", "c"], np.array([[2], [1], [1]]), existing=old)
    # a moved to tuple (2,): new there; c joins (1,) after b's suffix 1
    np.testing.assert_array_equal(out, [0, 1, 2])


def test_suffix_input_checks():
    with pytest.raises(ValueError, match="unique"):
        assign_suffixes(["a", "a"], np.zeros((2, 1), int))
    with pytest.raises(ValueError, match="1 item ids for 2"):
        assign_suffixes(["a"], np.zeros((2, 1), int))


def _reference(item_ids, codes, existing=None):
    """The rule spelled out with dicts, one item at a time (what assign_suffixes computes columnar)."""
    current = {i: tuple(r) for i, r in zip(item_ids, codes.tolist(), strict=True)}
    used, kept = {}, {}
    if existing is not None:
        for i, r, s in zip(existing[0], existing[1].tolist(), existing[2].tolist(), strict=True):
            if i in current and current[i] != tuple(r):
                continue
            used[tuple(r)] = max(used.get(tuple(r), -1), s)
            if i in current:
                kept[i] = s
    out = dict(kept)
    for i in sorted(i for i in item_ids if i not in kept):
        used[current[i]] = out[i] = used.get(current[i], -1) + 1
    return np.array([out[i] for i in item_ids])


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_the_one_item_at_a_time_reference(seed):
    rng = np.random.default_rng(seed)
    ids = [f"item{k:05d}" for k in rng.permutation(3000)]
    codes = rng.integers(0, 4, size=(3000, 3))  # 64 tuples: many collisions
    first = assign_suffixes(ids[:2000], codes[:2000])
    np.testing.assert_array_equal(first, _reference(ids[:2000], codes[:2000]))
    # a nightly run: 500 old items re-encoded (some change codes), 1000 new ones, 500 old ones absent
    codes2 = codes.copy()
    codes2[rng.choice(3000, 400, replace=False)] = rng.integers(0, 4, size=(400, 3))
    ids2, c2 = ids[1500:], codes2[1500:]
    existing = (pa.array(ids[:2000]), codes[:2000], first)
    got = assign_suffixes(pa.array(ids2), c2, existing)
    np.testing.assert_array_equal(got, _reference(ids2, c2, (ids[:2000], codes[:2000], first)))
    # every (tuple, suffix) pair names one item among the items assigned now and the slots still held
    held = [i for i in range(2000) if i < 1500]
    pairs = {(tuple(r), s) for r, s in zip(c2.tolist(), got.tolist(), strict=True)}
    assert len(pairs) == len(ids2)
    assert not pairs & {(tuple(codes[i]), first[i]) for i in held}
