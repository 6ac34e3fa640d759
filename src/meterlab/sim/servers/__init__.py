"""Protocol servers of the simulated lab: line-framed TCP (SCPI, MT-SICS, ...) and Modbus TCP."""
