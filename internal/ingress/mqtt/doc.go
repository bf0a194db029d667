// Package mqtt is the MQTT command ingress: operator commands arrive here
// and go on to the command package. The same broker connection also
// carries the daemon's outward messages. Under <prefix>/<site>/ it
// publishes
//
//	status              "online" / "offline", retained; "offline" is also the will
//	state               plant state JSON every StateInterval
//	units/<id>/state    per-unit state JSON every StateInterval
//	events, alarms      JSON, QoS 1, not retained
//
// and it receives operator commands on cmd/<name>, hands each to a command
// handler on its own goroutine, in arrival order, and publishes the reply on
// cmd/<name>/reply (QoS 1, not retained).
//
// Publishing never blocks the caller: messages go through bounded queues
// drained by one goroutine, and what does not fit is dropped and counted.
// The client reconnects on its own; on every (re)connect it resubscribes
// to the command topics and publishes status "online" again.
package mqtt
