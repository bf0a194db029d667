package ha

import (
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

var rpcLeaseNotFound = rpctypes.ErrLeaseNotFound

// isLeaseNotFound recognises the lease-not-found error as the gRPC layer
// may wrap it.
func isLeaseNotFound(err error) bool {
	return strings.Contains(err.Error(), "requested lease not found")
}
