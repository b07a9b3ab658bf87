package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"
)

// healthz answers 200 while the process serves requests.
func (s *Server) healthz(c *echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when every dependency answers within 2 s, else 503
// naming the ones that did not (without their error text, which may carry
// addresses; the log has it).
func (s *Server) readyz(c *echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	status, checks := http.StatusOK, make(map[string]string, len(s.checks))
	for _, ch := range s.checks {
		if err := ch.Check(ctx); err != nil {
			status, checks[ch.Name] = http.StatusServiceUnavailable, "unavailable"
			s.log.Warn("readiness check failed", "check", ch.Name, "error", err)
			continue
		}
		checks[ch.Name] = "ok"
	}
	return c.JSON(status, map[string]any{"ready": status == http.StatusOK, "checks": checks})
}
