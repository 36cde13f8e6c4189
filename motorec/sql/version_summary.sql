-- description: Tokenizer versions per modality: levels, codebook size, items, distinct code tuples, collision rate
-- param: modality VARCHAR = NULL only this modality (default: all)
-- collision_rate = 1 - distinct code tuples / items, before collision suffixes (0: every tuple unique).
SELECT v.modality, v.version, v.created_at, v.is_current, v.parent_version, v.levels, v.codebook_size,
       count(c.item_id)::INTEGER AS items,
       count(DISTINCT c.codes)::INTEGER AS distinct_codes,
       round(1 - count(DISTINCT c.codes) / nullif(count(c.item_id), 0), 4) AS collision_rate
FROM t_tokenizer_versions v
LEFT JOIN t_item_codes c ON c.modality = v.modality AND c.version = v.version
WHERE CAST($modality AS VARCHAR) IS NULL OR v.modality = $modality
GROUP BY v.modality, v.version, v.created_at, v.is_current, v.parent_version, v.levels, v.codebook_size
ORDER BY v.modality, v.created_at, v.version;
