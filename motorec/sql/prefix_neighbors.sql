-- description: Items sharing at least the first $n codes with an item (current version), longest shared prefix first
-- param: item_id VARCHAR (required) the item to match
-- param: n INTEGER = 2 minimum shared prefix length, in levels
-- param: modality VARCHAR = 'text' modality whose codes are compared (text, image, clip_text)
-- param: k INTEGER = 100 most rows returned
-- shared_prefix counts the leading levels whose codes agree, so it is >= $n here and equals the number
-- of levels for items with the very same code tuple (told apart only by their suffix).
WITH target AS (
    SELECT codes FROM current_codes WHERE item_id = $item_id AND modality = $modality
),
candidates AS (
    -- cheap filter first: the first $n codes must be equal
    SELECT c.item_id, c.codes, c.sid, t.codes AS target_codes
    FROM current_codes c, target t
    WHERE c.modality = $modality AND c.item_id <> $item_id
      AND c.codes[1:greatest($n, 0)] = t.codes[1:greatest($n, 0)]
),
per_level AS (
    SELECT item_id, codes, target_codes, unnest(generate_series(1, len(codes))) AS level
    FROM candidates
),
shared AS (
    -- prefix equality is monotone in the level, so counting equal prefixes gives the shared length
    SELECT item_id,
           sum(CASE WHEN codes[1:level] = target_codes[1:level] THEN 1 ELSE 0 END)::INTEGER AS shared_prefix
    FROM per_level
    GROUP BY item_id
)
SELECT c.item_id, i.title, s.shared_prefix, c.codes, c.sid
FROM candidates c
JOIN shared s ON s.item_id = c.item_id
LEFT JOIN t_items i ON i.item_id = c.item_id
WHERE s.shared_prefix >= $n
ORDER BY s.shared_prefix DESC, c.item_id
LIMIT $k;
