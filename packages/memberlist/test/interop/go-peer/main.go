// Command go-peer is a real hashicorp/memberlist node (Debian 0.2.2) that the
// interoperability tests drive over a line protocol: flags configure it, one
// JSON object per line on stdin is a command, and one JSON object per line on
// stdout is an event or a command reply. Memberlist's own log goes to stderr.
//
// It is built in GOPATH mode, offline, with `go build -overlay` adding
// overlay/interop_export.go to the memberlist package so that the peer can
// report the real node states (suspect, dead, left) that 0.2.2's public API
// hides. See docs/interop.md for the protocol and the build command.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

// out serialises JSON lines on stdout; every line is flushed at once so the
// harness sees events as they happen.
type out struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (o *out) emit(fields map[string]interface{}) {
	if _, ok := fields["t"]; !ok {
		fields["t"] = time.Now().UnixNano() / int64(time.Millisecond)
	}
	line, err := json.Marshal(fields)
	if err != nil {
		line = []byte(fmt.Sprintf(`{"event":"error","error":%q}`, err.Error()))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w.Write(line)
	o.w.WriteByte('\n')
	o.w.Flush()
}

var stdout = &out{w: bufio.NewWriter(os.Stdout)}

// peer holds the memberlist instance and the delegate state the commands change.
type peer struct {
	ml         atomic.Value // *memberlist.Memberlist, set once Create returns
	mu         sync.Mutex
	meta       []byte
	localState []byte
	queue      *memberlist.TransmitLimitedQueue
}

func (p *peer) list() *memberlist.Memberlist {
	v, _ := p.ml.Load().(*memberlist.Memberlist)
	return v
}

// ---- memberlist.Delegate ----

func (p *peer) NodeMeta(limit int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.meta) > limit {
		return p.meta[:limit]
	}
	return append([]byte(nil), p.meta...)
}

func (p *peer) NotifyMsg(buf []byte) {
	stdout.emit(map[string]interface{}{
		"event": "message",
		"data":  base64.StdEncoding.EncodeToString(buf),
	})
}

func (p *peer) GetBroadcasts(overhead, limit int) [][]byte {
	return p.queue.GetBroadcasts(overhead, limit)
}

func (p *peer) LocalState(join bool) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.localState...)
}

func (p *peer) MergeRemoteState(buf []byte, join bool) {
	stdout.emit(map[string]interface{}{
		"event": "remoteState",
		"join":  join,
		"data":  base64.StdEncoding.EncodeToString(buf),
	})
}

// ---- memberlist.EventDelegate ----
// memberlist calls these with its node lock held, so the row is read with
// InteropNodeStateLocked (no second lock) and reflects the triggering change.

func (p *peer) nodeEvent(kind string, n *memberlist.Node) {
	fields := map[string]interface{}{
		"event":   kind,
		"node":    n.Name,
		"addr":    n.Address(),
		"meta":    string(n.Meta),
		"metaB64": base64.StdEncoding.EncodeToString(n.Meta),
	}
	if ml := p.list(); ml != nil {
		if row, ok := ml.InteropNodeStateLocked(n.Name); ok {
			fields["state"] = row.State
			fields["incarnation"] = row.Incarnation
		}
	} else {
		// Only the local node's own join happens inside Create.
		fields["state"] = "alive"
	}
	stdout.emit(fields)
}

func (p *peer) NotifyJoin(n *memberlist.Node)   { p.nodeEvent("join", n) }
func (p *peer) NotifyLeave(n *memberlist.Node)  { p.nodeEvent("leave", n) }
func (p *peer) NotifyUpdate(n *memberlist.Node) { p.nodeEvent("update", n) }

// userBroadcast is a user broadcast that never invalidates another.
type userBroadcast struct{ msg []byte }

func (b *userBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b *userBroadcast) Message() []byte                       { return b.msg }
func (b *userBroadcast) Finished()                             {}

// ---- commands ----

type command struct {
	Cmd       string   `json:"cmd"`
	ID        int64    `json:"id"`
	Node      string   `json:"node"`
	Reliable  bool     `json:"reliable"`
	Data      string   `json:"data"`
	TimeoutMs int64    `json:"timeoutMs"`
	Addrs     []string `json:"addrs"`
	Meta      *string  `json:"meta"`
}

func reply(c *command, err error, extra map[string]interface{}) {
	fields := map[string]interface{}{"event": "reply", "cmd": c.Cmd, "id": c.ID, "ok": err == nil}
	if err != nil {
		fields["error"] = err.Error()
	}
	for k, v := range extra {
		fields[k] = v
	}
	stdout.emit(fields)
}

func snapshotRows(ml *memberlist.Memberlist) []map[string]interface{} {
	rows := []map[string]interface{}{}
	for _, r := range ml.InteropSnapshot() {
		rows = append(rows, map[string]interface{}{
			"name": r.Name, "addr": r.Addr, "state": r.State,
			"incarnation": r.Incarnation, "meta": string(r.Meta),
		})
	}
	return rows
}

func (p *peer) findMember(name string) *memberlist.Node {
	for _, n := range p.list().Members() {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func (p *peer) handle(c *command) (exit bool) {
	ml := p.list()
	switch c.Cmd {
	case "members":
		alive := []string{}
		for _, n := range ml.Members() {
			alive = append(alive, n.Name)
		}
		reply(c, nil, map[string]interface{}{
			"members": snapshotRows(ml), "alive": alive, "numMembers": ml.NumMembers(),
			"estNumNodes": ml.InteropEstNumNodes(), "health": ml.GetHealthScore(),
		})
	case "join":
		n, err := ml.Join(c.Addrs)
		reply(c, err, map[string]interface{}{"contacted": n})
	case "leave":
		err := ml.Leave(time.Duration(c.TimeoutMs) * time.Millisecond)
		reply(c, err, nil)
	case "send":
		p.send(c)
	case "broadcast":
		data, err := base64.StdEncoding.DecodeString(c.Data)
		if err == nil {
			p.queue.QueueBroadcast(&userBroadcast{msg: data})
		}
		reply(c, err, nil)
	case "setLocalState":
		data, err := base64.StdEncoding.DecodeString(c.Data)
		if err == nil {
			p.mu.Lock()
			p.localState = data
			p.mu.Unlock()
		}
		reply(c, err, nil)
	case "updateMeta":
		p.updateMeta(c)
	case "health":
		reply(c, nil, map[string]interface{}{"health": ml.GetHealthScore()})
	case "shutdown":
		err := ml.Shutdown()
		reply(c, err, nil)
		return true
	default:
		reply(c, fmt.Errorf("unknown command %q", c.Cmd), nil)
	}
	return false
}

func (p *peer) send(c *command) {
	data, err := base64.StdEncoding.DecodeString(c.Data)
	if err != nil {
		reply(c, err, nil)
		return
	}
	target := p.findMember(c.Node)
	if target == nil {
		reply(c, fmt.Errorf("no live member named %q", c.Node), nil)
		return
	}
	if c.Reliable {
		err = p.list().SendReliable(target, data)
	} else {
		err = p.list().SendBestEffort(target, data)
	}
	reply(c, err, nil)
}

func (p *peer) updateMeta(c *command) {
	if c.Meta != nil {
		p.mu.Lock()
		p.meta = []byte(*c.Meta)
		p.mu.Unlock()
	}
	err := p.list().UpdateNode(time.Duration(c.TimeoutMs) * time.Millisecond)
	reply(c, err, nil)
}

// watchStates polls the node table and reports every change of state,
// incarnation or address (including suspect, which fires no event) and
// every reaped node, so tests can time each transition.
func (p *peer) watchStates(every time.Duration, stop <-chan struct{}) {
	type key struct {
		state string
		inc   uint32
		addr  string
	}
	last := map[string]key{}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
		seen := map[string]bool{}
		for _, r := range p.list().InteropSnapshot() {
			seen[r.Name] = true
			k := key{r.State, r.Incarnation, r.Addr}
			if prev, ok := last[r.Name]; ok && prev == k {
				continue
			}
			last[r.Name] = k
			stdout.emit(map[string]interface{}{
				"event": "state", "node": r.Name, "addr": r.Addr,
				"state": r.State, "incarnation": r.Incarnation,
			})
		}
		for name := range last {
			if !seen[name] {
				delete(last, name)
				stdout.emit(map[string]interface{}{"event": "state", "node": name, "state": "reaped"})
			}
		}
	}
}

func presetConfig(preset string) (*memberlist.Config, error) {
	switch preset {
	case "local":
		return memberlist.DefaultLocalConfig(), nil
	case "lan":
		return memberlist.DefaultLANConfig(), nil
	case "wan":
		return memberlist.DefaultWANConfig(), nil
	}
	return nil, fmt.Errorf("unknown preset %q (local|lan|wan)", preset)
}

func ms(d time.Duration) int64 { return int64(d / time.Millisecond) }

func describeConfig(conf *memberlist.Config, preset string) map[string]interface{} {
	return map[string]interface{}{
		"preset":                  preset,
		"probeIntervalMs":         ms(conf.ProbeInterval),
		"probeTimeoutMs":          ms(conf.ProbeTimeout),
		"suspicionMult":           conf.SuspicionMult,
		"suspicionMaxTimeoutMult": conf.SuspicionMaxTimeoutMult,
		"indirectChecks":          conf.IndirectChecks,
		"retransmitMult":          conf.RetransmitMult,
		"gossipIntervalMs":        ms(conf.GossipInterval),
		"gossipNodes":             conf.GossipNodes,
		"gossipToTheDeadTimeMs":   ms(conf.GossipToTheDeadTime),
		"pushPullIntervalMs":      ms(conf.PushPullInterval),
		"tcpTimeoutMs":            ms(conf.TCPTimeout),
		"awarenessMaxMultiplier":  conf.AwarenessMaxMultiplier,
		"protocolVersion":         conf.ProtocolVersion,
		"enableCompression":       conf.EnableCompression,
		"encrypted":               len(conf.SecretKey) > 0,
	}
}

func fatal(err error) {
	stdout.emit(map[string]interface{}{"event": "fatal", "error": err.Error()})
	os.Exit(2)
}

func main() {
	name := flag.String("name", "", "node name (required)")
	bind := flag.String("bind", "127.0.0.1", "bind and advertise address")
	port := flag.Int("port", 0, "UDP+TCP port; 0 picks a free one")
	join := flag.String("join", "", "comma-separated host:port list to join at start")
	key := flag.String("key", "", "base64 AES key (16, 24 or 32 bytes) enabling encryption")
	preset := flag.String("preset", "local", "config preset: local|lan|wan")
	meta := flag.String("meta", "", "node metadata (string)")
	noCompression := flag.Bool("no-compression", false, "disable LZW compression")
	watchMs := flag.Int("watch-ms", 50, "node-table polling period for state events, ms")
	flag.Parse()
	if *name == "" {
		fatal(fmt.Errorf("--name is required"))
	}

	conf, err := presetConfig(*preset)
	if err != nil {
		fatal(err)
	}
	p := &peer{meta: []byte(*meta)}
	p.queue = &memberlist.TransmitLimitedQueue{RetransmitMult: conf.RetransmitMult}
	p.queue.NumNodes = func() int {
		if ml := p.list(); ml != nil {
			return ml.NumMembers()
		}
		return 1
	}
	conf.Name = *name
	conf.BindAddr = *bind
	conf.AdvertiseAddr = *bind
	conf.BindPort = *port
	conf.AdvertisePort = *port
	conf.Delegate = p
	conf.Events = p
	conf.LogOutput = os.Stderr
	conf.EnableCompression = !*noCompression
	if *key != "" {
		raw, err := base64.StdEncoding.DecodeString(*key)
		if err != nil {
			fatal(fmt.Errorf("--key is not base64: %v", err))
		}
		conf.SecretKey = raw
	}
	log.SetOutput(os.Stderr)

	ml, err := memberlist.Create(conf)
	if err != nil {
		fatal(err)
	}
	p.ml.Store(ml)
	local := ml.LocalNode()
	stdout.emit(map[string]interface{}{
		"event": "listening", "name": local.Name, "addr": local.Address(),
		"pid": os.Getpid(), "config": describeConfig(conf, *preset),
	})

	stop := make(chan struct{})
	go p.watchStates(time.Duration(*watchMs)*time.Millisecond, stop)

	if *join != "" {
		n, err := ml.Join(strings.Split(*join, ","))
		fields := map[string]interface{}{"event": "joined", "contacted": n, "ok": err == nil}
		if err != nil {
			fields["error"] = err.Error()
		}
		stdout.emit(fields)
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		ml.Shutdown()
		os.Exit(0)
	}()

	readCommands(p, stop)
}

// readCommands runs commands one at a time until "shutdown" or stdin closes;
// a closed stdin (the test process died) also shuts the node down, so no
// orphaned Go peer survives its harness.
func readCommands(p *peer, stop chan struct{}) {
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) > 0 {
			var c command
			if jerr := json.Unmarshal(line, &c); jerr != nil {
				stdout.emit(map[string]interface{}{"event": "error", "error": "bad command: " + jerr.Error()})
			} else if p.handle(&c) {
				close(stop)
				os.Exit(0)
			}
		}
		if err == io.EOF {
			p.list().Shutdown()
			os.Exit(0)
		}
		if err != nil {
			fatal(err)
		}
	}
}
