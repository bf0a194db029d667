"""A SunSpec device served by pymodbus, built here from the official model JSON.

Independent of emsd: its own reading of the SunSpec JSON, its own register
image, Debian's pymodbus as the Modbus server. For emsd's tests only.

  sunspec_server.py --port P --models-dir DIR --models 1,701,711 [--repeat NCtl=2]
                    [--break overrun|unknown|noend]
"""
import argparse
import asyncio
import json
import logging
import os

from pymodbus.datastore import (ModbusSequentialDataBlock,
                                ModbusServerContext, ModbusSlaveContext)
from pymodbus.server import StartAsyncTcpServer

BASE = 40000
# Engineering values served where a model has the point (raw, before the
# scale factor, which is -1 for every sunssf point).
RAW = {"W": 1234, "InvSt": 3, "SoC": 555}


def text(s, size):
    b = s.encode()[: 2 * size].ljust(2 * size, b"\0")
    return [b[i] << 8 | b[i + 1] for i in range(0, 2 * size, 2)]


def group_regs(g, repeat, top):
    regs = []
    for p in g["points"]:
        n = p["size"]
        t = p["type"]
        if t == "string":
            regs += text("pymodbus " + p["name"], n)
        elif t == "sunssf":
            regs.append(0xFFFF)  # -1
        elif p["name"] in repeat:
            regs.append(repeat[p["name"]])
        elif p["name"] in RAW:
            v = RAW[p["name"]]
            regs += [(v >> (16 * (n - 1 - i))) & 0xFFFF for i in range(n)]
        else:
            regs += [0x0100 + i for i in range(n)]
    for c in g.get("groups", []):
        k = repeat.get(c.get("count"), 1) if isinstance(c.get("count"), str) else int(c.get("count", 1))
        for _ in range(k):
            regs += group_regs(c, repeat, False)
    return regs


def image(args):
    regs = [0x5375, 0x6E53]
    repeat = dict((k, int(v)) for k, v in (r.split("=") for r in args.repeat))
    ids = [int(i) for i in args.models.split(",")]
    for n, mid in enumerate(ids):
        with open(os.path.join(args.models_dir, "model_%d.json" % mid)) as f:
            m = json.load(f)
        body = group_regs(m["group"], repeat, True)
        body[0], body[1] = mid, len(body) - 2
        if args.brk == "overrun" and n == len(ids) - 1:
            body[1] += 200
        regs += body
    if args.brk == "unknown":
        regs += [64777, 4, 1, 2, 3, 4]
    if args.brk != "noend":
        regs += [0xFFFF, 0]
    return regs


async def run(args):
    dev = ModbusSlaveContext(hr=ModbusSequentialDataBlock(BASE, image(args)), zero_mode=True)
    context = ModbusServerContext(slaves={args.unit: dev}, single=False)
    await StartAsyncTcpServer(context=context, address=("127.0.0.1", args.port),
                              allow_reuse_address=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--unit", type=int, default=1)
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--repeat", action="append", default=[])
    ap.add_argument("--break", dest="brk", default="")
    args = ap.parse_args()
    logging.disable(logging.ERROR)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
