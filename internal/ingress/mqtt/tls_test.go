package mqtt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
)

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, as PEM files.
type pki struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{
		CA: filepath.Join(dir, "ca.pem"), ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey: filepath.Join(dir, "server.key"), ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey: filepath.Join(dir, "client.key"),
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "emsd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	writePEM(t, p.CA, "CERTIFICATE", caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, certPath, keyPath string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		writePEM(t, certPath, "CERTIFICATE", der)
		writePEM(t, keyPath, "EC PRIVATE KEY", kb)
	}
	leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, p.ServerCert, p.ServerKey)
	leaf(3, "emsd", x509.ExtKeyUsageClientAuth, p.ClientCert, p.ClientKey)
	return p
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serverConfig is the broker side for the embedded broker.
func (p *pki) serverConfig(t testing.TB) *tls.Config {
	cert, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(p.CA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
}

func TestTLSWithClientCertificate(t *testing.T) {
	p := newPKI(t)
	b := newBrokerOpt(t, brokerOpts{tls: p})
	bus := &recBus{}
	withTLS := func(o *Options) {
		o.Brokers = []string{"ssl://" + b.Addr()}
		o.CAFile, o.CertFile, o.KeyFile = p.CA, p.ClientCert, p.ClientKey
	}
	startClient(t, b.Addr(), command.NewHandler(bus, command.HandlerOptions{}), withTLS)

	// The operator connects with the same CA and client certificate.
	oo, err := Options{Brokers: []string{"ssl://" + b.Addr()}, Site: site,
		CAFile: p.CA, CertFile: p.ClientCert, KeyFile: p.ClientKey}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	tc, err := oo.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	pc := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + b.Addr()).
		SetClientID(fmt.Sprintf("operator-tls-%d", time.Now().UnixNano())).SetTLSConfig(tc))
	if tok := pc.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("operator TLS connect: %v", tok.Error())
	}
	defer pc.Disconnect(100)
	op := &operator{t: t, pc: pc}
	awaitOnline(t, op)
	replies := op.sub("emsd/" + site + "/cmd/+/reply")
	op.pub("emsd/"+site+"/cmd/estop", []byte(`{"id":"tls-1","reason":"test"}`), false)
	if rep, _ := replyFor(t, replies, "tls-1"); !rep.OK {
		t.Fatalf("reply over TLS: %+v", rep)
	}
	if got := bus.commands(); len(got) != 1 || got[0] != (dispatch.EStop{Reason: "test"}) {
		t.Errorf("bus got %v", got)
	}

	// Without our CA the broker certificate is not trusted: no connection.
	c2, err := New(Options{Brokers: []string{"ssl://" + b.Addr()}, Site: "untrusted",
		CertFile: p.ClientCert, KeyFile: p.ClientKey, ConnectRetryInterval: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2.Start()
	time.Sleep(time.Second)
	if c2.Connected() {
		t.Error("connected to a broker whose certificate is not signed by a trusted CA")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c2.Close(ctx)

	if _, err := New(Options{Brokers: []string{"ssl://x:1"}, Site: "s", CAFile: p.ClientKey}, nil); err == nil || !strings.Contains(err.Error(), "no PEM certificates") {
		t.Errorf("CA file without certificates: %v", err)
	}
}
