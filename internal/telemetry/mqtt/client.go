package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/command"
)

// Status payloads on .../status.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// ErrQueueFull is returned when a message is dropped because its queue is full.
var ErrQueueFull = errors.New("mqtt: queue full, message dropped")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("mqtt: client closed")

// CommandHandler answers one operator command; *command.Handler is one.
type CommandHandler interface {
	Handle(ctx context.Context, name string, payload []byte, src command.Source) command.Reply
}

// Stats are the client's counters since Start.
type Stats struct {
	Connected      bool   // the connection to the broker is up
	Reconnects     uint64 // successful connections after the first
	Published      uint64 // messages the broker accepted (QoS 0: written)
	Dropped        uint64 // messages dropped: queue full or broker unreachable
	Failed         uint64 // publishes that failed or timed out, encoding errors
	CommandsOK     uint64 // commands answered ok
	CommandsFailed uint64 // commands answered with an error
	CommandsBusy   uint64 // commands refused because the command queue was full
}

// outMsg is one queued publication.
type outMsg struct {
	topic    string
	payload  []byte
	qos      byte
	retained bool
}

// inCmd is one received command.
type inCmd struct {
	name, topic string
	payload     []byte
}

// Client is a connection to the broker. Create it with New, then Start.
type Client struct {
	o       Options
	t       topics
	log     *zap.Logger
	handler CommandHandler
	pc      paho.Client

	prio  chan outMsg // events, alarms, replies
	state chan outMsg // plant and unit state
	cmds  chan inCmd
	wake  chan struct{} // a connection came up
	acks  chan paho.Token

	stop    chan struct{}   // closed by Close: stop the ticker and the command worker
	pubStop chan struct{}   // closed by Close once no more replies come: drain and stop
	ctx     context.Context // handler context, cancelled when Close gives up or ends
	cancel  context.CancelFunc
	started atomic.Bool
	closed  atomic.Bool
	wg      sync.WaitGroup // state ticker, command worker
	pubWG   sync.WaitGroup // publisher and ack waiter

	connects, published, dropped, failed atomic.Uint64
	cmdOK, cmdFailed, cmdBusy            atomic.Uint64
}

// New checks o and builds a client that passes commands to h. h may be nil
// when the client only publishes; it is then not subscribed to commands.
func New(o Options, h CommandHandler) (*Client, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	tc, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	c := &Client{
		o: o, t: newTopics(o.Prefix, o.Site), log: o.Log, handler: h,
		prio:  make(chan outMsg, o.QueueSize),
		state: make(chan outMsg, o.QueueSize),
		cmds:  make(chan inCmd, o.CommandQueue),
		wake:  make(chan struct{}, 1),
		acks:  make(chan paho.Token, o.QueueSize),

		stop:    make(chan struct{}),
		pubStop: make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())

	po := paho.NewClientOptions()
	for _, b := range o.Brokers {
		po.AddBroker(b)
	}
	po.SetClientID(o.ClientID).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetCleanSession(true).
		SetOrderMatters(true). // onCommand only enqueues, so ordering costs nothing
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(min(o.KeepAlive, 10*time.Second)).
		SetConnectTimeout(o.ConnectTimeout).
		SetWriteTimeout(o.WriteTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(o.ConnectRetryInterval).
		SetMaxReconnectInterval(o.MaxReconnectInterval).
		SetBinaryWill(c.t.status, []byte(StatusOffline), 1, true).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			c.log.Warn("mqtt connection lost", zap.Error(err))
		})
	if tc != nil {
		po.SetTLSConfig(tc)
	}
	c.pc = paho.NewClient(po)
	return c, nil
}

// Start connects in the background and starts publishing. It returns at
// once; the client keeps trying to reach the broker until Close. Calls
// after the first do nothing.
func (c *Client) Start() {
	if c.started.Swap(true) {
		return
	}
	c.pubWG.Add(2)
	go c.publisher()
	go c.ackWaiter()
	if c.handler != nil {
		c.wg.Add(1)
		go c.commandWorker()
	}
	if c.o.State != nil || c.o.Units != nil {
		c.wg.Add(1)
		go c.stateTicker()
	}
	c.pc.Connect() // with ConnectRetry the token completes only once connected
}

// Topic returns the full topic for a path under <prefix>/<site>/.
func (c *Client) Topic(path string) string { return c.t.root + path }

// Connected reports whether the connection to the broker is up.
func (c *Client) Connected() bool { return c.pc.IsConnectionOpen() }

// onConnect runs on every (re)connect: resubscribe, then announce online.
func (c *Client) onConnect(pc paho.Client) {
	n := c.connects.Add(1)
	c.log.Info("mqtt connected", zap.Uint64("connects", n))
	if c.handler != nil {
		// Without the subscription the plant is deaf to operators, so
		// keep trying for as long as this connection lasts.
		for attempt := 1; ; attempt++ {
			tok := pc.Subscribe(c.t.cmdFilter, 1, c.onCommand)
			if tok.WaitTimeout(c.o.WriteTimeout) && tok.Error() == nil {
				break
			}
			c.log.Error("mqtt subscribe failed", zap.String("filter", c.t.cmdFilter),
				zap.Int("attempt", attempt), zap.Error(tok.Error()))
			if !pc.IsConnectionOpen() || c.closed.Load() {
				return // the next connection tries again
			}
			time.Sleep(min(time.Duration(attempt)*time.Second, c.o.MaxReconnectInterval))
		}
	}
	if c.closed.Load() {
		return
	}
	tok := pc.Publish(c.t.status, 1, true, StatusOnline)
	if !tok.WaitTimeout(c.o.WriteTimeout) || tok.Error() != nil {
		c.failed.Add(1)
		c.log.Error("mqtt publish online failed", zap.Error(tok.Error()))
	} else {
		c.published.Add(1)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// onCommand runs on paho's router goroutine: it only enqueues.
func (c *Client) onCommand(_ paho.Client, m paho.Message) {
	topic := m.Topic()
	name := strings.TrimPrefix(topic, c.t.cmdPrefix)
	if m.Retained() {
		// A retained command would be re-applied on every resubscribe.
		c.refuse(name, m.Payload(), "retained commands are refused: publish commands with retain off")
		return
	}
	if c.closed.Load() {
		return
	}
	select {
	case c.cmds <- inCmd{name: name, topic: topic, payload: m.Payload()}:
	default:
		c.cmdBusy.Add(1)
		c.refuse(name, m.Payload(), "busy: too many commands waiting, try again")
	}
}

// refuse answers a command that never reached the handler.
func (c *Client) refuse(name string, payload []byte, reason string) {
	var id struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(payload, &id)
	if len(id.ID) > command.MaxIDLen {
		id.ID = ""
	}
	c.cmdFailed.Add(1)
	c.enqueueReply(name, command.Reply{ID: id.ID, Error: reason}, false)
}

// commandWorker handles commands one at a time, in arrival order. At
// Close it finishes the command in hand and refuses those still queued.
func (c *Client) commandWorker() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			for {
				select {
				case in := <-c.cmds:
					c.refuse(in.name, in.payload, "not applied: emsd is shutting down")
				default:
					return
				}
			}
		case in := <-c.cmds:
			src := command.Source{Transport: "mqtt", Topic: in.topic}
			rep := c.handler.Handle(c.ctx, in.name, in.payload, src)
			if rep.OK {
				c.cmdOK.Add(1)
			} else {
				c.cmdFailed.Add(1)
			}
			c.enqueueReply(in.name, rep, true)
		}
	}
}

// enqueueReply queues a reply; wait blocks until there is room or Close.
func (c *Client) enqueueReply(name string, rep command.Reply, wait bool) {
	b, err := json.Marshal(rep)
	if err != nil {
		c.failed.Add(1)
		return
	}
	m := outMsg{topic: c.t.reply(name), payload: b, qos: 1}
	if !wait {
		c.push(c.prio, m)
		return
	}
	select {
	case c.prio <- m:
	case <-c.ctx.Done():
		c.dropped.Add(1)
	}
}

// push queues m without blocking, counting a drop when q is full.
func (c *Client) push(q chan outMsg, m outMsg) error {
	select {
	case q <- m:
		return nil
	default:
		c.dropped.Add(1)
		return ErrQueueFull
	}
}

// Event publishes v as JSON on .../events (QoS 1). It never blocks.
func (c *Client) Event(v any) error { return c.publishJSON(c.t.events, v) }

// Alarm publishes v as JSON on .../alarms (QoS 1). It never blocks.
func (c *Client) Alarm(v any) error { return c.publishJSON(c.t.alarms, v) }

func (c *Client) publishJSON(topic string, v any) error {
	if c.closed.Load() {
		return ErrClosed
	}
	b, err := json.Marshal(v)
	if err != nil {
		c.failed.Add(1)
		return fmt.Errorf("mqtt: encode %s: %w", topic, err)
	}
	return c.push(c.prio, outMsg{topic: topic, payload: b, qos: 1})
}

// stateTicker publishes State and Units every StateInterval while connected.
func (c *Client) stateTicker() {
	defer c.wg.Done()
	tk := time.NewTicker(c.o.StateInterval)
	defer tk.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tk.C:
			c.publishState()
		}
	}
}

// publishState queues one round of state messages. A panic in the
// caller's State or Units is logged and counted, not propagated.
func (c *Client) publishState() {
	defer func() {
		if r := recover(); r != nil {
			c.failed.Add(1)
			c.log.Error("mqtt state source panicked", zap.Any("panic", r))
		}
	}()
	up := c.pc.IsConnectionOpen()
	put := func(topic string, v any) {
		if !up {
			c.dropped.Add(1) // nobody to send it to; the next round is fresher
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			c.failed.Add(1)
			c.log.Warn("mqtt state encoding failed", zap.String("topic", topic), zap.Error(err))
			return
		}
		_ = c.push(c.state, outMsg{topic: topic, payload: b, qos: c.o.QoS})
	}
	if c.o.State != nil {
		put(c.t.state, c.o.State())
	}
	if c.o.Units != nil {
		for id, v := range c.o.Units() {
			if checkLevels("unit id", id, false) != nil {
				c.failed.Add(1)
				continue
			}
			put(c.t.unitState(id), v)
		}
	}
}

// publisher drains the queues, events before state, while connected.
func (c *Client) publisher() {
	defer c.pubWG.Done()
	defer close(c.acks)
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		if !c.pc.IsConnectionOpen() {
			select {
			case <-c.pubStop:
				c.dropped.Add(uint64(len(c.prio) + len(c.state)))
				return
			case <-c.wake:
			case <-poll.C:
			}
			continue
		}
		var m outMsg
		select {
		case m = <-c.prio:
		default:
			select {
			case m = <-c.prio:
			case m = <-c.state:
			case <-c.pubStop:
				c.drain()
				return
			case <-poll.C:
				continue
			}
		}
		c.send(m)
	}
}

// drain publishes what is left in the event queue at Close.
func (c *Client) drain() {
	for {
		select {
		case m := <-c.prio:
			if !c.pc.IsConnectionOpen() {
				c.dropped.Add(1)
				continue
			}
			c.send(m)
		default:
			return
		}
	}
}

// send hands m to paho and its token to the ack waiter.
func (c *Client) send(m outMsg) {
	c.acks <- c.pc.Publish(m.topic, m.qos, m.retained, m.payload)
}

// ackWaiter counts the outcome of every publish, in order.
func (c *Client) ackWaiter() {
	defer c.pubWG.Done()
	for tok := range c.acks {
		if !tok.WaitTimeout(c.o.WriteTimeout + c.o.KeepAlive) {
			c.failed.Add(1)
			continue
		}
		if tok.Error() != nil {
			c.failed.Add(1)
			continue
		}
		c.published.Add(1)
	}
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	n := c.connects.Load()
	return Stats{
		Connected:      c.pc.IsConnectionOpen(),
		Reconnects:     max(n, 1) - 1,
		Published:      c.published.Load(),
		Dropped:        c.dropped.Load(),
		Failed:         c.failed.Load(),
		CommandsOK:     c.cmdOK.Load(),
		CommandsFailed: c.cmdFailed.Load(),
		CommandsBusy:   c.cmdBusy.Load(),
	}
}

// Close stops taking commands, lets the command being handled finish,
// publishes the queued events, publishes status "offline" (retained) and
// disconnects, all within ctx. Later calls return ErrClosed.
func (c *Client) Close(ctx context.Context) error {
	if c.closed.Swap(true) {
		return ErrClosed
	}
	if c.handler != nil && c.pc.IsConnectionOpen() {
		c.pc.Unsubscribe(c.t.cmdFilter).WaitTimeout(timeLeft(ctx, c.o.WriteTimeout))
	}
	close(c.stop)
	stopCancel := context.AfterFunc(ctx, c.cancel) // give up on a slow handler
	defer stopCancel()
	defer c.cancel()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(c.pubStop)
		c.pubWG.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("mqtt: close: queues not drained: %w", ctx.Err())
	}
	if c.pc.IsConnectionOpen() {
		tok := c.pc.Publish(c.t.status, 1, true, StatusOffline)
		if !tok.WaitTimeout(timeLeft(ctx, c.o.WriteTimeout)) || tok.Error() != nil {
			c.failed.Add(1)
			err = errors.Join(err, fmt.Errorf("mqtt: publish offline: %v", tok.Error()))
		} else {
			c.published.Add(1)
		}
	}
	c.pc.Disconnect(uint(min(timeLeft(ctx, time.Second), time.Second) / time.Millisecond))
	return err
}

// timeLeft is the time until ctx's deadline, at most d.
func timeLeft(ctx context.Context, d time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if l := time.Until(dl); l < d {
			return max(l, 0)
		}
	}
	return d
}
