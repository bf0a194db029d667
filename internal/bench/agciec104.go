package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/thinkgos/go-iecp5/asdu"
	"github.com/thinkgos/go-iecp5/cs104"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/iec104"
	"github.com/emsd/emsd/internal/northbound/points"
	"github.com/emsd/emsd/internal/station"
)

func init() {
	register("agc-iec104", "configs/station-800mwh.yaml",
		"agc with every target sent as an IEC 104 setpoint (C_SE_NC_1) by an independent client through the daemon's IEC 104 slave and command path; adds setpoint → ActCon and setpoint → all PCS acknowledged, p50/p99",
		func(ctx context.Context, e *env, res *Result) error {
			return runAGCVia(ctx, e, res, func(r *Rig) (agcLink, error) {
				return newIECLink(ctx, r, time.Duration(agcEvery/e.speed(1)*float64(time.Second)))
			})
		})
}

// iecLink sends AGC targets as IEC 104 setpoints (in MW, the default
// points table) from a thinkgos/go-iecp5 client, an implementation
// separate from the server's, to the emsd IEC 104 slave, and times each.
type iecLink struct {
	r      *Rig
	srv    *iec104.Server
	cli    *cs104.Client
	con    chan iecCon
	ioa    asdu.InfoObjAddr
	wait   time.Duration // longest wait for every PCS to acknowledge
	actCon []float64     // ms
	acked  []float64     // ms
	misses int
	cancel context.CancelFunc
}

// iecCon is an activation confirmation as the client received it.
type iecCon struct {
	at       time.Time
	negative bool
}

// rigBus hands commands to the rig's dispatcher, as the daemon's bus does.
type rigBus struct{ d *station.Dispatcher }

func (b rigBus) Submit(ctx context.Context, cmd dispatch.Command, _ command.Source) (time.Time, error) {
	return b.d.Submit(ctx, cmd)
}

func newIECLink(ctx context.Context, r *Rig, every time.Duration) (*iecLink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	h := command.NewHandler(rigBus{r.Disp}, command.HandlerOptions{})
	pts := points.DefaultPoints()
	srv, err := iec104.New(iec104.Config{Addr: addr, CommonAddr: 1, Allow: []string{"127.0.0.1"}, Points: pts},
		func() northbound.Values { return nil }, northbound.NewDispatch(h, nil), nil, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	if err := srv.Start(ctx); err != nil {
		cancel()
		return nil, err
	}
	il := &iecLink{r: r, srv: srv, con: make(chan iecCon, 16), wait: min(time.Second, every/2), cancel: cancel}
	for _, p := range pts {
		if p.Quantity == points.QAGCTarget {
			il.ioa = asdu.InfoObjAddr(p.IOA)
		}
	}
	opt := cs104.NewOption()
	if err := opt.AddRemoteServer(addr); err != nil {
		il.Close()
		return nil, err
	}
	opt.SetReconnectInterval(50 * time.Millisecond)
	il.cli = cs104.NewClient(iecMaster{il.con}, opt)
	il.cli.LogMode(false)
	il.cli.SetOnConnectHandler(func(c *cs104.Client) { c.SendStartDt() })
	if err := il.cli.Start(); err != nil {
		il.Close()
		return nil, err
	}
	if !waitUntil(ctx, 10*time.Second, func() bool {
		return il.cli.TestCommand(asdu.CauseOfTransmission{Cause: asdu.Activation}, 1) == nil
	}) {
		il.Close()
		return nil, errors.New("agc-iec104: no IEC 104 data transfer within 10 s")
	}
	return il, nil
}

// Target sends one setpoint, waits for its ActCon, then for every PCS to
// acknowledge an order placed after it.
func (l *iecLink) Target(ctx context.Context, kw float64) error {
	for len(l.con) > 0 {
		<-l.con
	}
	at := time.Now()
	err := asdu.SetpointCmdFloat(l.cli, asdu.C_SE_NC_1, asdu.CauseOfTransmission{Cause: asdu.Activation}, 1,
		asdu.SetpointCommandFloatInfo{Ioa: l.ioa, Value: float32(kw / 1000)})
	if err != nil {
		return fmt.Errorf("agc-iec104: send setpoint: %w", err)
	}
	select {
	case c := <-l.con:
		if c.negative {
			return fmt.Errorf("agc-iec104: setpoint %.3f MW refused (negative ActCon)", kw/1000)
		}
		l.actCon = append(l.actCon, c.at.Sub(at).Seconds()*1000)
	case <-time.After(5 * time.Second):
		return errors.New("agc-iec104: no ActCon within 5 s")
	case <-ctx.Done():
		return ctx.Err()
	}
	var last time.Time
	if waitUntil(ctx, l.wait, func() bool {
		_, ackAt := l.r.Station.Acked()
		last = time.Time{}
		for _, a := range ackAt {
			if !a.After(at) {
				return false
			}
			last = maxTime(last, a)
		}
		return len(ackAt) > 0
	}) {
		l.acked = append(l.acked, last.Sub(at).Seconds()*1000)
	} else {
		l.misses++
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Report adds the setpoint latencies.
func (l *iecLink) Report(res *Result) {
	n := len(l.actCon)
	res.Add("IEC 104 setpoints", float64(n), "")
	res.Add("setpoint → ActCon p50", quantile(l.actCon, 0.5), "ms")
	p99 := quantile(l.actCon, 0.99)
	res.AddTarget("setpoint → ActCon p99", p99, "ms", "≤ 10 ms", p99 <= 10)
	res.Add("setpoint → all PCS acknowledged p50", quantile(l.acked, 0.5), "ms")
	p99 = quantile(l.acked, 0.99)
	res.AddTarget("setpoint → all PCS acknowledged p99", p99, "ms", "≤ 30 ms", p99 <= 30)
	res.Add("setpoints without every PCS acknowledging", float64(l.misses), "")
	res.Note("IEC 104: the client (thinkgos/go-iecp5) sends each target as C_SE_NC_1 in MW to IOA %d over loopback; times run from the send to the ActCon the client receives, and to the last PCS acknowledgement (polled every 5 ms) of an order placed after the send, waited for at most %v", l.ioa, l.wait)
	if n < 200 {
		res.Note("only %d setpoints: the issue asks for at least 200 (run 400 s or more)", n)
	}
}

// Close ends the client and the server.
func (l *iecLink) Close() {
	if l.cli != nil {
		_ = l.cli.Close()
	}
	_ = l.srv.Close()
	l.cancel()
}

// iecMaster passes setpoint confirmations on; everything else is ignored.
type iecMaster struct{ con chan<- iecCon }

func (m iecMaster) ASDUHandler(_ asdu.Connect, a *asdu.ASDU) error {
	if a.Type == asdu.C_SE_NC_1 && a.Coa.Cause == asdu.ActivationCon {
		select {
		case m.con <- iecCon{at: time.Now(), negative: a.Coa.IsNegative}:
		default:
		}
	}
	return nil
}
func (iecMaster) InterrogationHandler(asdu.Connect, *asdu.ASDU) error        { return nil }
func (iecMaster) CounterInterrogationHandler(asdu.Connect, *asdu.ASDU) error { return nil }
func (iecMaster) ReadHandler(asdu.Connect, *asdu.ASDU) error                 { return nil }
func (iecMaster) TestCommandHandler(asdu.Connect, *asdu.ASDU) error          { return nil }
func (iecMaster) ClockSyncHandler(asdu.Connect, *asdu.ASDU) error            { return nil }
func (iecMaster) ResetProcessHandler(asdu.Connect, *asdu.ASDU) error         { return nil }
func (iecMaster) DelayAcquisitionHandler(asdu.Connect, *asdu.ASDU) error     { return nil }
