// This file is NOT part of hashicorp/memberlist. The interop test harness adds
// it to the Debian memberlist 0.2.2 package at build time with `go build
// -overlay` (the installed sources are never modified). It only READS state:
// memberlist's public API cannot tell "dead" from "left" or show "suspect"
// (Node.State is never updated in 0.2.2; the real state lives in the
// unexported nodeState), and the interop tests must see exactly those states.

package memberlist

// InteropNodeSnapshot is one row of the node table as memberlist itself sees it.
type InteropNodeSnapshot struct {
	Name        string
	Addr        string
	State       string
	Incarnation uint32
	Meta        []byte
}

func interopStateName(s NodeStateType) string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return "unknown"
}

func interopSnapshotOf(n *nodeState) InteropNodeSnapshot {
	meta := make([]byte, len(n.Meta))
	copy(meta, n.Meta)
	return InteropNodeSnapshot{
		Name:        n.Name,
		Addr:        n.Address(),
		State:       interopStateName(n.State),
		Incarnation: n.Incarnation,
		Meta:        meta,
	}
}

// InteropSnapshot returns every node in the table (dead and left ones too,
// until memberlist reaps them), taking the node lock.
func (m *Memberlist) InteropSnapshot() []InteropNodeSnapshot {
	m.nodeLock.RLock()
	defer m.nodeLock.RUnlock()
	out := make([]InteropNodeSnapshot, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, interopSnapshotOf(n))
	}
	return out
}

// InteropNodeStateLocked returns one node's row WITHOUT taking the node lock.
// Call it only from EventDelegate callbacks: memberlist holds the node lock
// (for writing) while it calls NotifyJoin/NotifyLeave/NotifyUpdate, so the
// row read here is exactly the state that triggered the event.
func (m *Memberlist) InteropNodeStateLocked(name string) (InteropNodeSnapshot, bool) {
	n, ok := m.nodeMap[name]
	if !ok {
		return InteropNodeSnapshot{}, false
	}
	return interopSnapshotOf(n), true
}

// InteropEstNumNodes is memberlist's own estimate of n used by its formulas
// (suspicion timeout, retransmit limit, push/pull scaling).
func (m *Memberlist) InteropEstNumNodes() int {
	return m.estNumNodes()
}
