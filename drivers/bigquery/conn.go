package bigquery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/queryd/queryd/drivers"
)

// conn is an open BigQuery data source: one client, and a semaphore of
// max_connections job slots. It is safe for concurrent use.
type conn struct {
	client *bigquery.Client
	opts   Options
	slots  chan struct{}
	closed atomic.Bool
}

// errConnClosed is returned by Query on a closed Conn.
var errConnClosed = errors.New("bigquery: connection closed")

func newConn(client *bigquery.Client, o Options) *conn {
	return &conn{client: client, opts: o, slots: make(chan struct{}, o.MaxConnections)}
}

// Timing of the calls that stop a job.
const (
	// cancelTimeout bounds one jobs.cancel, retries included.
	cancelTimeout = 10 * time.Second
	// cancelWait is how long Query, Next and Close wait for a jobs.cancel
	// they started before they return anyway (the cancel goes on).
	cancelWait = time.Second
	// maxReuse bounds the sequence of job ids tried for one queryd job when
	// the earlier ones were cancelled.
	maxReuse = 10
)

// Query runs sql as one query job and returns its rows, which hold one of
// the Conn's job slots until they reach the end, fail or are closed. args
// are bound to the statement's positional (?) parameters.
//
// It returns an error wrapping ctx's error when ctx is done (the job is
// cancelled inside BigQuery), a *drivers.QueryError when BigQuery rejects the
// statement or the credentials (including a job timeout, a billing limit and
// the scanned-data limit), and any other error when BigQuery cannot be
// reached; callers may retry those.
func (c *conn) Query(ctx context.Context, sql string, args ...any) (drivers.Rows, error) {
	if c.closed.Load() {
		return nil, errConnClosed
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("bigquery: wait for a job slot: %w", ctx.Err())
	}
	r, err := c.query(ctx, sql, args)
	if err != nil {
		if r == nil { // rows that were made gave the slot back themselves
			<-c.slots
		}
		return nil, err
	}
	return r, nil
}

// query runs the statement for Query. When it fails after making rows, it
// returns them too: they have given the job slot back.
func (c *conn) query(ctx context.Context, sql string, args []any) (*rows, error) {
	if c.opts.TotalMBytesProcessedLimit > 0 {
		if err := c.checkScan(ctx, sql, args); err != nil {
			return nil, err
		}
	}
	job, err := c.start(ctx, sql, args)
	if err != nil {
		return nil, c.queryError(ctx, err)
	}
	drivers.ReportQueryID(ctx, fullID(job))
	st := newStatement(ctx, c, job)
	if status := job.LastStatus(); status != nil && status.Err() != nil {
		st.finish(false)
		return nil, c.queryError(ctx, status.Err())
	}
	it, err := job.Read(ctx)
	if err != nil {
		return nil, st.fail(c.queryError(ctx, err))
	}
	r := newRows(ctx, c, st, it)
	if err := r.prime(); err != nil {
		return r, err
	}
	return r, nil
}

// newQuery configures a query job for sql from the data source's options.
func (c *conn) newQuery(sql string, args []any) *bigquery.Query {
	q := c.client.Query(sql)
	q.UseLegacySQL = !*c.opts.UseStandardSQL
	q.Location = c.opts.Location
	q.JobTimeout = c.opts.timeout()
	q.MaxBillingTier = c.opts.MaximumBillingTier
	for _, a := range args {
		q.Parameters = append(q.Parameters, bigquery.QueryParameter{Value: a})
	}
	return q
}

// checkScan dry-runs sql and returns a *drivers.QueryError when it would
// process more than totalMBytesProcessedLimit megabytes.
func (c *conn) checkScan(ctx context.Context, sql string, args []any) error {
	q := c.newQuery(sql, args)
	q.DryRun = true
	job, err := q.Run(ctx)
	if err != nil {
		return c.queryError(ctx, err)
	}
	status := job.LastStatus()
	if status == nil || status.Statistics == nil {
		return fmt.Errorf("bigquery: dry run of the statement reported no statistics")
	}
	mb := float64(status.Statistics.TotalBytesProcessed) / 1e6
	if limit := c.opts.TotalMBytesProcessedLimit; mb > limit {
		return &drivers.QueryError{
			Message: fmt.Sprintf("Larger than %g MBytes will be processed (%f MBytes)", limit, mb),
			Code:    "totalMBytesProcessedLimit",
		}
	}
	return nil
}

// start inserts the query job, or finds the one an earlier attempt of the
// same queryd job inserted (see jobIDs).
func (c *conn) start(ctx context.Context, sql string, args []any) (*bigquery.Job, error) {
	ids := c.jobIDs(drivers.JobID(ctx), sql, args)
	if ids == nil {
		return c.newQuery(sql, args).Run(ctx) // the client picks a random id
	}
	for _, id := range ids {
		q := c.newQuery(sql, args)
		q.JobID = id
		job, err := q.Run(ctx)
		if !isDuplicate(err) {
			return job, err
		}
		job, err = c.client.JobFromIDLocation(ctx, id, c.opts.Location)
		if err != nil {
			return nil, err
		}
		if !cancelled(job) {
			return job, nil // attach: running, done, or failed on its own
		}
	}
	return nil, fmt.Errorf("bigquery: the %d job ids of queryd job %s are taken by cancelled jobs", len(ids), drivers.JobID(ctx))
}

// jobIDs returns the BigQuery job ids a statement run under queryd job
// jobID may have, in the order they are tried: "queryd_<job id>_<digest>"
// and then "…_2", "…_3": a later one is used only when the earlier job was
// cancelled (a worker that stopped gracefully cancels its job before the
// task is delivered again). The digest covers everything that shapes the
// job, so a different statement never attaches to another's job. It returns
// nil without a queryd job id.
func (c *conn) jobIDs(jobID, sql string, args []any) []string {
	if jobID == "" {
		return nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%t\x00%s\x00%d\x00%d\x00%q", sql, *c.opts.UseStandardSQL, c.opts.Location,
		c.opts.StatementTimeout, c.opts.MaximumBillingTier, args)
	base := "queryd_" + sanitizeJobID(jobID) + "_" + hex.EncodeToString(h.Sum(nil))[:16]
	ids := []string{base}
	for i := 2; i <= maxReuse; i++ {
		ids = append(ids, base+"_"+strconv.Itoa(i))
	}
	return ids
}

// sanitizeJobID keeps the characters a BigQuery job id may hold (letters,
// digits, "_" and "-") and replaces the others with "_".
func sanitizeJobID(id string) string {
	b := []byte(id)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 900 {
		b = b[:900]
	}
	return string(b)
}

// isDuplicate reports whether err is jobs.insert's 409 for a job id in use.
func isDuplicate(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusConflict
}

// cancelled reports whether job ended because it was cancelled.
func cancelled(job *bigquery.Job) bool {
	status := job.LastStatus()
	if status == nil || !status.Done() {
		return false
	}
	var be *bigquery.Error
	return errors.As(status.Err(), &be) && be.Reason == "stopped"
}

// fullID is job's id as BigQuery writes it, "project:location.job_id".
func fullID(job *bigquery.Job) string {
	id := job.ID()
	if loc := job.Location(); loc != "" {
		id = loc + "." + id
	}
	return job.ProjectID() + ":" + id
}

// parseID splits a query id from fullID (or a bare job id) into project,
// location and job id; project and location may be empty.
func parseID(queryID string) (project, location, jobID string) {
	rest := queryID
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		project, rest = rest[:i], rest[i+1:]
	}
	if i := strings.Index(rest, "."); i >= 0 {
		location, rest = rest[:i], rest[i+1:]
	}
	return project, location, rest
}

// CancelQuery cancels the job queryID names ("project:location.job_id", as
// reported through drivers.ReportQueryID, or a bare job id in the data
// source's project and location). A job that has already ended is not an
// error; a job BigQuery does not know is.
func (c *conn) CancelQuery(ctx context.Context, queryID string) error {
	project, location, id := parseID(queryID)
	if id == "" {
		return fmt.Errorf("bigquery: cancel %q: not a job id", queryID)
	}
	if project == "" {
		project = c.client.Project()
	}
	if location == "" {
		location = c.opts.Location
	}
	job, err := c.client.JobFromProject(ctx, project, id, location)
	if err != nil {
		return c.apiError(ctx, fmt.Errorf("bigquery: cancel job %s: %w", queryID, err))
	}
	if status := job.LastStatus(); status != nil && status.Done() {
		return nil
	}
	if err := job.Cancel(ctx); err != nil {
		return c.apiError(ctx, fmt.Errorf("bigquery: cancel job %s: %w", queryID, err))
	}
	return nil
}

// Ping dry-runs "SELECT 1", which checks the credentials and that they may
// run jobs in the project. Its errors are those of Query.
func (c *conn) Ping(ctx context.Context) error {
	q := c.client.Query("SELECT 1")
	q.Location = c.opts.Location
	q.UseLegacySQL = !*c.opts.UseStandardSQL
	q.DryRun = true
	if _, err := q.Run(ctx); err != nil {
		return c.queryError(ctx, err)
	}
	return nil
}

// schemaWorkers is how many tables.get calls Schema makes at once.
const schemaWorkers = 8

// Schema lists the tables and views of every dataset in the project, with
// their columns and GoogleSQL types, sorted by dataset and name. It reports
// no tables when the loadSchema option is off. Its errors are those of
// Query.
func (c *conn) Schema(ctx context.Context) ([]drivers.Table, error) {
	tables := []drivers.Table{}
	if !c.opts.LoadSchema {
		return tables, nil
	}
	var refs []*bigquery.Table
	dsIt := c.client.Datasets(ctx)
	for {
		ds, err := dsIt.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, c.apiError(ctx, fmt.Errorf("bigquery: list datasets: %w", err))
		}
		tIt := ds.Tables(ctx)
		for {
			t, err := tIt.Next()
			if err == iterator.Done {
				break
			}
			if err != nil {
				return nil, c.apiError(ctx, fmt.Errorf("bigquery: list tables of %s: %w", ds.DatasetID, err))
			}
			refs = append(refs, t)
		}
	}

	tables = make([]drivers.Table, len(refs))
	errs := make([]error, len(refs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(schemaWorkers, len(refs)) {
		wg.Go(func() {
			for i := range next {
				md, err := refs[i].Metadata(ctx)
				if err != nil {
					errs[i] = fmt.Errorf("bigquery: describe table %s.%s: %w", refs[i].DatasetID, refs[i].TableID, err)
					continue
				}
				tb := drivers.Table{Schema: refs[i].DatasetID, Name: refs[i].TableID, Columns: []drivers.TableColumn{}}
				for _, f := range md.Schema {
					tb.Columns = append(tb.Columns, drivers.TableColumn{Name: f.Name, Type: typeName(f)})
				}
				tables[i] = tb
			}
		})
	}
	for i := range refs {
		next <- i
	}
	close(next)
	wg.Wait()
	var kept []drivers.Table
	for i, err := range errs {
		var ge *googleapi.Error
		switch {
		case errors.As(err, &ge) && ge.Code == http.StatusNotFound:
			// dropped between listing and describing
		case err != nil:
			return nil, c.apiError(ctx, err)
		default:
			kept = append(kept, tables[i])
		}
	}
	slices.SortFunc(kept, func(a, b drivers.Table) int {
		if n := strings.Compare(a.Schema, b.Schema); n != 0 {
			return n
		}
		return strings.Compare(a.Name, b.Name)
	})
	if kept == nil {
		kept = []drivers.Table{}
	}
	return kept, nil
}

// Close releases the client; later Queries fail and open Rows fail too. It
// is safe to call more than once.
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.client.Close()
}

// queryError maps an error from running a statement: ctx's error when ctx
// is done, a *drivers.QueryError when BigQuery rejected the statement, the
// credentials or the job (retrying cannot help), and a plain error
// otherwise. None ever contains the key.
func (c *conn) queryError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("bigquery: query: %w", ctxErr)
	}
	var be *bigquery.Error
	if errors.As(err, &be) {
		return &drivers.QueryError{Message: be.Message, Code: be.Reason, Err: redact(c.opts, err)}
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) && !transient(ge) {
		msg := ge.Message
		code := strconv.Itoa(ge.Code)
		if len(ge.Errors) > 0 {
			code = ge.Errors[0].Reason
			if msg == "" {
				msg = ge.Errors[0].Message
			}
		}
		if msg == "" {
			msg = http.StatusText(ge.Code)
		}
		return &drivers.QueryError{Message: msg, Code: code, Err: redact(c.opts, err)}
	}
	return redact(c.opts, fmt.Errorf("bigquery: query in project %s: %w", c.opts.ProjectID, err))
}

// apiError is queryError for calls that are not a statement's.
func (c *conn) apiError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w (%w)", err, ctxErr)
	}
	return c.queryError(ctx, err)
}

// transient reports whether a retry may succeed: rate limits, server errors
// and timeouts.
func transient(ge *googleapi.Error) bool {
	if ge.Code == http.StatusTooManyRequests || ge.Code == http.StatusRequestTimeout || ge.Code >= 500 {
		return true
	}
	for _, e := range ge.Errors {
		switch e.Reason {
		case "backendError", "internalError", "rateLimitExceeded", "jobRateLimitExceeded":
			return true
		}
	}
	return false
}
