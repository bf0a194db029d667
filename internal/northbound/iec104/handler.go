package iec104

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/wendy512/go-iecp5/asdu"
	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/northbound/points"
)

// The methods below are the library's server.CommandHandler. The library
// has already decoded (consumed) the information object of the system
// commands it hands over, so their confirmations are built anew.

// OnInterrogation answers a station interrogation with every monitored
// point: ActCon, the points, ActTerm.
func (s *Server) OnInterrogation(c asdu.Connect, pack *asdu.ASDU, qoi asdu.QualifierOfInterrogation) error {
	if s.session(c) == nil {
		return nil
	}
	if !s.ourAddr(pack.CommonAddr) {
		return s.system(c, pack, asdu.UnknownCA, true, func(u *asdu.ASDU) { u.AppendBytes(byte(qoi)) })
	}
	if pack.Coa.Cause == asdu.Deactivation {
		return s.system(c, pack, asdu.DeactivationCon, false, func(u *asdu.ASDU) { u.AppendBytes(byte(qoi)) })
	}
	if err := s.system(c, pack, asdu.ActivationCon, false, func(u *asdu.ASDU) { u.AppendBytes(byte(qoi)) }); err != nil {
		return err
	}
	if qoi == asdu.QOIStation {
		s.sendAll(c, asdu.InterrogatedByStation)
	}
	return s.system(c, pack, asdu.ActivationTerm, false, func(u *asdu.ASDU) { u.AppendBytes(byte(qoi)) })
}

// OnClockSync takes the master's time for the station's time tags (the
// host clock is left alone) and confirms it.
func (s *Server) OnClockSync(c asdu.Connect, pack *asdu.ASDU, t time.Time) error {
	if s.session(c) == nil {
		return nil
	}
	if !s.ourAddr(pack.CommonAddr) {
		return s.system(c, pack, asdu.UnknownCA, true, func(u *asdu.ASDU) { u.AppendCP56Time2a(t, u.InfoObjTimeZone) })
	}
	off := time.Until(t)
	s.mu.Lock()
	s.offset = off
	s.mu.Unlock()
	s.log.Info("IEC 104 clock synchronisation", zap.Time("master_time", t), zap.Duration("offset", off))
	return s.system(c, pack, asdu.ActivationCon, false, func(u *asdu.ASDU) { u.AppendCP56Time2a(t, u.InfoObjTimeZone) })
}

// OnCounterInterrogation: the station has no integrated totals.
func (s *Server) OnCounterInterrogation(c asdu.Connect, pack *asdu.ASDU, q asdu.QualifierCountCall) error {
	return s.system(c, pack, asdu.ActivationCon, true, func(u *asdu.ASDU) { u.AppendBytes(q.Value()) })
}

// OnRead answers a read of one monitored point.
func (s *Server) OnRead(c asdu.Connect, pack *asdu.ASDU, ioa asdu.InfoObjAddr) error {
	p, ok := s.points[ioa]
	if s.session(c) == nil || !s.ourAddr(pack.CommonAddr) || !ok || (p.Type != points.Measurand && p.Type != points.Single) {
		return s.system(c, pack, asdu.UnknownIOA, true, nil)
	}
	return s.send(c, []points.Point{p}, s.src(), asdu.Request, false)
}

// OnResetProcess is refused: the station does not restart on request.
func (s *Server) OnResetProcess(c asdu.Connect, pack *asdu.ASDU, q asdu.QualifierOfResetProcessCmd) error {
	return s.system(c, pack, asdu.ActivationCon, true, func(u *asdu.ASDU) { u.AppendBytes(byte(q)) })
}

// OnDelayAcquisition is refused: the station does not use it.
func (s *Server) OnDelayAcquisition(c asdu.Connect, pack *asdu.ASDU, msec uint16) error {
	return s.system(c, pack, asdu.ActivationCon, true, func(u *asdu.ASDU) { u.AppendCP16Time2a(msec) })
}

// OnTestCommand confirms a test command.
func (s *Server) OnTestCommand(c asdu.Connect, pack *asdu.ASDU) error {
	return s.system(c, pack, asdu.ActivationCon, false, func(u *asdu.ASDU) { u.AppendUint16(0xAA55) })
}

// OnASDU handles setpoints and commands; any other type is refused.
func (s *Server) OnASDU(c asdu.Connect, pack *asdu.ASDU) (err error) {
	sess := s.session(c)
	if sess == nil {
		return nil
	}
	// Decoding consumes the ASDU's information object: the reply mirrors
	// an untouched copy.
	reply := pack.Clone()
	refuse := func(cause asdu.Cause, why string) error {
		s.log.Warn("IEC 104 command refused", zap.String("client", sess.origin.Client),
			zap.Stringer("type", pack.Type), zap.String("reason", why))
		return mirror(c, reply, cause, true)
	}
	defer func() {
		if r := recover(); r != nil {
			err = refuse(asdu.ActivationCon, fmt.Sprintf("does not decode: %v", r))
		}
	}()
	switch pack.Type {
	case asdu.C_SE_NC_1, asdu.C_SC_NA_1:
	default:
		return refuse(asdu.UnknownTypeID, "type "+pack.Type.String()+" is not served")
	}
	if !s.ourAddr(pack.CommonAddr) || pack.CommonAddr == asdu.GlobalCommonAddr {
		return refuse(asdu.UnknownCA, "common address "+itoa(int(pack.CommonAddr))+" is not this station's")
	}
	if pack.Variable.Number != 1 || pack.Variable.IsSequence {
		return refuse(asdu.ActivationCon, "a command carries exactly one information object")
	}
	if c := pack.Coa.Cause; c != asdu.Activation && c != asdu.Deactivation {
		return refuse(asdu.UnknownCOT, "cause "+itoa(int(c))+" is not activation")
	}
	if pack.Type == asdu.C_SE_NC_1 {
		return s.setpoint(c, sess, pack, reply, refuse)
	}
	return s.command(c, sess, pack, reply, refuse)
}

// setpoint handles a float setpoint (C_SE_NC_1).
func (s *Server) setpoint(c asdu.Connect, sess *session, pack, reply *asdu.ASDU, refuse func(asdu.Cause, string) error) error {
	cmd := pack.GetSetpointFloatCmd()
	p, ok := s.points[cmd.Ioa]
	if !ok || p.Type != points.Setpoint {
		return refuse(asdu.UnknownIOA, "ioa "+itoa(int(cmd.Ioa))+" is not a setpoint")
	}
	if pack.Coa.Cause == asdu.Deactivation || cmd.Qos.InSelect {
		// A select only reserves the point; the execute applies it.
		return mirror(c, reply, confirmOf(pack.Coa.Cause), false)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.disp.Set(ctx, p, float64(cmd.Value), sess.origin); err != nil {
		return refuse(asdu.ActivationCon, err.Error())
	}
	s.log.Info("IEC 104 setpoint accepted", zap.String("client", sess.origin.Client), zap.Int("ioa", p.IOA),
		zap.String("quantity", p.Quantity), zap.Float32("value", cmd.Value), zap.String("unit", p.Unit))
	return mirror(c, reply, asdu.ActivationCon, false)
}

// command handles a single command (C_SC_NA_1), select before execute.
func (s *Server) command(c asdu.Connect, sess *session, pack, reply *asdu.ASDU, refuse func(asdu.Cause, string) error) error {
	cmd := pack.GetSingleCmd()
	p, ok := s.points[cmd.Ioa]
	if !ok || p.Type != points.Command {
		return refuse(asdu.UnknownIOA, "ioa "+itoa(int(cmd.Ioa))+" is not a command")
	}
	now := time.Now()
	s.mu.Lock()
	sel, selected := sess.selected[cmd.Ioa]
	delete(sess.selected, cmd.Ioa)
	if pack.Coa.Cause == asdu.Activation && cmd.Qoc.InSelect {
		sess.selected[cmd.Ioa] = selection{on: cmd.Value, until: now.Add(s.cfg.SelectTimeout)}
	}
	s.mu.Unlock()
	switch {
	case pack.Coa.Cause == asdu.Deactivation:
		return mirror(c, reply, asdu.DeactivationCon, false)
	case cmd.Qoc.InSelect:
		return mirror(c, reply, asdu.ActivationCon, false)
	case !selected:
		return refuse(asdu.ActivationCon, "execute without a select")
	case now.After(sel.until):
		return refuse(asdu.ActivationCon, "select timed out after "+s.cfg.SelectTimeout.String())
	case sel.on != cmd.Value:
		return refuse(asdu.ActivationCon, "execute differs from the select")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.disp.Switch(ctx, p, cmd.Value, sess.origin); err != nil {
		return refuse(asdu.ActivationCon, err.Error())
	}
	s.log.Info("IEC 104 command executed", zap.String("client", sess.origin.Client), zap.Int("ioa", p.IOA),
		zap.String("quantity", p.Quantity), zap.Bool("on", cmd.Value))
	if err := mirror(c, reply, asdu.ActivationCon, false); err != nil {
		return err
	}
	return mirror(c, reply, asdu.ActivationTerm, false)
}

// confirmOf is the confirmation cause of an activation or deactivation.
func confirmOf(c asdu.Cause) asdu.Cause {
	if c == asdu.Deactivation {
		return asdu.DeactivationCon
	}
	return asdu.ActivationCon
}

// ourAddr reports whether ca addresses this station (or every station).
func (s *Server) ourAddr(ca asdu.CommonAddr) bool {
	return ca == asdu.CommonAddr(s.cfg.CommonAddr) || ca == asdu.GlobalCommonAddr
}

// mirror sends u back with the given cause and P/N bit.
func mirror(c asdu.Connect, u *asdu.ASDU, cause asdu.Cause, negative bool) error {
	r := u.Clone()
	r.Coa.Cause, r.Coa.IsNegative = cause, negative
	return c.Send(r)
}

// system confirms a system command whose object the library consumed:
// the reply carries IOA 0 and what body appends.
func (s *Server) system(c asdu.Connect, pack *asdu.ASDU, cause asdu.Cause, negative bool, body func(*asdu.ASDU)) error {
	id := pack.Identifier
	id.Coa.Cause, id.Coa.IsNegative = cause, negative
	id.Variable = asdu.VariableStruct{Number: 1}
	u := asdu.NewASDU(c.Params(), id)
	if err := u.AppendInfoObjAddr(asdu.InfoObjAddrIrrelevant); err != nil {
		return err
	}
	if body != nil {
		body(u)
	}
	return c.Send(u)
}

func itoa(n int) string { return strconv.Itoa(n) }
