import numpy as np
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
