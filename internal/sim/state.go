package sim

import "time"

// State is the plant's ground truth at one instant, for tests and the
// control API. Units and signs follow the project: kW, kvar, kWh, Hz, °C,
// V, A, SOC in %, P > 0 is discharge to grid.
type State struct {
	// At is the wall-clock time the snapshot was taken.
	At time.Time `json:"at"`
	// POI is the meter at the point of interconnection.
	POI MeterState `json:"poi"`
	// Units are the plant's units in configuration order.
	Units []UnitState `json:"units"`
}

// MeterState is the POI meter's truth.
type MeterState struct {
	PKW        float64 `json:"p_kw"` // + export
	QKVar      float64 `json:"q_kvar"`
	FHz        float64 `json:"f_hz"`
	VV         float64 `json:"v_v"`
	LoadKW     float64 `json:"load_kw"` // site load behind the POI
	EImportKWh float64 `json:"e_import_kwh"`
	EExportKWh float64 `json:"e_export_kwh"`
}

// UnitState is one unit: its PCS and its batteries.
type UnitState struct {
	ID  string     `json:"id"`
	PCS PCSState   `json:"pcs"`
	BMS []BMSState `json:"bms"`
}

// PCSState is one converter's truth.
type PCSState struct {
	PKW      float64 `json:"p_kw"`   // AC active power, + discharge
	QKVar    float64 `json:"q_kvar"` // AC reactive power
	PDCKW    float64 `json:"p_dc_kw"`
	PSetKW   float64 `json:"p_set_kw"`
	QSetKVar float64 `json:"q_set_kvar"`
	Run      bool    `json:"run"`
	// Fault is the forced general fault (fault_word bit 0).
	Fault bool `json:"fault"`
	// HeartbeatLost is set by the watchdog (fault_word bit 1).
	HeartbeatLost bool `json:"heartbeat_lost"`
	// DCLost is set while running with every BMS contactor open (fault_word bit 2).
	DCLost    bool   `json:"dc_lost"`
	FaultWord uint16 `json:"fault_word"`
	// Mode is the state register: 0 stopped, 1 running, 2 fault.
	Mode      int    `json:"state"`
	Heartbeat uint16 `json:"heartbeat"`
	// HeartbeatAge is the time since the heartbeat register last changed.
	HeartbeatAge time.Duration `json:"heartbeat_age_ns"`
}

// BMSState is one battery container's truth.
type BMSState struct {
	CapacityKWh    float64 `json:"capacity_kwh"`
	SOCPct         float64 `json:"soc_pct"`
	SOHPct         float64 `json:"soh_pct"`
	VV             float64 `json:"v_v"`
	IA             float64 `json:"i_a"` // + discharge
	PDCKW          float64 `json:"p_dc_kw"`
	CellVMax       float64 `json:"cell_v_max"`
	CellVMin       float64 `json:"cell_v_min"`
	TempC          float64 `json:"temp_c"`
	CellTMax       float64 `json:"cell_t_max"`
	CellTMin       float64 `json:"cell_t_min"`
	ChargeMaxKW    float64 `json:"p_charge_max_kw"`
	DischargeMaxKW float64 `json:"p_discharge_max_kw"`
	AlarmLevel     int     `json:"alarm_level"`
	AlarmWord      uint16  `json:"alarm_word"`
	// ForcedAlarm is the alarm level forced by SetBMSAlarm, or -1.
	ForcedAlarm int  `json:"forced_alarm"`
	Contactor   bool `json:"contactor"`
}
