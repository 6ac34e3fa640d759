"""Records: the append-only, hash-chained store of runs (journal, results, I/O log, sign-offs)."""
