"""meterlab: automated OIML R 49 / R 137 type-approval testing of water and gas meters."""

__version__ = "0.1.0"
