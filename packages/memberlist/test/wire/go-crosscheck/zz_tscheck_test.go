// Cross-check test dropped into a copy of Go memberlist 0.2.2 (see README.md): reads our frames and packets with Go's own code.
package memberlist

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io/ioutil"
	"net"
	"testing"
)

func TestTSCheck(t *testing.T) {
	raw, _ := ioutil.ReadFile("/tmp/gp/cases.json")
	var cases map[string]string
	json.Unmarshal(raw, &cases)
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	conf := DefaultLANConfig()
	kr, _ := NewKeyring(nil, key)
	conf.Keyring = kr
	m := &Memberlist{config: conf}
	for _, name := range []string{"streamV1", "streamV0"} {
		b, _ := hex.DecodeString(cases[name])
		c1, c2 := net.Pipe()
		go func() { c1.Write(b); c1.Close() }()
		mt, bufConn, dec, err := m.readStream(c2)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		join, nodes, us, err := m.readRemoteState(bufConn, dec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fmt.Printf("%s type=%d join=%v nodes=%d last=%s/%v/%d/%d/%d/%x/%x/%x us=%d us[299]=%d\n", name, mt, join, len(nodes),
			nodes[149].Name, net.IP(nodes[149].Addr), nodes[149].Port, nodes[149].Incarnation, nodes[149].State, nodes[149].Meta, nodes[149].Vsn, nodes[148].Meta, len(us), us[299])
	}
	{
		b, _ := hex.DecodeString(cases["user"])
		mconf := DefaultLANConfig()
		m2 := &Memberlist{config: mconf}
		c1, c2 := net.Pipe()
		go func() { c1.Write(b); c1.Close() }()
		mt, bufConn, dec, err := m2.readStream(c2)
		if err != nil {
			t.Fatal(err)
		}
		var h userMsgHeader
		if err := dec.Decode(&h); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, h.UserMsgLen)
		n, _ := bufConn.Read(body)
		fmt.Printf("user type=%d len=%d read=%d last=%d\n", mt, h.UserMsgLen, n, body[299])
	}
	{
		b, _ := hex.DecodeString(cases["udpV0"])
		plain, err := decryptPayload([][]byte{key}, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		if plain[0] != byte(hasCrcMsg) || crc32.ChecksumIEEE(plain[5:]) != binary.BigEndian.Uint32(plain[1:5]) {
			t.Fatal("crc")
		}
		buf := plain[5:]
		if buf[0] != byte(compressMsg) {
			t.Fatalf("not compressed %d", buf[0])
		}
		dbuf, err := decompressPayload(buf[1:])
		if err != nil {
			t.Fatal(err)
		}
		trunc, parts, err := decodeCompoundMessage(dbuf[1:])
		if err != nil || trunc != 0 {
			t.Fatal(err, trunc)
		}
		for _, p := range parts {
			switch messageType(p[0]) {
			case aliveMsg:
				var a alive
				if err := decode(p[1:], &a); err != nil {
					t.Fatal(err)
				}
				fmt.Printf("alive %s %v %d %x %x\n", a.Node, net.IP(a.Addr), a.Incarnation, a.Meta, a.Vsn)
			case suspectMsg:
				var s suspect
				if err := decode(p[1:], &s); err != nil {
					t.Fatal(err)
				}
				fmt.Printf("suspect %s %d %s\n", s.Node, s.Incarnation, s.From)
			case userMsg:
				fmt.Printf("user %x\n", p[1:])
			}
		}
	}
	// Go -> TS: vsn 0 encryption of a compressed compound for the TS side to open.
	msg := makeCompoundMessage([][]byte{{0, 0x80}, {8, 1, 2}}).Bytes()
	comp, _ := compressPayload(msg)
	var out bytes.Buffer
	encryptPayload(0, key, comp.Bytes(), []byte{}, &out)
	fmt.Printf("govsn0 %x\n", out.Bytes())
}
