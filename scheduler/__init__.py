"""APScheduler setup, job definitions and the daemon."""
