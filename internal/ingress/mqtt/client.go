package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// CommandHandler answers operator commands, one reply each, in the order
// given; *command.Handler is one.
type CommandHandler interface {
	HandleBatch(ctx context.Context, msgs []command.Message) []command.Reply
}

// reasonRetained refuses a command the broker holds as a retained message.
const reasonRetained = "retained commands are refused: publish commands with retain off"

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
	Superseded     uint64 // commands replaced by a newer one of the same name before they were applied
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
	refuse      string // refuse it with this reason
	by          string // superseded by this id while queued
}

// key identifies a command's copies: the live one and a retained one.
func (in *inCmd) key() string { return in.topic + "\x00" + string(in.payload) }

// Client is a connection to the broker. Create it with New, then Start.
type Client struct {
	o       Options
	t       topics
	log     *zap.Logger
	handler CommandHandler
	pc      paho.Client

	prio  chan outMsg   // events, alarms, replies
	state chan outMsg   // plant and unit state
	wake  chan struct{} // a connection came up

	// Commands wait in queue for the worker. live counts the commands
	// received live (queued or in hand) by key; retained marks the keys the
	// broker also holds as retained messages.
	qmu      sync.Mutex
	queue    []*inCmd
	live     map[string]int
	retained map[string]bool
	// replayed holds, by key, when a retained copy was refused: a broker
	// re-sending it without the retain flag (mochi does on a re-subscribe)
	// is the same stored message, not a new command.
	replayed map[string]time.Time
	qwake    chan struct{}
	probeSeq atomic.Uint64
	probed   chan uint64 // marker sequence numbers as they come back
	acks     chan paho.Token

	stop    chan struct{}   // closed by Close: stop the ticker and the command worker
	pubStop chan struct{}   // closed by Close once no more replies come: drain and stop
	ctx     context.Context // handler context, cancelled when Close gives up or ends
	cancel  context.CancelFunc
	started atomic.Bool
	closed  atomic.Bool
	wg      sync.WaitGroup // state ticker, command worker
	pubWG   sync.WaitGroup // publisher and ack waiter

	connects, published, dropped, failed atomic.Uint64
	cmdOK, cmdFailed, cmdBusy, cmdSuper  atomic.Uint64
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
		wake:  make(chan struct{}, 1),
		live:  map[string]int{}, retained: map[string]bool{}, replayed: map[string]time.Time{},
		qwake: make(chan struct{}, 1), probed: make(chan uint64, 16),
		acks: make(chan paho.Token, o.QueueSize),

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
	c.pc.AddRoute(c.t.cmdFilter, c.onCommand)
	c.pc.AddRoute(c.t.probe, c.onProbe)
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
	if c.o.State != nil {
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
			tok := pc.SubscribeMultiple(map[string]byte{c.t.cmdFilter: 1, c.t.probe: 1}, nil)
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

// onCommand runs on paho's router goroutine: it only queues.
//
// A command published with the retain flag reaches emsd in one of two
// ways: replayed on a (re)subscribe with the flag set, or, published while
// emsd is subscribed, live without it (the broker clears the flag on live
// delivery) while the broker also stores it. Either way the broker holds
// a retained copy, so the worker re-subscribes before it applies commands
// (see probe): the broker then replays what it holds, flagged, and a live
// command with a retained twin is refused. Every retained copy seen is
// removed from the broker.
func (c *Client) onCommand(_ paho.Client, m paho.Message) {
	if len(m.Payload()) == 0 {
		return // deletes a retained message; not a command
	}
	if c.closed.Load() {
		return
	}
	in := &inCmd{topic: m.Topic(), name: strings.TrimPrefix(m.Topic(), c.t.cmdPrefix), payload: m.Payload()}
	if m.Retained() {
		_ = c.push(c.prio, outMsg{topic: in.topic, payload: []byte{}, qos: 1, retained: true})
		c.qmu.Lock()
		if c.live[in.key()] > 0 {
			c.retained[in.key()] = true // the live copy is refused
			c.qmu.Unlock()
			return
		}
		c.replayed[in.key()] = time.Now()
		c.qmu.Unlock()
		in.refuse = reasonRetained // a replay: refused on its own
	} else if c.isReplay(in.key()) {
		c.log.Warn("dropped a copy of a retained command the broker sent again without the retain flag; it was refused already",
			zap.String("topic", in.topic))
		return
	}
	var dropped *inCmd
	c.qmu.Lock()
	// An emergency stop is never refused busy (up to a hard bound).
	full := len(c.queue) >= c.o.CommandQueue
	if in.name == command.NameEStop && in.refuse == "" {
		full = len(c.queue) >= 4*c.o.CommandQueue
	}
	if full {
		dropped = c.supersede(in)
		if dropped == nil {
			c.qmu.Unlock()
			c.cmdBusy.Add(1)
			c.refuse(in.name, in.payload, "busy: too many commands waiting, try again")
			return
		}
	}
	c.queue = append(c.queue, in)
	if in.refuse == "" {
		c.live[in.key()]++
	}
	if dropped != nil {
		c.release(dropped)
	}
	c.qmu.Unlock()
	select {
	case c.qwake <- struct{}{}:
	default:
	}
	if dropped != nil {
		c.answer([]*inCmd{dropped}) // cheap: parsed and audited, not applied
	}
}

// replayWindow is how long after refusing a retained command its
// identical copies are taken for the broker's re-sends of it.
const replayWindow = 10 * time.Second

// isReplay reports whether a live command with key is a re-send of a
// retained command refused within replayWindow, and forgets old entries.
func (c *Client) isReplay(key string) bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	now := time.Now()
	for k, at := range c.replayed {
		if now.Sub(at) > replayWindow {
			delete(c.replayed, k)
		}
	}
	_, ok := c.replayed[key]
	return ok
}

// supersede makes room in a full queue for in. It takes out the oldest
// queued command that a newer one of the same name replaces, with no
// emergency stop or reset between them: one that in replaces, or else one
// that a queued command replaces. It returns that command, or nil.
// c.qmu is held.
func (c *Client) supersede(in *inCmd) *inCmd {
	if in.refuse != "" || !command.Coalesced(in.name) {
		return nil
	}
	q := append(c.queue, in)
	for i, old := range q[:len(q)-1] {
		if old.refuse != "" || !command.Coalesced(old.name) {
			continue
		}
		for _, newer := range q[i+1:] {
			if !command.Coalesced(newer.name) && newer.refuse == "" {
				break // an estop or reset keeps what came before it
			}
			if newer.name == old.name && newer.refuse == "" {
				c.queue = append(c.queue[:i], c.queue[i+1:]...)
				if old.by = peekID(newer.payload); old.by == "" {
					old.by = "(none)"
				}
				return old
			}
		}
	}
	return nil
}

// onProbe receives the markers the worker publishes to itself.
func (c *Client) onProbe(_ paho.Client, m paho.Message) {
	n, err := strconv.ParseUint(strings.TrimPrefix(string(m.Payload()), c.o.ClientID+" "), 10, 64)
	if err != nil || !strings.HasPrefix(string(m.Payload()), c.o.ClientID+" ") {
		return // another instance's
	}
	select {
	case c.probed <- n:
	default:
	}
}

// probe makes the broker replay the retained messages it holds on the
// command topics and returns once they have all been through onCommand:
// it re-subscribes (which replays them, flagged retained), then publishes
// a marker to itself and waits for it. Messages on one connection arrive
// in the order the broker sent them, and the handlers run in that order.
func (c *Client) probe() error {
	n := c.probeSeq.Add(1)
	tok := c.pc.Subscribe(c.t.cmdFilter, 1, nil)
	if !tok.WaitTimeout(c.o.WriteTimeout) || tok.Error() != nil {
		return fmt.Errorf("could not check the broker for a retained copy (re-subscribe: %v)", tokErr(tok))
	}
	tok = c.pc.Publish(c.t.probe, 1, false, c.o.ClientID+" "+strconv.FormatUint(n, 10))
	if !tok.WaitTimeout(c.o.WriteTimeout) || tok.Error() != nil {
		return fmt.Errorf("could not check the broker for a retained copy (marker: %v)", tokErr(tok))
	}
	timeout := time.NewTimer(c.o.WriteTimeout)
	defer timeout.Stop()
	for {
		select {
		case got := <-c.probed:
			if got == n {
				return nil
			}
		case <-timeout.C:
			return fmt.Errorf("could not check the broker for a retained copy (no marker within %v)", c.o.WriteTimeout)
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
}

func tokErr(t paho.Token) error {
	if err := t.Error(); err != nil {
		return err
	}
	return errors.New("timed out")
}

// peekID reads the id of a command payload, or "".
func peekID(payload []byte) string {
	var id struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(payload, &id)
	if len(id.ID) > command.MaxIDLen {
		return ""
	}
	return id.ID
}

// refuse answers a command that never reached the handler.
func (c *Client) refuse(name string, payload []byte, reason string) {
	c.cmdFailed.Add(1)
	c.enqueueReply(name, command.Reply{ID: peekID(payload), Error: reason}, false)
}

// commandWorker handles the queued commands in batches, in arrival order:
// it checks the broker for retained copies, then hands the batch to the
// handler (which applies only the newest of several state-setting commands
// of one name). At Close it finishes the batch in hand and refuses what is
// still queued.
func (c *Client) commandWorker() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			c.qmu.Lock()
			rest := c.queue
			c.queue = nil
			c.qmu.Unlock()
			for _, in := range rest {
				c.refuse(in.name, in.payload, "not applied: emsd is shutting down")
			}
			return
		case <-c.qwake:
		}
		c.qmu.Lock()
		batch := c.queue
		c.queue = nil
		c.qmu.Unlock()
		if len(batch) == 0 {
			continue
		}
		var probeErr error
		if slices.ContainsFunc(batch, func(in *inCmd) bool { return in.refuse == "" }) {
			probeErr = c.probe()
		}
		c.qmu.Lock()
		for _, in := range batch {
			if in.refuse != "" {
				continue
			}
			switch {
			case c.retained[in.key()]:
				in.refuse = reasonRetained
			case probeErr != nil && in.name != command.NameEStop:
				// An emergency stop only takes power away: it goes ahead.
				in.refuse = "not applied: " + probeErr.Error()
			}
			c.release(in)
		}
		c.qmu.Unlock()
		c.answer(batch)
	}
}

// release forgets a live command that leaves the queue. c.qmu is held.
func (c *Client) release(in *inCmd) {
	k := in.key()
	if c.live[k]--; c.live[k] <= 0 {
		delete(c.live, k)
		delete(c.retained, k)
	}
}

// answer hands commands to the handler and queues its replies.
func (c *Client) answer(batch []*inCmd) {
	msgs := make([]command.Message, len(batch))
	for i, in := range batch {
		msgs[i] = command.Message{Name: in.name, Payload: in.payload, Refuse: in.refuse, SupersededBy: in.by,
			Src: command.Source{Transport: "mqtt", Topic: in.topic}}
	}
	for i, rep := range c.handler.HandleBatch(c.ctx, msgs) {
		switch {
		case rep.OK:
			c.cmdOK.Add(1)
		case strings.Contains(rep.Error, "superseded by id"):
			c.cmdSuper.Add(1)
		default:
			c.cmdFailed.Add(1)
		}
		c.enqueueReply(batch[i].name, rep, true)
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

// stateTicker publishes State every StateInterval while connected.
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
// caller's State is logged and counted, not propagated.
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
	plant, units := c.o.State()
	if plant != nil {
		put(c.t.state, plant)
	}
	for id, v := range units {
		if checkLevels("unit id", id, false) != nil {
			c.failed.Add(1)
			continue
		}
		put(c.t.unitState(id), v)
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
		Superseded:     c.cmdSuper.Load(),
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
