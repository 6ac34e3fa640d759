"""Reports: console tables now; error curves, test reports and exports build on the same data."""
