package sim

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/config"
)

// TestServeDemo serves configs/demo.yaml on its real addresses for
// EMSD_SIM_SERVE seconds, for trying the plant by hand (mbpoll, curl):
//
//	EMSD_SIM_SERVE=60 go test ./internal/sim -run TestServeDemo -v
func TestServeDemo(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("EMSD_SIM_SERVE"))
	if secs <= 0 {
		t.Skip("set EMSD_SIM_SERVE=<seconds> to serve the demo plant")
	}
	cfg, err := config.Load("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log, _ := zap.NewDevelopment()
	p, err := New(cfg, profiles(t), log)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	time.Sleep(time.Duration(secs) * time.Second)
}
