"""EMC immunity generators applied while the meter measures: surge (IEC 61000-4-5), burst/EFT (61000-4-4),
ESD (61000-4-2), voltage dips, interruptions and variations (61000-4-11 / 61000-4-1) and magnetic fields
(static; power frequency, 61000-4-8).

The command sets of most of these generators are not public (reference sheet 1.2-1.4). meterlab therefore
defines ONE mnemonic command set in the style of the EMC Partner TRA3000 [V for the style: REN/GTL, `E?`,
`ID?`, `LC?`, `VPK?`/`IPK?`; the rest is meterlab's own], and keeps every vendor's syntax in an **adapter
table** per model. A driver class takes its table: a lab adds its generator by writing a table (a YAML file
named in the bench's `options: {adapter: path/to/table.yaml}`), not a driver. The built-in `generic` tables
(`GENERIC_TABLES`, data files in `tables/`: common.yaml merged under generic-<family>.yaml) describe the
meterlab set, which the simulated lab speaks.

Modules: `adapter` (the table model, the built-in tables, loading), `base` (what every driver shares), one
per family: `surge`, `burst`, `esd`, `dips` (dips, interruptions, variation), `magnetic` (magnetic_field).

The generic (TRA3000-style) command set, CR LF framing, `?` for queries:

    common      REN / GTL          remote / local; every setting and action needs remote, queries do not
                ID?                identity, e.g. `SIM-SURGE 1.00`
                E?                 error register, read and cleared: 0 no error, 1 only allowed in remote,
                                   2 unknown command, 3 impermissible argument, 4 no query allowed, 5 only
                                   allowed in standby (a setting changed while a test runs), 64 other
                                   [TRA3000 codes, V]; 128 interlock open, 129 high voltage off (START when
                                   not armed) [meterlab extensions]
                ST?                STBY (high voltage off) | ARMED (high voltage on, ready) | RUN (test running)
                TC?                1 when the last test ran to its end (count done, duration elapsed), else 0
                HV?                1 high voltage (the output) on, 0 off
                IL?                1 interlock closed, 0 open
                ARM / DISARM       high voltage on (refused with 128 while the interlock is open) / off
                START / STOP       start a test (129 unless armed) / stop it (stays armed)
    surge       VSET <kV>          0.1 .. 5.0        POL POS|NEG       CPL L-N|L-PE|N-PE|IMP-OUT
                PHA <deg>          0 .. 359          CNT <n> 1..9999   REP <s> 1 .. 3600 (repetition)
                LC?  VPK?  IPK?    last coupling, measured peak voltage (V) and current (A) of the last
                                   surge as signed integers [TRA3000, V];  PC? surges delivered
    burst       VSET <kV> 0.1..5.0 POL POS|NEG       FREQ <kHz> 0.1 .. 1000
                BLEN <ms> 0.01..1000 (burst length)  BPER <ms> 1 .. 10000 (burst period)
                CPL L|N|PE|LN|LPE|NPE|LNPE|CLAMP     TDUR <s> 1 .. 86400 (test duration)
    esd         MODE CONT|AIR      VSET <kV> 0.2 .. 30   POL POS|NEG   CNT <n> 1..9999   INT <s> 0.05 .. 60
                DC?                discharges delivered
    dips        MODE DIP|VAR       VNOM <V> 1 .. 300     FNOM 50|60    RES <%> 0 .. 100 (residual voltage)
                DUR <cycles> 0.5 .. 5000   PHA <deg> 0 .. 359   CNT <n> 1..9999   INT <s> 0.1 .. 3600
                VVAR <%> -20 .. 20 (steady variation, MODE VAR: runs until STOP)
                VRMS? output voltage now (V); EC? dip events delivered
    magnetic    MODE STAT|AC       BSET <mT> 0 .. 500 (static)   HSET <A/m> 0 .. 1200 (power frequency)
                FREQ 50|60         TDUR <s> 0 .. 86400 (0: until STOP)   FLD? field now (mT or A/m)

Settings have no reply: the driver reads `E?` after every setting and action (that is also the
confirmation the generator took it). A query the generator cannot answer gets no reply (the error is in
`E?`). The ranges above are those of the generic set [U for any real model: put the model's own in its
table]; the test levels themselves (D 11 severities) are procedure data, never in a driver.

The engine drives every generator the same way (parameter names as in procedures/standards/d11-2013.yaml):

    for run in generator.runs(kind, severity_parameters):   # e.g. both polarities x four phase angles
        generator.configure(**run)       # validated completely before anything is sent; REN first
                                         # (generator.check_parameters(**run) validates without sending)
        generator.arm()
        generator.start()
        generator.wait_complete(timeout_s=...)   # or measure meanwhile (NSAd), then stop()
        generator.stop()
    generator.disarm()                   # safe_state() = stopped, disarmed, high voltage off
"""


from meterlab.instruments.emc.adapter import (
    BUILTIN_TABLES,
    COMMON_TABLE,
    DRIVER_FAMILIES,
    GENERIC_TABLES,
    AdapterTable,
    ErrorRegister,
    Family,
    load_adapter,
)
from meterlab.instruments.emc.base import (
    COMMON_COMMANDS,
    INFORMATIONAL,
    EmcGenerator,
    GeneratorOptions,
    TableProperty,
)
from meterlab.instruments.emc.burst import BurstGenerator
from meterlab.instruments.emc.dips import DipsGenerator
from meterlab.instruments.emc.esd import EsdSimulator
from meterlab.instruments.emc.magnetic import MagneticFieldSource
from meterlab.instruments.emc.surge import SurgeGenerator

__all__ = [
    "BUILTIN_TABLES", "COMMON_COMMANDS", "COMMON_TABLE", "DRIVER_FAMILIES", "GENERIC_TABLES", "INFORMATIONAL",
    "AdapterTable", "BurstGenerator", "DipsGenerator", "EmcGenerator", "ErrorRegister", "EsdSimulator", "Family",
    "GeneratorOptions", "MagneticFieldSource", "SurgeGenerator", "TableProperty", "load_adapter",
]
