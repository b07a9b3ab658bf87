package api

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

// jobJSON is Redash's job object.
type jobJSON struct {
	ID            string `json:"id"`
	Status        int    `json:"status"`
	Error         string `json:"error"`
	QueryResultID *int64 `json:"query_result_id"`
	Result        *int64 `json:"result"`
	UpdatedAt     string `json:"updated_at"`
}

// newJobJSON shows j, its status as the configuration says.
func (s *Server) newJobJSON(j store.Job) jobJSON {
	status := int(j.Status)
	if j.Status == store.JobCancelled && s.cfg.CancelledStatus != 0 {
		status = s.cfg.CancelledStatus
	}
	return jobJSON{
		ID:            j.ID,
		Status:        status,
		Error:         j.Error,
		QueryResultID: j.QueryResultID,
		Result:        j.QueryResultID,
		UpdatedAt:     redashTime(j.UpdatedAt),
	}
}

// loadJob returns the job named by the path parameter name, if the caller
// may see it. On /api/queries/<id>/jobs/<jid> the job must belong to query id.
func (s *Server) loadJob(c *echo.Context, name string) (store.Job, error) {
	ctx := c.Request().Context()
	id := c.Param(name)
	job, err := s.store.Job(ctx, id)
	var q *store.Query
	if err == nil && name == "jid" {
		var found store.Query
		qid, perr := idParam(c, "id")
		if perr == nil {
			found, err = s.store.Query(ctx, qid)
			q = &found
		}
		if perr != nil || job.QueryID == nil || *job.QueryID != qid {
			err = store.ErrNotFound
		}
	}
	if err == nil && !currentCaller(c).canSeeJob(job, q) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Job{}, notFoundIf(err, "job %q not found", id)
	}
	return job, nil
}

// getJob answers GET /api/jobs/<id> and /api/queries/<qid>/jobs/<id>, with
// an optional hybrid wait (?wait=seconds) for the job to end.
func (s *Server) getJob(c *echo.Context) error {
	name := "id"
	if c.Param("jid") != "" {
		name = "jid"
	}
	wait, err := s.parseWait(c.QueryParam("wait"))
	if err != nil {
		return err
	}
	job, err := s.loadJob(c, name)
	if err != nil {
		return err
	}
	job, err = s.waitForJob(c.Request().Context(), job, wait)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"job": s.newJobJSON(job)})
}

// cancelJob answers DELETE /api/jobs/<id>: a pending job never runs; a
// running one has its statement cancelled in the warehouse by its worker and
// ends in status 5. The answer is the job as it stands after the request.
func (s *Server) cancelJob(c *echo.Context) error {
	job, err := s.loadJob(c, "id")
	if err != nil {
		return err
	}
	if err := currentCaller(c).mayCancelJob(job); err != nil {
		return err
	}
	job, err = s.store.RequestCancel(c.Request().Context(), job.ID)
	if err != nil {
		return notFoundIf(err, "job %q not found", c.Param("id"))
	}
	return c.JSON(http.StatusOK, map[string]any{"job": s.newJobJSON(job)})
}
