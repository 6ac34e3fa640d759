"""Procedures: the programme as data (the schema of procedure files, plan expansion, severities, the checks
that turn measurements into verdicts, validation of every input file)."""
