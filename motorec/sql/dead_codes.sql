-- description: Dead codes (values 0..K-1 that no item uses) per modality and level of the current version
-- param: modality VARCHAR = NULL only this modality (default: all)
WITH versions AS (
    SELECT modality, version, levels, codebook_size
    FROM t_tokenizer_versions
    WHERE is_current AND (CAST($modality AS VARCHAR) IS NULL OR modality = $modality)
),
levels AS (
    SELECT modality, version, codebook_size, unnest(generate_series(1, levels)) AS level FROM versions
),
slots AS (
    SELECT modality, version, level, unnest(generate_series(0, codebook_size - 1)) AS code FROM levels
),
used AS (
    SELECT c.modality, c.version, generate_subscripts(c.codes, 1) AS level, unnest(c.codes) AS code
    FROM t_item_codes c
    JOIN versions v ON v.modality = c.modality AND v.version = c.version
),
dead AS (
    SELECT modality, version, level, code FROM slots
    EXCEPT
    SELECT modality, version, level, code FROM used
)
SELECT l.modality, l.version, l.level::INTEGER AS level, l.codebook_size,
       count(d.code)::INTEGER AS dead_count,
       coalesce(list(d.code::INTEGER ORDER BY d.code) FILTER (WHERE d.code IS NOT NULL), []::INTEGER[])
           AS dead_codes
FROM levels l
LEFT JOIN dead d ON d.modality = l.modality AND d.version = l.version AND d.level = l.level
GROUP BY l.modality, l.version, l.level, l.codebook_size
ORDER BY l.modality, l.level;
