-- What a finished run used (RunResources: cpu_seconds, memory_peak_bytes,
-- processes_peak), as the JSON object of the run's "resources"; NULL where
-- nothing was measured (runs before this, runs that never started).
ALTER TABLE runs ADD COLUMN resources TEXT;
