"""An independent Modbus TCP PCS for emsd's tests, on Debian's pymodbus.

It has its own register layout, unlike anything emsd's simulator serves, and
behaves like field equipment: it starts stopped, needs an explicit start
command, forgets everything when restarted, can be stopped at its local
panel, can refuse to start, can answer one block with exception codes, and
can send its 32-bit values in the other word order.

Holding registers (zero-based addresses):
  100      state: 0 stopped, 1 starting, 2 running, 3 fault, 4 local stop
  101      alive counter, +1 every 100 ms, 0 after a restart
  102-103  P measured, float32, kW, + discharge
  104-105  Q measured, float32, kvar
  106      fault code: 0 none, 7 start refused (interlock)
  200      command (FC06 only): 0xCF start, 0x5A stop
  201-202  P setpoint, float32, kW (FC16)
  203      EMS heartbeat (FC06); not changed for --watchdog s: P setpoint 0
  300-305  extras: DC bus V (uint16, 0.1 V), IGBT temperature (int16, 0.1 C),
           cabinet temperature, fan speed, insulation kOhm, vendor status
  900      local panel: write 1 = local stop (test hook)
  901      interlock: 1 = refuse start commands (test hook)

32-bit values are low word first (CDAB) unless --word-order abcd. With
--noise the measured P carries that much uniform noise, as a real
measurement does.
A single-register write with FC16 is refused (illegal function), as many
devices do. Reads of the --exception-block range answer illegal address.
"""

import argparse
import asyncio
import logging
import random
import struct
import time

from pymodbus.datastore import (ModbusSequentialDataBlock,
                                ModbusServerContext, ModbusSlaveContext)
from pymodbus.server import StartAsyncTcpServer

STOPPED, STARTING, RUNNING, FAULT, LOCAL = 0, 1, 2, 3, 4
CMD_START, CMD_STOP = 0xCF, 0x5A


class PCS(ModbusSlaveContext):
    """The device: a slave context whose writes drive its state."""

    def __init__(self, args):
        super().__init__(hr=ModbusSequentialDataBlock(0, [0] * 1000),
                         zero_mode=True)
        self.args = args
        self.state = STOPPED
        self.start_at = 0.0
        self.p = 0.0
        self.p_set = 0.0
        self.hb_seen = time.monotonic()
        self.hb = None
        self.alive = 0
        self.writes = 0

    # 32-bit float in the device's word order.
    def put_f32(self, addr, v):
        hi, lo = struct.unpack(">HH", struct.pack(">f", v))
        words = [hi, lo] if self.args.word_order == "abcd" else [lo, hi]
        self.store["h"].setValues(addr, words)

    def get_f32(self, addr):
        a, b = self.store["h"].getValues(addr, 2)
        hi, lo = (a, b) if self.args.word_order == "abcd" else (b, a)
        return struct.unpack(">f", struct.pack(">HH", hi, lo))[0]

    def validate(self, fc_as_hex, address, count=1):
        lo, hi = self.args.exception_block
        if fc_as_hex in (3, 4) and address < hi and address + count > lo:
            return False
        if fc_as_hex == 6 and address in (201, 202):
            return False  # the setpoint takes FC16 only
        if fc_as_hex == 16 and count == 1:
            return False  # single registers take FC06 only
        return super().validate(fc_as_hex, address, count)

    def setValues(self, fc_as_hex, address, values):
        super().setValues(fc_as_hex, address, values)
        self.writes += 1
        for i, v in enumerate(values):
            self.on_write(address + i, v)

    def on_write(self, addr, v):
        if addr == 200:
            if v == CMD_START:
                if self.store["h"].getValues(901, 1)[0]:
                    self.state = FAULT
                    self.store["h"].setValues(106, [7])
                elif self.state in (STOPPED, LOCAL, FAULT):
                    self.state = STARTING
                    self.start_at = time.monotonic()
                    self.store["h"].setValues(106, [0])
            elif v == CMD_STOP:
                self.state = STOPPED
        elif addr == 202 or addr == 201:
            self.p_set = self.get_f32(201)
        elif addr == 203:
            if v != self.hb:
                self.hb = v
                self.hb_seen = time.monotonic()
        elif addr == 900 and v == 1:
            self.state = LOCAL

    def tick(self, dt):
        now = time.monotonic()
        if self.state == STARTING and now - self.start_at >= self.args.start_delay:
            self.state = RUNNING
        target = 0.0
        if self.state == RUNNING and now - self.hb_seen < self.args.watchdog:
            target = max(-self.args.rated, min(self.args.rated, self.p_set))
        # First-order response with a 50 ms time constant.
        self.p += (target - self.p) * min(1.0, dt / 0.05)
        self.alive = (self.alive + 1) & 0xFFFF
        h = self.store["h"]
        h.setValues(100, [self.state])
        h.setValues(101, [self.alive])
        noise = random.uniform(-self.args.noise, self.args.noise) if self.args.noise else 0.0
        self.put_f32(102, self.p + noise)
        self.put_f32(104, 0.0)
        h.setValues(300, [7500, 412, 305, 2400, 5000, 0x11])


async def run(args):
    pcs = PCS(args)
    context = ModbusServerContext(slaves={args.unit: pcs}, single=False)

    async def ticker():
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            pcs.tick(now - last)
            last = now

    pcs.tick(0)
    asyncio.get_running_loop().create_task(ticker())
    await StartAsyncTcpServer(context=context, address=("127.0.0.1", args.port),
                              allow_reuse_address=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--unit", type=int, default=1)
    ap.add_argument("--rated", type=float, default=250.0, help="kW")
    ap.add_argument("--word-order", choices=["cdab", "abcd"], default="cdab")
    ap.add_argument("--exception-block", type=lambda s: tuple(int(x) for x in s.split(":")),
                    default=(0, 0), help="LO:HI register range answering exceptions")
    ap.add_argument("--start-delay", type=float, default=0.5, help="s")
    ap.add_argument("--watchdog", type=float, default=5.0, help="s")
    ap.add_argument("--noise", type=float, default=0.0, help="kW of uniform noise on the measured P")
    args = ap.parse_args()
    logging.disable(logging.ERROR)  # pymodbus logs every closed client as an error
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
