-- description: Cold items (no training interactions) with their nearest warm items by shared code prefix
-- param: modality VARCHAR = 'text' modality whose codes are compared
-- param: k INTEGER = 5 warm neighbours kept per cold item
-- Cold and warm follow item_degrees (degree 0 / degree > 0); a neighbour shares at least the first code.
-- Ties on shared_prefix go to the item with more interactions, then to the smaller item_id.
-- Only the best $k warm items of each (level, prefix) bucket can make a cold item's top $k: any other
-- warm item in that bucket has $k better ones sharing at least as long a prefix. So each cold item
-- meets at most levels x $k candidates instead of every warm item in its first-code bucket.
WITH coded AS (
    SELECT c.item_id, c.codes, d.degree
    FROM current_codes c
    JOIN item_degrees d ON d.item_id = c.item_id
    WHERE c.modality = $modality
),
prefixes AS (
    SELECT item_id, degree, level, codes[1:level] AS prefix
    FROM (SELECT *, unnest(generate_series(1, len(codes))) AS level FROM coded)
),
warm_best AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (PARTITION BY level, prefix ORDER BY degree DESC, item_id) AS pos
        FROM prefixes
        WHERE degree > 0)
    WHERE pos <= $k
),
shared AS (
    SELECT cold.item_id AS cold_item_id, warm.item_id AS warm_item_id, warm.degree AS warm_degree,
           max(cold.level)::INTEGER AS shared_prefix
    FROM prefixes cold
    JOIN warm_best warm ON warm.level = cold.level AND warm.prefix = cold.prefix
    WHERE cold.degree = 0
    GROUP BY cold.item_id, warm.item_id, warm.degree
),
ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY cold_item_id ORDER BY shared_prefix DESC, warm_degree DESC, warm_item_id) AS rnk
    FROM shared
)
SELECT cold_item_id, rnk::INTEGER AS rank, warm_item_id, shared_prefix, warm_degree
FROM ranked
WHERE rnk <= $k
ORDER BY cold_item_id, rnk;
