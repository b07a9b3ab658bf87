package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

// secretMask replaces secret option values in responses; sent back in an
// update, it keeps the stored value.
const secretMask = "--------"

// dataSourceJSON is Redash's data source object.
type dataSourceJSON struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Syntax string `json:"syntax"`
	Paused int    `json:"paused"`
	// ViewOnly is the caller's access: true when their groups grant the
	// data source view-only.
	ViewOnly bool `json:"view_only"`
	// Options and Groups are shown to admins only, secrets masked.
	Options map[string]any `json:"options,omitempty"`
	Groups  map[int64]bool `json:"groups,omitempty"`
}

func (s *Server) newDataSourceJSON(c *echo.Context, ds store.DataSource) (dataSourceJSON, error) {
	k := currentCaller(c)
	out := dataSourceJSON{ID: ds.ID, Name: ds.Name, Type: ds.Type, Syntax: "sql", ViewOnly: k.dataSource(ds.ID) == store.ViewOnly}
	if !k.user.IsAdmin {
		return out, nil
	}
	groups, err := s.store.DataSourceGroups(c.Request().Context(), ds.ID)
	if err != nil {
		return dataSourceJSON{}, err
	}
	out.Groups = groups
	opts := map[string]any{}
	json.Unmarshal(ds.Options, &opts)
	for _, k := range s.types.SecretOptions(ds.Type) {
		if _, ok := opts[k]; ok {
			opts[k] = secretMask
		}
	}
	out.Options = opts
	return out, nil
}

// writeDataSource answers with ds as the caller may see it.
func (s *Server) writeDataSource(c *echo.Context, ds store.DataSource) error {
	out, err := s.newDataSourceJSON(c, ds)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

type dataSourceBody struct {
	Name    *string         `json:"name"`
	Type    *string         `json:"type"`
	Options json.RawMessage `json:"options"`
}

// listDataSources answers GET /api/data_sources, sorted by name.
func (s *Server) listDataSources(c *echo.Context) error {
	all, err := s.store.DataSources(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]dataSourceJSON, 0, len(all))
	k := currentCaller(c)
	for _, ds := range all {
		if k.dataSource(ds.ID) < store.ViewOnly {
			continue
		}
		// Lists never carry options: one query per data source is not
		// worth it, and Redash's list has none either.
		out = append(out, dataSourceJSON{ID: ds.ID, Name: ds.Name, Type: ds.Type, Syntax: "sql",
			ViewOnly: k.dataSource(ds.ID) == store.ViewOnly})
	}
	return c.JSON(http.StatusOK, out)
}

// listDataSourceTypes answers GET /api/data_sources/types.
func (s *Server) listDataSourceTypes(c *echo.Context) error {
	types := s.types.Types()
	out := make([]map[string]string, len(types))
	for i, t := range types {
		out[i] = map[string]string{"type": t, "name": t}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) loadDataSource(c *echo.Context) (store.DataSource, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return store.DataSource{}, err
	}
	ds, err := s.store.DataSource(c.Request().Context(), id)
	if err == nil && currentCaller(c).dataSource(ds.ID) < store.ViewOnly {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.DataSource{}, notFoundIf(err, "data source %d not found", id)
	}
	return ds, nil
}

// getDataSource answers GET /api/data_sources/<id>.
func (s *Server) getDataSource(c *echo.Context) error {
	ds, err := s.loadDataSource(c)
	if err != nil {
		return err
	}
	return s.writeDataSource(c, ds)
}

// createDataSource answers POST /api/data_sources (admins).
func (s *Server) createDataSource(c *echo.Context) error {
	var b dataSourceBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	var ds store.DataSource
	if err := s.applyDataSource(b, &ds); err != nil {
		return err
	}
	created, err := s.store.CreateDataSource(c.Request().Context(), ds.Name, ds.Type, ds.Options)
	if errors.Is(err, store.ErrConflict) {
		return badRequest("Data source with the name %s already exists.", ds.Name)
	}
	if err != nil {
		return err
	}
	s.keys.forget() // the builtin group's members gained it
	return s.writeDataSource(c, created)
}

// updateDataSource answers POST /api/data_sources/<id> (admins). Absent
// fields are unchanged; a secret sent back masked keeps its stored value.
func (s *Server) updateDataSource(c *echo.Context) error {
	ds, err := s.loadDataSource(c)
	if err != nil {
		return err
	}
	var b dataSourceBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	if err := s.applyDataSource(b, &ds); err != nil {
		return err
	}
	name := ds.Name
	ds, err = s.store.UpdateDataSource(c.Request().Context(), ds)
	if errors.Is(err, store.ErrConflict) {
		return badRequest("Data source with the name %s already exists.", name)
	}
	if err != nil {
		return err
	}
	return s.writeDataSource(c, ds)
}

// applyDataSource copies b onto ds, unmasking secrets, and validates it.
func (s *Server) applyDataSource(b dataSourceBody, ds *store.DataSource) error {
	if b.Name != nil {
		ds.Name = strings.TrimSpace(*b.Name)
	}
	if b.Type != nil {
		ds.Type = *b.Type
	}
	if len(b.Options) > 0 && string(b.Options) != "null" {
		var opts map[string]any
		if err := json.Unmarshal(b.Options, &opts); err != nil {
			return badRequest("options must be a JSON object")
		}
		var old map[string]any
		json.Unmarshal(ds.Options, &old)
		for _, k := range s.types.SecretOptions(ds.Type) {
			if opts[k] == secretMask {
				if v, ok := old[k]; ok {
					opts[k] = v
				} else {
					delete(opts, k)
				}
			}
		}
		merged, err := json.Marshal(opts)
		if err != nil {
			return err
		}
		ds.Options = merged
	}
	switch {
	case ds.Name == "":
		return badRequest("name is required")
	case ds.Type == "":
		return badRequest("type is required: one of %s", strings.Join(s.types.Types(), ", "))
	case !slices.Contains(s.types.Types(), ds.Type):
		return badRequest("unknown data source type %q: use one of %s", ds.Type, strings.Join(s.types.Types(), ", "))
	case len(ds.Options) == 0:
		ds.Options = json.RawMessage("{}")
	}
	if err := s.types.ValidateOptions(ds.Type, ds.Options); err != nil {
		return badRequest("invalid options: %s", err.Error())
	}
	if _, err := ds.MaxConcurrentQueries(); err != nil {
		return badRequest("invalid options: %s", err.Error())
	}
	return nil
}

// deleteDataSource answers DELETE /api/data_sources/<id> (admins) with 204.
func (s *Server) deleteDataSource(c *echo.Context) error {
	ds, err := s.loadDataSource(c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteDataSource(c.Request().Context(), ds.ID); err != nil {
		return notFoundIf(err, "data source %d not found", ds.ID)
	}
	return c.NoContent(http.StatusNoContent)
}

// testDataSource answers POST /api/data_sources/<id>/test (admins) with
// {"ok", "message"}: "success", or what went wrong connecting.
func (s *Server) testDataSource(c *echo.Context) error {
	ds, err := s.loadDataSource(c)
	if err != nil {
		return err
	}
	if err := s.types.Test(c.Request().Context(), ds.Type, ds.Options); err != nil {
		return c.JSON(http.StatusOK, map[string]any{"ok": false, "message": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "message": "success"})
}
