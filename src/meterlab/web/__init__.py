"""The laboratory's web console (`meterlab serve`): runs, results, sign-off, records, calibration and type
evaluations in a browser, and the same as JSON under /api/ (docs/console.md)."""
