package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/store"
)

// TestEveryDriverLeavesConcurrencyOptionAlone checks that no driver rejects
// the option every data source may carry for the worker.
func TestEveryDriverLeavesConcurrencyOptionAlone(t *testing.T) {
	r := newRegistry()
	for _, typ := range r.Types() {
		opts := json.RawMessage(`{"` + store.ConcurrencyOption + `": 3}`)
		if err := r.ValidateOptions(typ, opts); err != nil && strings.Contains(err.Error(), store.ConcurrencyOption) {
			t.Errorf("ValidateOptions(%s, %s) = %v, want the option left to the worker", typ, opts, err)
		}
	}
}

// TestDefaultConcurrency checks each warehouse's default limit of statements
// at once per data source.
func TestDefaultConcurrency(t *testing.T) {
	r := newRegistry()
	want := map[string]int{"bigquery": 10, "databricks": 10, "mssql": 5, "mysql": 5, "pg": 5, "redshift": 5, "snowflake": 8}
	for typ, n := range want {
		d, err := r.Driver(typ)
		if err != nil {
			t.Errorf("newRegistry() lacks %q: %v", typ, err)
			continue
		}
		if got := drivers.DialectOf(d).DefaultConcurrency; got != n {
			t.Errorf("DialectOf(%s).DefaultConcurrency = %d, want %d", typ, got, n)
		}
	}
	if got := len(r.Types()); got != len(want) {
		t.Errorf("newRegistry() has %d types, want %d: %v", got, len(want), r.Types())
	}
}
