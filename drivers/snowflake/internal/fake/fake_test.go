package fake

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"os"
	"testing"
	"time"

	sf "github.com/snowflakedb/gosnowflake/v2"
)

func TestMain(m *testing.M) {
	os.Setenv("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true") // no cloud metadata probes
	if err := sf.GetLogger().SetLogLevel("off"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// TestAsyncAndFetchByID drives the paths the driver does not use through the
// real client: an asynchronous submit (code 333334), then fetching the
// result by query id from another session, which asks
// /monitoring/queries/<id> and polls /queries/<id>/result.
func TestAsyncAndFetchByID(t *testing.T) {
	srv := Start()
	defer srv.Close()
	srv.AddUser("u", "p")
	db := sql.OpenDB(sf.NewConnector(sf.SnowflakeDriver{}, sf.Config{
		Account: "fake", User: "u", Password: "p", Host: srv.Host, Port: srv.Port, Protocol: "http", DisableOCSPChecks: true,
	}))
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("db.Conn: %v", err)
	}
	defer c.Close()
	var qid string
	start := time.Now()
	err = c.Raw(func(dc any) error {
		rows, err := dc.(driver.QueryerContext).QueryContext(sf.WithAsyncMode(ctx), "SELECT SYSTEM$WAIT(1) -- async", nil)
		if err != nil {
			return err
		}
		qid = rows.(sf.SnowflakeRows).GetQueryID()
		return nil
	})
	if err != nil {
		t.Fatalf("async submit: %v", err)
	}
	if took := time.Since(start); took > 500*time.Millisecond || qid == "" || !srv.Running("-- async") {
		t.Fatalf("async submit returned query id %q after %v, running %t; want an id at once, running", qid, took, srv.Running("-- async"))
	}

	var got string
	if err := db.QueryRowContext(sf.WithFetchResultByID(ctx, qid), "").Scan(&got); err != nil {
		t.Fatalf("fetch result of %s: %v", qid, err)
	}
	if want := "waited 1 seconds"; got != want {
		t.Errorf("result of %s = %q, want %q", qid, got, want)
	}
}
