-- description: The most recent runs with their status, duration in seconds and counts
-- param: k INTEGER = 10 number of runs shown
SELECT run_id, command, status, started_at, finished_at,
       date_diff('millisecond', started_at, finished_at) / 1000.0 AS seconds,
       counts
FROM t_runs
ORDER BY run_id DESC
LIMIT $k;
