-- description: Code usage per modality, tokenizer version and level: codes used, share used, dead codes, perplexity
-- param: version VARCHAR = NULL tokenizer version (default: each modality's current version)
-- param: modality VARCHAR = NULL only this modality (default: all)
-- perplexity = exp(-sum_k p_k ln p_k) over the level's code distribution: K when every code is used
-- equally often, 1 when all items share one code. Shares and perplexity are rounded to 4 decimals.
WITH versions AS (
    SELECT modality, version, levels, codebook_size
    FROM t_tokenizer_versions
    WHERE ((CAST($version AS VARCHAR) IS NULL AND is_current) OR version = $version)
      AND (CAST($modality AS VARCHAR) IS NULL OR modality = $modality)
),
levels AS (
    SELECT modality, version, codebook_size, unnest(generate_series(1, levels)) AS level FROM versions
),
used AS (
    SELECT c.modality, c.version, generate_subscripts(c.codes, 1) AS level, unnest(c.codes) AS code
    FROM t_item_codes c
    JOIN versions v ON v.modality = c.modality AND v.version = c.version
),
counts AS (
    SELECT modality, version, level, code, count(*) AS n FROM used GROUP BY modality, version, level, code
),
probs AS (
    SELECT *, n / sum(n) OVER (PARTITION BY modality, version, level) AS p FROM counts
),
stats AS (
    SELECT modality, version, level, sum(n)::INTEGER AS items, count(*)::INTEGER AS codes_used,
           exp(-sum(p * ln(p))) AS perplexity
    FROM probs
    GROUP BY modality, version, level
)
SELECT l.modality, l.version, l.level::INTEGER AS level,
       coalesce(s.items, 0) AS items,
       coalesce(s.codes_used, 0) AS codes_used,
       l.codebook_size,
       round(coalesce(s.codes_used, 0) / l.codebook_size, 4) AS share_used,
       greatest(l.codebook_size - coalesce(s.codes_used, 0), 0)::INTEGER AS dead_codes,
       round(s.perplexity, 4) AS perplexity
FROM levels l
LEFT JOIN stats s ON s.modality = l.modality AND s.version = l.version AND s.level = l.level
ORDER BY l.modality, l.version, l.level;
