-- description: Groups of items sharing a full code tuple in the current version, with their suffixes
-- param: modality VARCHAR = NULL only this modality (default: all)
-- item_ids and suffixes are aligned and ordered by suffix; the suffix is what tells the items apart.
SELECT modality, version, codes, count(*)::INTEGER AS n_items,
       list(item_id ORDER BY suffix, item_id) AS item_ids,
       list(suffix ORDER BY suffix, item_id) AS suffixes
FROM current_codes
WHERE CAST($modality AS VARCHAR) IS NULL OR modality = $modality
GROUP BY modality, version, codes
HAVING count(*) > 1
ORDER BY n_items DESC, modality, codes;
