"""One reading format for water, gas and electricity meter readings (issue 16, part 4).

`meter-reading-v1.json` is the format (a JSON Schema, shipped in the package); `schema.py` loads it and
validates readings against it; `decoders.py` turns what the drivers read (an M-Bus telegram, a Modbus register,
a DLMS register identified by its OBIS code) into it; `obis.py` reads the OBIS code table `obis-codes.yaml`.
docs/readings.md describes the format for technicians."""
