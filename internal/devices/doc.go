// Package devices is emsd's Modbus TCP device layer.
//
// It holds three things:
//   - the register-map codec (codec.go): wire types, word order, scale,
//     offset, SunSpec scale factors and bit fields, turning registers into
//     engineering values in project units and back;
//   - device profiles (profile.go, profiles/*.yaml): a device model's
//     registers mapped to standard point names, with read groups that are
//     polled at their own rates and merged into as few requests as fit;
//   - the Device poller (device.go): one goroutine and one TCP connection
//     per device, built on github.com/goburrow/modbus. It polls each read
//     group on a deadline schedule, stores decoded values into the process
//     image, serves writes ahead of queued reads, closes and redials on any
//     error, reconnects with capped exponential backoff and reports its
//     health (Online, Stale, Lost).
//
// A failing device costs only itself: every device has its own goroutine,
// connection and timers, so a dead or blackholed device never delays another.
package devices
