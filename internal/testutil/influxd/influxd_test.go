package influxd_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/emsd/emsd/internal/testutil/influxd"
)

// TestServer writes two points, restarts the server and counts them again.
func TestServer(t *testing.T) {
	srv := influxd.Start(t)
	srv.CreateDB(t, "db")
	resp, err := http.Post(srv.URL()+"/write?db=db", "text/plain", strings.NewReader("m a=1i,b=2i 1000\nm a=3i,b=4i 2000\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: status %d", resp.StatusCode)
	}
	if n := srv.Count(t, "db", "m"); n != 2 {
		t.Fatalf("Count = %d, want 2", n)
	}
	srv.Stop(t)
	if _, err := srv.QueryErr("db", "SELECT * FROM m"); err == nil {
		t.Fatal("query to a stopped server succeeded")
	}
	srv.Start(t)
	if got := srv.Scalars(t, "db", "SELECT sum(a), max(b) FROM m"); len(got) != 2 || got[0] != 4 || got[1] != 4 {
		t.Fatalf("Scalars = %v, want [4 4]", got)
	}
	if n := srv.Count(t, "db", "nothing"); n != 0 {
		t.Fatalf("Count of a missing measurement = %d, want 0", n)
	}
}
