"""The declared interface (`interface:` of a meter declaration, issue 16 part 2): what cannot be a consistent
interface is refused with the field, before anything is generated from it."""

import pytest
from pydantic import ValidationError

from meterlab.metrology.interface import MBusInterface, MeterInterface, ModbusInterface

VOLUME = {"name": "volume", "table": "input", "address": 0, "count": 2, "role": "totaliser"}


def modbus(**changes):
    return {"unit": 1, "functions": [3, 4, 6, 16], "registers": [VOLUME], **changes}


@pytest.mark.parametrize("changes, message", [
    ({"registers": [{**VOLUME, "access": "read_write", "values": [0, 1]}]}, "input registers cannot be written"),
    ({"registers": [{**VOLUME, "table": "holding", "access": "read_write"}]}, r"needs `values: \[min, max\]`"),
    ({"functions": [3, 6]}, r"function 4 \(its read\) is not among the documented functions"),
    ({"functions": [4, 200]}, "not Modbus function codes"),
    ({"registers": [VOLUME, VOLUME]}, "volume declared twice"),
    ({"unit": 0}, "greater than or equal to 1"),
])
def test_an_inconsistent_modbus_interface_is_refused(changes, message):
    with pytest.raises(ValidationError, match=message):
        ModbusInterface.model_validate(modbus(**changes))


def test_a_consistent_interface_and_what_the_oracle_watches():
    interface = ModbusInterface.model_validate(modbus(registers=[
        VOLUME, {"name": "factor", "table": "holding", "address": 0, "count": 2, "legally_relevant": True}]))
    assert [r.name for r in interface.watched()] == ["factor"]  # the totaliser is judged on its own
    assert [r.name for r in interface.by_role("totaliser")] == ["volume"]


def test_an_interface_section_declares_something_and_mbus_reads_are_documented():
    with pytest.raises(ValidationError, match="declare at least one interface"):
        MeterInterface.model_validate({"recovery_s": 5})
    with pytest.raises(ValidationError, match="REQ_UD2"):
        MBusInterface.model_validate({"primary_address": 1, "commands": ["SND_NKE"],
                                      "records": [{"name": "volume", "vif": 0x13}]})
    with pytest.raises(ValidationError, match="SND_UD is not among"):
        MBusInterface.model_validate({"primary_address": 1, "commands": ["REQ_UD2"], "snd_ud_ci": [0x50],
                                      "records": [{"name": "volume", "vif": 0x13}]})
