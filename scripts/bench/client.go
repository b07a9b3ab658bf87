package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// client speaks queryd's Redash-style API with one API key, over
// keep-alive connections.
type client struct {
	base, key string
	hc        *http.Client
}

func newClient(base, key string) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &client{base: base, key: key, hc: &http.Client{Transport: tr}}
}

// job is the "job" object of the API.
type job struct {
	ID            string `json:"id"`
	Status        int    `json:"status"`
	Error         string `json:"error"`
	QueryResultID *int64 `json:"query_result_id"`
}

// Redash job statuses.
const (
	jobSucceeded = 3
	jobFailed    = 4
	jobCancelled = 5
)

// execAnswer is the answer of both execution endpoints: a result, or a job.
type execAnswer struct {
	QueryResult *struct {
		ID int64 `json:"id"`
	} `json:"query_result"`
	Job *job `json:"job"`
}

// do sends a JSON request and decodes a 2xx JSON answer into out (if not
// nil); any other status is an error quoting the answer.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Key "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	_, err = io.Copy(io.Discard, resp.Body) // leave the connection reusable
	return err
}

// execute posts to an execution endpoint and returns the result id, waiting
// for the job (GET /api/jobs/<id>?wait=…) if one comes back instead. It
// reports whether the answer was a job.
func (c *client) execute(ctx context.Context, path string, body any, jobWait time.Duration) (resultID int64, wasJob bool, err error) {
	var ans execAnswer
	if err := c.do(ctx, http.MethodPost, path, body, &ans); err != nil {
		return 0, false, err
	}
	switch {
	case ans.QueryResult != nil:
		return ans.QueryResult.ID, false, nil
	case ans.Job != nil:
		id, err := c.waitJob(ctx, *ans.Job, jobWait)
		return id, true, err
	}
	return 0, false, fmt.Errorf("POST %s: answer has neither query_result nor job", path)
}

// runAdHoc runs SQL through POST /api/query_results with max_age 0 (always
// executes) and the given hybrid wait, and returns the result id. A job is
// polled with the same wait, or 30 s if wait is 0.
func (c *client) runAdHoc(ctx context.Context, dsID int64, sql string, wait time.Duration) (int64, bool, error) {
	jobWait := wait
	if jobWait <= 0 {
		jobWait = 30 * time.Second
	}
	return c.execute(ctx, "/api/query_results", map[string]any{
		"data_source_id": dsID, "query": sql, "max_age": 0, "wait": wait.Seconds(),
	}, jobWait)
}

// waitJob polls GET /api/jobs/<id>?wait=… until the job ends and returns its
// result id; a failed or cancelled job is an error.
func (c *client) waitJob(ctx context.Context, j job, wait time.Duration) (int64, error) {
	for {
		switch j.Status {
		case jobSucceeded:
			if j.QueryResultID == nil {
				return 0, fmt.Errorf("job %s succeeded without a query_result_id", j.ID)
			}
			return *j.QueryResultID, nil
		case jobFailed:
			return 0, fmt.Errorf("job %s failed: %s", j.ID, j.Error)
		case jobCancelled:
			return 0, fmt.Errorf("job %s was cancelled", j.ID)
		}
		var ans struct{ Job *job }
		path := "/api/jobs/" + j.ID + "?wait=" + strconv.FormatFloat(wait.Seconds(), 'f', -1, 64)
		if err := c.do(ctx, http.MethodGet, path, nil, &ans); err != nil {
			return 0, err
		}
		if ans.Job == nil {
			return 0, fmt.Errorf("GET %s: no job in the answer", path)
		}
		j = *ans.Job
	}
}

// createQuery saves a query and returns its id.
func (c *client) createQuery(ctx context.Context, dsID int64, name, sql string) (int64, error) {
	var q struct{ ID int64 }
	err := c.do(ctx, http.MethodPost, "/api/queries", map[string]any{"name": name, "query": sql, "data_source_id": dsID}, &q)
	if err == nil && q.ID == 0 {
		err = errors.New("POST /api/queries: answer has no id")
	}
	return q.ID, err
}

// download streams GET path to nowhere, returning the bytes and newlines read.
func (c *client) download(ctx context.Context, path string) (size, lines int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Key "+c.key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return 0, 0, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(msg))
	}
	buf := make([]byte, 256<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		size += int64(n)
		lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		if rerr == io.EOF {
			return size, lines, nil
		}
		if rerr != nil {
			return size, lines, rerr
		}
	}
}
