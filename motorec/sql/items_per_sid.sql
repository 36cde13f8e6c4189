-- description: Items per readable semantic id (or sid prefix of $n levels) in the current version, most crowded first
-- param: modality VARCHAR = 'text' modality
-- param: n INTEGER = NULL prefix length in levels (default: all levels, without the collision suffix)
-- param: k INTEGER = 50 most rows returned
-- item_ids lists at most the first 10 items by item_id; n_items counts them all.
WITH ids AS (
    SELECT item_id,
           array_to_string(
               regexp_extract_all(sid, '<[^>]+>')[1:coalesce(CAST($n AS INTEGER), len(codes))], '') AS sid
    FROM current_codes
    WHERE modality = $modality
)
SELECT sid, count(*)::INTEGER AS n_items, list(item_id ORDER BY item_id)[1:10] AS item_ids
FROM ids
GROUP BY sid
ORDER BY n_items DESC, sid
LIMIT $k;
