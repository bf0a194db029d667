// Package ha runs a hot-standby pair of controllers: two emsd instances
// elect one leader through etcd (a lease-based election, from etcd's
// concurrency package), and only the leader writes to the plant.
//
// A [Node] campaigns for leadership and, while it leads, keeps a [Fence]
// open until a local deadline derived from its lease: the send time of
// the last renewal that etcd answered, plus the TTL, less a margin. The
// writers check the fence before each write; a leader that stops renewing
// (etcd lost, or the process paused) stops writing when the deadline
// passes, before etcd can hand the lease to the standby.
//
// The leader also replicates the operator's accepted commands through
// etcd, one key per command (its revision orders them), and the standby
// applies them as they come, so a new leader starts from the same mode,
// parameters, schedule, targets and emergency stop.
package ha
