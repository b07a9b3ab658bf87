package mssql

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net/url"
	"os"
	"strconv"
	"testing"

	mssqldb "github.com/microsoft/go-mssqldb"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
)

// liveURLEnv names a real SQL Server 2022 (or later) to run the conformance
// suite against: sqlserver://user:password@host:port?database=db&encrypt=…
// (encrypt defaults to true). The user needs VIEW SERVER STATE (to see
// running statements in sys.dm_exec_requests) and CREATE TABLE in dbo (the
// test creates dbo.queryd_schema_test once).
const liveURLEnv = "QUERYD_TEST_MSSQL_URL"

func TestConformanceLive(t *testing.T) {
	raw := os.Getenv(liveURLEnv)
	if raw == "" {
		t.Skip(liveURLEnv + " is not set: skipping the SQL Server live test (set it to sqlserver://user:password@host:port?database=db to run it)")
	}
	o, err := liveOptions(raw)
	if err != nil {
		t.Fatalf("%s: %v", liveURLEnv, err)
	}
	connector, err := mssqldb.NewConnector(dsn(o))
	if err != nil {
		t.Fatalf("%s: %v", liveURLEnv, redact(o, err))
	}
	watcher := sql.OpenDB(connector)
	t.Cleanup(func() { watcher.Close() })

	setup := open(t, o)
	const create = `IF OBJECT_ID(N'dbo.queryd_schema_test', N'U') IS NULL ` +
		`CREATE TABLE dbo.queryd_schema_test (id INT NOT NULL, amount DECIMAL(10,2), note NVARCHAR(50))`
	if err := drivertest.Drain(t.Context(), setup, create); err != io.EOF {
		t.Fatalf("creating dbo.queryd_schema_test: %v", err)
	}

	s := suite(
		func(tb testing.TB) drivers.Conn { return open(tb, o) },
		func(ctx context.Context, marker string) (bool, error) {
			var n int
			err := watcher.QueryRowContext(ctx, `SELECT COUNT(*) FROM sys.dm_exec_requests AS r `+
				`CROSS APPLY sys.dm_exec_sql_text(r.sql_handle) AS t `+
				`WHERE r.session_id <> @@SPID AND t.text LIKE @p1`, "%"+marker+"%").Scan(&n)
			return n > 0, err
		},
	)
	s.Bad, s.BadMessage = "SELECT * FROM WHERE", "Incorrect syntax near"
	s.SchemaTable = &drivers.Table{Schema: "dbo", Name: "queryd_schema_test", Columns: []drivers.TableColumn{
		{Name: "id", Type: "int"}, {Name: "amount", Type: "decimal"}, {Name: "note", Type: "nvarchar"},
	}}
	drivertest.Run(t, s)
}

// liveOptions turns a sqlserver:// URL into Options.
func liveOptions(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, errors.New("not a sqlserver://user:password@host:port?database=db URL") // url's error quotes the password
	}
	q := u.Query()
	o := Options{Server: u.Hostname(), Port: defaultPort, User: u.User.Username(), DB: q.Get("database"),
		Encrypt: q.Get("encrypt"), MaxConnections: defaultMaxConnections}
	o.Password, _ = u.User.Password()
	if p := u.Port(); p != "" {
		if o.Port, err = strconv.Atoi(p); err != nil {
			return Options{}, errors.New("bad port")
		}
	}
	if o.Encrypt == "" {
		o.Encrypt = defaultEncrypt
	}
	return o, nil
}
