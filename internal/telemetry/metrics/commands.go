package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/emsd/emsd/internal/command"
)

// OtherCommand is the command label of names that are not known commands,
// so that garbage topics cannot grow the label set.
const OtherCommand = "other"

var (
	commandNames = command.Names()
	// commandResults are the results the command handler reports.
	commandResults = []command.Result{command.ResultOK, command.ResultMalformed, command.ResultInvalid,
		command.ResultStale, command.ResultDenied, command.ResultRefused, command.ResultDuplicate, command.ResultError, command.ResultSuperseded}
)

// initCommands creates the ok and refused series of every known command,
// so that a rate over them exists before the first command.
func initCommands(c *prometheus.CounterVec) {
	for _, n := range commandNames {
		c.WithLabelValues(n, string(command.ResultOK))
		c.WithLabelValues(n, string(command.ResultRefused))
	}
}

// Audit implements command.AuditSink: it counts the command by name and
// result. Put the Metrics in the handler's command.MultiAudit.
func (m *Metrics) Audit(r command.Record) error {
	m.CommandResult(r.Name, string(r.Result))
	return nil
}

// CommandResult counts one command by name and result (a command.Result
// such as "ok" or "refused"), for callers outside the command handler.
// Unknown names count as OtherCommand and unknown results as "error".
func (m *Metrics) CommandResult(name, result string) {
	if !slices.Contains(commandNames, name) {
		name = OtherCommand
	}
	if !slices.Contains(commandResults, command.Result(result)) {
		result = string(command.ResultError)
	}
	m.commands.WithLabelValues(name, result).Inc()
}
