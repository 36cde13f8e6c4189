-- description: Churn between two tokenizer versions of one modality: share of codes changed and of prefixes kept, per level
-- param: modality VARCHAR = 'text' modality compared
-- param: new VARCHAR = NULL newer version (default: the modality's current version)
-- param: old VARCHAR = NULL older version (default: the newer version's parent_version)
-- Only items coded in both versions are compared. share_changed: items whose code at this level
-- differs; share_same_prefix: items whose first `level` codes are all unchanged.
WITH pick AS (
    SELECT v.modality, v.version AS new_version,
           coalesce(CAST($old AS VARCHAR), v.parent_version) AS old_version
    FROM t_tokenizer_versions v
    WHERE v.modality = $modality
      AND ((CAST($new AS VARCHAR) IS NULL AND v.is_current) OR v.version = $new)
),
pairs AS (
    SELECT p.modality, p.old_version, p.new_version, o.codes AS old_codes, n.codes AS new_codes
    FROM pick p
    JOIN t_item_codes n ON n.modality = p.modality AND n.version = p.new_version
    JOIN t_item_codes o ON o.modality = p.modality AND o.version = p.old_version AND o.item_id = n.item_id
),
per_level AS (
    SELECT *, unnest(generate_series(1, greatest(len(old_codes), len(new_codes)))) AS level FROM pairs
)
SELECT modality, old_version, new_version, level::INTEGER AS level, count(*)::INTEGER AS items,
       count(*) FILTER (WHERE old_codes[level] IS DISTINCT FROM new_codes[level])::INTEGER AS changed,
       round(avg(CASE WHEN old_codes[level] IS DISTINCT FROM new_codes[level] THEN 1 ELSE 0 END), 4)
           AS share_changed,
       round(avg(CASE WHEN old_codes[1:level] = new_codes[1:level] THEN 1 ELSE 0 END), 4)
           AS share_same_prefix
FROM per_level
GROUP BY modality, old_version, new_version, level
ORDER BY level;
