"""Interface fuzzing: cases generated from a meter's declared interface, and the raw link that sends them."""
