"""Running notebooks: papermill execution, sweeps, telemetry, attachments, checkpoints, and the run store."""
