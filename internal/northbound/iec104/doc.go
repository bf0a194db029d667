// Package iec104 is the IEC 60870-5-104 slave (controlled station) for
// the dispatch centre: general interrogation, spontaneous transmission
// with a deadband per point, a cyclic scan, clock synchronisation,
// select-before-execute commands and float setpoints, over the points
// table of package northbound. Every setpoint and command goes through
// northbound.Dispatch, so it is validated, authorized and audited like an
// MQTT command; a refusal is a negative confirmation and a logged reason.
package iec104
