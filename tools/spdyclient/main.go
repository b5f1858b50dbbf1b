// Command spdyclient is an independent SPDY/3.1 client for seabox's CRI streaming server,
// built on spdystream (the library kubelet and crictl use). It upgrades a streaming URL the
// way Kubernetes' remotecommand and portforward clients do, opens their streams, and prints
// one JSON object with everything it received.
//
//	spdyclient -mode exec -url http://127.0.0.1:PORT/exec/TOKEN [-stdin text] [-tty -size 91x27] [-protocol v4.channel.k8s.io]
//	spdyclient -mode portforward -url http://127.0.0.1:PORT/portforward/TOKEN -port 8080 -send 'GET / HTTP/1.0\r\n\r\n'
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/spdystream"
)

type result struct {
	Protocol string `json:"protocol"`
	Stdout   string `json:"stdout,omitempty"`
	Stderr   string `json:"stderr,omitempty"`
	Error    string `json:"error"`
	Data     string `json:"data,omitempty"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "spdyclient: "+format+"\n", args...)
	os.Exit(1)
}

// upgrade dials the URL and switches the connection to SPDY/3.1.
func upgrade(raw string, protocols []string) (net.Conn, string) {
	u, err := url.Parse(raw)
	if err != nil {
		fail("bad url: %v", err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 30*time.Second)
	if err != nil {
		fail("dial: %v", err)
	}
	req, _ := http.NewRequest("POST", raw, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	for _, p := range protocols {
		req.Header.Add("X-Stream-Protocol-Version", p)
	}
	if err := req.Write(conn); err != nil {
		fail("write request: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		fail("read response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		fail("upgrade refused: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if br.Buffered() > 0 {
		fail("server spoke before the client opened a stream")
	}
	return conn, resp.Header.Get("X-Stream-Protocol-Version")
}

func stream(c *spdystream.Connection, kv ...string) *spdystream.Stream {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	s, err := c.CreateStream(h, nil, false)
	if err != nil {
		fail("create stream %v: %v", kv, err)
	}
	if err := s.WaitTimeout(30 * time.Second); err != nil {
		fail("no reply for stream %v: %v", kv, err)
	}
	return s
}

func main() {
	mode := flag.String("mode", "exec", "exec, attach or portforward")
	rawURL := flag.String("url", "", "streaming URL from the CRI")
	protocol := flag.String("protocol", "v4.channel.k8s.io", "X-Stream-Protocol-Version for exec/attach")
	stdin := flag.String("stdin", "", "text sent on a stdin stream (no stdin stream when empty)")
	noStderr := flag.Bool("no-stderr", false, "open no stderr stream")
	tty := flag.Bool("tty", false, "exec/attach with a terminal: no stderr stream, a resize stream")
	size := flag.String("size", "", "with -tty: WIDTHxHEIGHT sent on the resize stream")
	port := flag.Int("port", 0, "port-forward: the port in the pod")
	send := flag.String("send", "", "port-forward: bytes sent on the data stream (\\r and \\n unescaped)")
	flag.Parse()
	if *rawURL == "" {
		fail("-url is required")
	}

	protocols := []string{*protocol}
	if *mode == "portforward" {
		protocols = []string{"portforward.k8s.io"}
	}
	netConn, negotiated := upgrade(*rawURL, protocols)
	conn, err := spdystream.NewConnection(netConn, false)
	if err != nil {
		fail("spdy: %v", err)
	}
	go conn.Serve(spdystream.NoOpStreamHandler)
	res := result{Protocol: negotiated}
	var wg sync.WaitGroup
	collect := func(s *spdystream.Stream, into *string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := io.ReadAll(s)
			*into = string(b)
		}()
	}

	if *mode == "portforward" {
		p := fmt.Sprint(*port)
		errStream := stream(conn, "streamType", "error", "port", p, "requestID", "0")
		errStream.Close() // the client never writes on it
		collect(errStream, &res.Error)
		data := stream(conn, "streamType", "data", "port", p, "requestID", "0")
		collect(data, &res.Data)
		msg := strings.NewReplacer(`\r`, "\r", `\n`, "\n").Replace(*send)
		if _, err := data.Write([]byte(msg)); err != nil {
			fail("write data: %v", err)
		}
		data.Close() // as kubectl once its local connection hits EOF
		wg.Wait()
	} else {
		// as remotecommand's v4 client: error first, then stdin, stdout, stderr
		errStream := stream(conn, "streamType", "error")
		collect(errStream, &res.Error)
		var in *spdystream.Stream
		if *stdin != "" {
			in = stream(conn, "streamType", "stdin")
		}
		collect(stream(conn, "streamType", "stdout"), &res.Stdout)
		if !*noStderr && !*tty {
			collect(stream(conn, "streamType", "stderr"), &res.Stderr)
		}
		if *tty {
			resize := stream(conn, "streamType", "resize")
			if *size != "" {
				var w, h uint16
				if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil {
					fail("bad -size %q", *size)
				}
				// as remotecommand: one JSON object per size change
				if err := json.NewEncoder(resize).Encode(map[string]uint16{"Width": w, "Height": h}); err != nil {
					fail("write resize: %v", err)
				}
			}
		}
		if in != nil {
			if _, err := in.Write([]byte(*stdin)); err != nil {
				fail("write stdin: %v", err)
			}
			in.Close()
		}
		wg.Wait()
	}
	conn.Close()
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}
