// Package influx writes telemetry points to InfluxDB without ever blocking the
// control loop and without losing data during outages of the database.
//
// A Writer takes points on a bounded in-memory queue (Write never blocks; a full
// queue drops and counts), encodes them to line protocol, batches them by size and
// interval, and posts each batch with the blocking write API of
// influxdb-client-go v2. The Writer, not the client library, owns retry:
//
//   - a batch that fails with a network error, a timeout, 5xx, 429, 401, 403 or
//     404 is appended to a disk-backed backlog under <StateDir>/influx-backlog/;
//   - while the backlog is non-empty, new batches are appended behind it, and the
//     backlog is replayed oldest segment first once the server answers again, so
//     InfluxDB receives the points in the order they were written;
//   - the backlog is bounded in bytes: when it is full the oldest segments are
//     deleted, and their points are counted as dropped and logged;
//   - any other 4xx (malformed points, field type conflicts) will never succeed:
//     the batch is dropped, counted and logged, so it cannot wedge the queue;
//   - the backlog survives restarts: a new Writer on the same StateDir replays it.
//
// Delivery is at least once: a segment whose write succeeded but whose file could
// not be deleted before a crash is replayed again. InfluxDB stores a point with the
// same series and timestamp once, so a replay does not duplicate data.
//
// InfluxDB 2.x is addressed with Org, Bucket and Token. InfluxDB 1.8+ is addressed
// through its v2 compatibility API: Bucket is "database/retention-policy" (or just
// "database" for the default policy), Token is "user:password" or empty, and Org is
// ignored.
package influx
