// Package command turns operator commands received over a transport (MQTT)
// into validated dispatch commands, checks the station's control authority
// (remote or local), hands them to the control loop through a Bus, audits
// every attempt and builds the reply sent back to the operator.
//
// A command is addressed by name (the last topic level, e.g. "mode") and
// carries a flat JSON object: the command's own fields plus a required,
// client-chosen "id", an optional RFC 3339 "expires_at" and an optional
// "operator" (who the sender says they are; audited, not verified):
//
//	{"id": "op-42", "expires_at": "2025-06-01T12:00:05Z", "mode": "manual"}
//
// HandleBatch applies only the newest of several waiting state-setting
// commands of one name and answers the others "superseded".
//
// Decoding is strict: field names are case-sensitive, and unknown or
// duplicate fields, wrong types, trailing data and oversize payloads are
// refused with a reason that names the field.
package command
