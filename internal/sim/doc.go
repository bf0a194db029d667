// Package sim is the simulated plant: converters (PCS), battery containers
// (BMS) and a POI meter, each served as a real Modbus TCP server on the
// device's configured address, as on a station LAN.
//
// # Devices
//
// One server per device: "poi" (site.poi.meter), "<unit>.pcs"
// (units[i].pcs) and "<unit>.bms<j>" (units[i].bms[j], j from 0). Each
// serves its configured profile: the standard points (plant.Standards) are
// encoded on every read request from the current physics state through
// the profile's codec, and writes to writable points (p_set_kw,
// q_set_kvar, run, heartbeat) are decoded the same way, so a user profile
// for a simulated device works too. Scale-factor registers (the profile's
// scale_point targets) are served as fixed exponents, the smallest in -3..6
// at which the device's largest values fit (sim-bms: v_sf -1, i_sf 0,
// w_sf -1). Values beyond a register's range saturate. Registers no point
// maps read 0; a write to a register that is not part of a writable point
// is refused with exception 2 (illegal data address), and nothing of that
// request is applied. Only the configured unit id (default 1) is served;
// others get exception 11 (gateway target failed to respond). Coils and
// discrete inputs answer exception 1. Writable registers read back what was
// last written. A PCS starts with run = 1 and setpoints 0.
//
// # Physics
//
// One goroutine steps the plant every simulator.step (default 5 ms),
// integrating the wall-clock time since the last step; simulated time 0 is
// Start.
//
// PCS: the setpoint written simulator.pcs.delay ago (default 10 ms) drives
// a first-order lag (tau, default 50 ms) with a ramp limit
// (ramp_pct_per_s of rated P per second, default 1000 %/s); |P| ≤ rated P,
// then Q ≤ √(S² − P²) with S = rated_s_kva (P priority). DC power is P/η
// on discharge and P·η on charge (efficiency, default 0.975). It delivers
// power only while run = 1, not faulted, its heartbeat is alive and a BMS
// contactor is closed. fault_word: bit 0 general fault (SetPCSFault), bit 1
// heartbeat lost, bit 2 DC lost (every contactor of the unit open); a
// fault or lost heartbeat trips P and Q to 0 at once, run = 0 ramps them
// down through the lag. state: 2 when fault_word ≠ 0, else 1 when run = 1,
// else 0. The heartbeat watchdog (heartbeat_timeout, default 5 s from
// Start, 0 off) expires when the heartbeat register has not changed for
// that long; a new value clears it. The DC power splits over the unit's
// batteries that can take it (contactor closed and not empty for
// discharge, not full for charge) in proportion to capacity, and the PCS
// is limited to that share of its rating.
//
// Battery (per BMS): SOC integrates DC power over capacity_kwh; initial SOC
// is simulator.battery.soc_pct spread evenly over all batteries in
// configuration order by ±soc_spread_pct/2 (demo: 45.0 … 55.0 %). Cell
// voltage follows an LFP open-circuit curve (2.90 V at 0 %, 3.20 V at 10 %,
// 3.295 V at 50 %, 3.35 V at 90 %, 3.45 V at 100 %) minus I·R, with
// R giving 50 mV at 1C; the extreme cells sit ±1 % SOC and ±3 mV from the
// pack. Pack V = cells × cell V; I = P_dc / V (+ discharge). Temperature
// relaxes to ambient (τ 30 min) and heats by 0.02 °C/s × (I/I₁C)²; the
// extreme cells are ±2 °C from the mean. SOH is 100 %.
// Dynamic limits: capacity × c_rate (default 0.5), derated linearly to 0
// between 10 and 0 % SOC (discharge) and 90 and 100 % (charge), between
// 45 and 55 °C hottest cell (both), between 5 and 0 °C coldest cell
// (charge) and -10 and -20 °C (discharge); 0 with the contactor open.
//
// Alarm levels (the highest of all, alarm_word bit in brackets):
//
//	                        level 1   level 2   level 3
//	cell_v_max ≥ (bit 0)    3.50 V    3.60 V    3.65 V
//	cell_v_min ≤ (bit 1)    3.00 V    2.80 V    2.60 V
//	cell_t_max ≥ (bit 2)    45 °C     50 °C     55 °C
//	cell_t_min ≤ (bit 3)    5 °C      0 °C      -10 °C
//	soc ≥ (bit 4)           95 %      99 %      -
//	soc ≤ (bit 5)           5 %       1 %       -
//
// Level 3, from physics or forced (SetBMSAlarm), opens the contactor. It
// closes again only once the forced level is -1 or 0 and physics is back
// at level ≤ 1. A forced level replaces the reported alarm_level;
// alarm_word keeps showing the physics alarms.
//
// POI meter: P = Σ PCS P − site load (+ export), Q = Σ PCS Q, V the POI
// voltage of a Thevenin grid: a source voltage behind an impedance sized
// from simulator.grid.scr and x_r (scr 0: a stiff grid, V = the source), so
// that V answers to the plant's P and Q, V ≈ E + (R·P + X·Q)/E. The source
// is SetVoltage (a step or a ramp), else voltage_trace, else voltage_steps,
// else voltage_v. Import/export kWh are integrated. Frequency is, in
// order of precedence: SetFrequency/StepFrequency, a replayed trace
// (frequency_trace at trace_speed, from its first sample, holding the last
// value), scripted frequency_steps (relative to Start), frequency_hz.
// Site load is SetLoad, else load_trace, else load_kw. Frequency and load
// are evaluated on each read, so a step is readable at once.
//
// # Fault injection
//
// DropDevice closes the listener and every connection (connect is refused);
// RestoreDevice listens again. DelayDevice holds every request for the
// delay before serving it (a write takes effect after the delay).
// Blackhole accepts connections and reads requests but never answers;
// when it ends, connections that had a request swallowed are closed, as
// their late answer would confuse a client. Delay and blackhole persist
// across drop and restore until changed. A client whose timeout is shorter
// than an injected delay gets the late answer on its next read unless it
// closes the connection on timeout.
//
// # HTTP control API
//
// On simulator.control_addr; replies are JSON, errors
// {"ok":false,"error":"<reason>"} with 400 (bad input), 404 (unknown
// device, unit, battery or endpoint), 405 (wrong method) or 409 (e.g.
// restore while the address is taken):
//
//	GET  /state                               Snapshot (State)
//	GET  /devices                             names, addresses, injected faults
//	GET  /writes                              accepted writes per device and client connection
//	POST /devices/{name}/drop
//	POST /devices/{name}/restore
//	POST /devices/{name}/delay?ms=N           0 ≤ N ≤ 3600000; 0 removes it
//	POST /devices/{name}/blackhole?on=true|false
//	POST /pcs/{unit}/fault?on=true|false
//	POST /bms/{unit}/{j}/alarm?level=N        -1..3; -1 = physics
//	POST /grid/frequency?hz=F                 40..70; reply has "at", when readable
//	POST /grid/voltage?v=V&ramp_s=S           source voltage, 0.8..1.15 × voltage_v
//	POST /grid/load?kw=P
//
// Example: curl -X POST '127.0.0.1:18080/grid/frequency?hz=49.8'
//
// # Reading the demo plant with mbpoll
//
// configs/demo.yaml, freshly started (EMSD_SIM_SERVE=60 go test
// ./internal/sim -run TestServeDemo serves it without the daemon). mbpoll's
// -r is 1-based (register 0 is -r 1); -t 3 reads input registers, -t 4
// holding registers; -1 polls once. Verified with mbpoll 1.0-0; only the
// data lines are shown.
//
// POI meter, P, Q, f, V as float32 low word first (mbpoll's default float
// word order): P = -1500 kW (1500 kW site load, PCS idle), Q 0, 50 Hz, 10 kV.
//
//	$ mbpoll -m tcp -a 1 -r 1 -c 4 -t 3:float -1 127.0.0.1 -p 15020
//	[1]:    -1500
//	[3]:    0
//	[5]:    50
//	[7]:    10000
//
// Meter energy counters, uint32 high word first, 0.1 kWh: import grows by
// 4.2 (0.42 kWh) per second at 1500 kW, export stays 0.
//
//	$ mbpoll -m tcp -a 1 -r 9 -c 2 -t 3:int -B -1 127.0.0.1 -p 15020
//	[9]:    63          (after 15 s)
//	[11]:   0
//
// PCS u1 measurements: p_kw and q_kvar (int32, 0.1 kW), state, fault_word.
// Within 5 s of start state is 1 (running, 0 kW); with no EMS writing the
// heartbeat it then reads state 2, fault_word 2 (heartbeat lost):
//
//	$ mbpoll -m tcp -a 1 -r 1 -c 6 -t 3 -1 127.0.0.1 -p 15021
//	[1]:    0
//	[2]:    0
//	[3]:    0
//	[4]:    0
//	[5]:    2
//	[6]:    2
//
// PCS u1 commands (holding): p_set_kw, q_set_kvar (int32, 0.1 kW), run = 1,
// heartbeat:
//
//	$ mbpoll -m tcp -a 1 -r 1 -c 6 -t 4 -1 127.0.0.1 -p 15021
//	[1]:    0
//	[2]:    0
//	[3]:    0
//	[4]:    0
//	[5]:    1
//	[6]:    0
//
// Write a heartbeat and 1000 kW, then read P back as int32 (10000 = 1000.0 kW)
// and state 1, fault_word 0; the meter then reads -500 kW:
//
//	$ mbpoll -m tcp -a 1 -r 6 -t 4 -1 127.0.0.1 -p 15021 7
//	$ mbpoll -m tcp -a 1 -r 1 -t 4:int -B -1 127.0.0.1 -p 15021 10000
//	$ mbpoll -m tcp -a 1 -r 1 -c 2 -t 3:int -B -1 127.0.0.1 -p 15021
//	[1]:    10000
//	[3]:    0
//
// BMS u1.bms0 (SOC 45.0 %): soc 0.1 %, soh 0.1 %, V (×10^v_sf), I
// (×10^i_sf), cell V max/min mV, cell T max/min 0.1 °C, charge/discharge
// limits (×10^w_sf kW), alarm level, alarm word, contactor:
//
//	$ mbpoll -m tcp -a 1 -r 1 -c 13 -t 3 -1 127.0.0.1 -p 15022
//	[1]:    450
//	[2]:    1000
//	[3]:    7896
//	[4]:    0
//	[5]:    3294
//	[6]:    3286
//	[7]:    270
//	[8]:    230
//	[9]:    25000
//	[10]:   25000
//	[11]:   0
//	[12]:   0
//	[13]:   1
//
// Its scale factors v_sf, i_sf, w_sf (registers 20-22):
//
//	$ mbpoll -m tcp -a 1 -r 21 -c 3 -t 3 -1 127.0.0.1 -p 15022
//	[21]:   65535 (-1)
//	[22]:   0
//	[23]:   65535 (-1)
//
// A write to a read-only register is refused (exit status 1):
//
//	$ mbpoll -m tcp -a 1 -r 11 -t 4 -1 127.0.0.1 -p 15021 1
//	Write output (holding) register failed: Illegal data address
package sim
