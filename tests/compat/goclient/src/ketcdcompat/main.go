// Command ketcdcompat drives etcd's own Go client (clientv3 3.4, the library
// Kubernetes' apiserver is built on) through one scenario and prints one line
// per observation. The compat runner runs the same scenario against etcd 3.4
// and ketcd and compares the transcripts, so nothing printed may depend on
// the server's identity (lease ids, member ids, sizes, times).
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/pkg/transport"
	"google.golang.org/grpc/status"
)

type scenario func(ep endpoint)

var scenarios = map[string]scenario{
	"kv":          kvScenario,
	"txn":         txnScenario,
	"watch":       watchScenario,
	"lease":       leaseScenario,
	"auth":        authScenario,
	"concurrency": concurrencyScenario,
	"maintenance": maintenanceScenario,
}

// endpoint is where and how to dial: the runner passes python3-etcd3's
// flag names so one runner line serves both kinds of script.
type endpoint struct {
	addr string
	tls  *tls.Config
}

func (ep endpoint) client(user, password string) (*clientv3.Client, error) {
	scheme := "http://"
	if ep.tls != nil {
		scheme = "https://"
	}
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{scheme + ep.addr},
		DialTimeout: 5 * time.Second,
		TLS:         ep.tls,
		Username:    user,
		Password:    password,
	})
}

func (ep endpoint) mustClient() *clientv3.Client {
	c, err := ep.client("", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	return c
}

func main() {
	addr := flag.String("endpoint", "", "host:port")
	ca := flag.String("ca-cert", "", "CA certificate (TLS)")
	cert := flag.String("cert-cert", "", "client certificate (TLS)")
	key := flag.String("cert-key", "", "client key (TLS)")
	flag.Parse()
	if *addr == "" || flag.NArg() != 1 || scenarios[flag.Arg(0)] == nil {
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: ketcdcompat --endpoint host:port [TLS flags] {%s}\n",
			strings.Join(names, "|"))
		os.Exit(2)
	}
	ep := endpoint{addr: *addr}
	if *ca != "" {
		info := transport.TLSInfo{TrustedCAFile: *ca, CertFile: *cert, KeyFile: *key}
		cfg, err := info.ClientConfig()
		if err != nil {
			fmt.Fprintln(os.Stderr, "tls:", err)
			os.Exit(2)
		}
		ep.tls = cfg
	}
	scenarios[flag.Arg(0)](ep)
	fmt.Println("done")
}

// ctx bounds every call: a server that stops answering fails the step, it
// does not hang the case.
func ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	time.AfterFunc(6*time.Second, cancel)
	return c
}

// errText is what an application sees: clientv3's error string and the gRPC
// code under it.
func errText(err error) string {
	if s, ok := status.FromError(err); ok {
		return fmt.Sprintf("error %s %q", s.Code(), s.Message())
	}
	return fmt.Sprintf("error %q", err.Error())
}

// stop ends a scenario that cannot go on after an unexpected error (shown
// just before): a non-zero exit, which the compat runner counts as a failed
// step even when both servers fail alike.
func stop() { os.Exit(1) }

func show(label string, lines ...string) {
	if len(lines) == 1 {
		fmt.Printf("%s -> %s\n", label, lines[0])
		return
	}
	fmt.Printf("%s -> %d line(s)\n", label, len(lines))
	for _, l := range lines {
		fmt.Println("    " + l)
	}
}

func showErr(label string, err error) bool {
	if err != nil {
		show(label, errText(err))
		return true
	}
	return false
}
