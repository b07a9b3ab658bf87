package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

// groupJSON is a group as the API shows it; a single group also lists its
// members and data sources.
type groupJSON struct {
	ID          int64                 `json:"id"`
	Name        string                `json:"name"`
	Type        string                `json:"type"` // "builtin" or "regular", as Redash says
	CreatedAt   string                `json:"created_at"`
	Members     []userRef             `json:"members,omitempty"`
	DataSources []groupDataSourceJSON `json:"data_sources,omitempty"`
}

type groupDataSourceJSON struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	ViewOnly bool   `json:"view_only"`
}

func newGroupJSON(g store.Group) groupJSON {
	typ := "regular"
	if g.Builtin {
		typ = "builtin"
	}
	return groupJSON{ID: g.ID, Name: g.Name, Type: typ, CreatedAt: redashTime(g.CreatedAt)}
}

// listGroups answers GET /api/groups: every group for admins, the caller's
// own for others.
func (s *Server) listGroups(c *echo.Context) error {
	u := currentUser(c)
	var gs []store.Group
	var err error
	if u.IsAdmin {
		gs, err = s.store.Groups(c.Request().Context())
	} else {
		gs, err = s.store.UserGroups(c.Request().Context(), u.ID)
	}
	if err != nil {
		return err
	}
	out := make([]groupJSON, len(gs))
	for i, g := range gs {
		out[i] = newGroupJSON(g)
	}
	return c.JSON(http.StatusOK, out)
}

// loadGroup returns the group named by the id path parameter, if the caller
// is an admin or one of its members; to others it does not exist.
func (s *Server) loadGroup(c *echo.Context) (store.Group, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return store.Group{}, err
	}
	ctx := c.Request().Context()
	g, err := s.store.Group(ctx, id)
	if err == nil && !currentUser(c).IsAdmin {
		var mine []store.Group
		mine, err = s.store.UserGroups(ctx, currentUser(c).ID)
		if err == nil && !containsGroup(mine, id) {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return store.Group{}, notFoundIf(err, "group %d not found", id)
	}
	return g, nil
}

func containsGroup(gs []store.Group, id int64) bool {
	for _, g := range gs {
		if g.ID == id {
			return true
		}
	}
	return false
}

// getGroup answers GET /api/groups/<id> with its members and data sources.
func (s *Server) getGroup(c *echo.Context) error {
	g, err := s.loadGroup(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	members, err := s.store.GroupMembers(ctx, g.ID)
	if err != nil {
		return err
	}
	sources, err := s.store.GroupDataSources(ctx, g.ID)
	if err != nil {
		return err
	}
	out := newGroupJSON(g)
	out.Members = make([]userRef, len(members))
	for i, u := range members {
		out.Members[i] = userRef{ID: u.ID, Name: u.Name, Email: u.Email}
	}
	out.DataSources = make([]groupDataSourceJSON, len(sources))
	for i, d := range sources {
		out.DataSources[i] = groupDataSourceJSON{ID: d.DataSourceID, Name: d.Name, Type: d.Type, ViewOnly: d.ViewOnly}
	}
	return c.JSON(http.StatusOK, out)
}

type groupBody struct {
	Name *string `json:"name"`
}

func (b groupBody) name() (string, error) {
	if b.Name == nil || strings.TrimSpace(*b.Name) == "" {
		return "", badRequest("name is required")
	}
	name := strings.TrimSpace(*b.Name)
	if len(name) > 255 {
		return "", badRequest("name is longer than 255 characters")
	}
	return name, nil
}

// createGroup answers POST /api/groups (admins).
func (s *Server) createGroup(c *echo.Context) error {
	var b groupBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	name, err := b.name()
	if err != nil {
		return err
	}
	g, err := s.store.CreateGroup(c.Request().Context(), name)
	if errors.Is(err, store.ErrConflict) {
		return badRequest("A group named %s already exists.", name)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newGroupJSON(g))
}

// notBuiltin refuses to change the builtin group's name or existence.
func notBuiltin(g store.Group, verb string) error {
	if g.Builtin {
		return badRequest("The builtin group %s cannot be %s.", g.Name, verb)
	}
	return nil
}

// updateGroup answers POST /api/groups/<id> (admins): a rename.
func (s *Server) updateGroup(c *echo.Context) error {
	g, err := s.loadGroup(c)
	if err != nil {
		return err
	}
	var b groupBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	name, err := b.name()
	if err != nil {
		return err
	}
	if err := notBuiltin(g, "renamed"); err != nil {
		return err
	}
	g, err = s.store.RenameGroup(c.Request().Context(), g.ID, name)
	if errors.Is(err, store.ErrConflict) {
		return badRequest("A group named %s already exists.", name)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newGroupJSON(g))
}

// deleteGroup answers DELETE /api/groups/<id> (admins) with 204.
func (s *Server) deleteGroup(c *echo.Context) error {
	g, err := s.loadGroup(c)
	if err != nil {
		return err
	}
	if err := notBuiltin(g, "deleted"); err != nil {
		return err
	}
	if err := s.store.DeleteGroup(c.Request().Context(), g.ID); err != nil {
		return notFoundIf(err, "group %d not found", g.ID)
	}
	s.keys.forget()
	return c.NoContent(http.StatusNoContent)
}

// addGroupMember answers POST /api/groups/<id>/members {"user_id"} (admins).
func (s *Server) addGroupMember(c *echo.Context) error {
	g, err := s.loadGroup(c)
	if err != nil {
		return err
	}
	var b struct {
		UserID int64 `json:"user_id"`
	}
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	if b.UserID <= 0 {
		return badRequest("user_id is required: the id of the user to add")
	}
	ctx := c.Request().Context()
	u, err := s.store.User(ctx, b.UserID)
	if err != nil {
		return notFoundIf(err, "user %d not found", b.UserID)
	}
	if err := s.store.AddGroupMember(ctx, g.ID, u.ID); err != nil {
		return notFoundIf(err, "group %d or user %d not found", g.ID, u.ID)
	}
	s.keys.forget()
	return c.JSON(http.StatusOK, userRef{ID: u.ID, Name: u.Name, Email: u.Email})
}

// removeGroupMember answers DELETE /api/groups/<id>/members/<user_id>
// (admins) with 204.
func (s *Server) removeGroupMember(c *echo.Context) error {
	g, err := s.loadGroup(c)
	if err != nil {
		return err
	}
	uid, err := idParam(c, "user_id")
	if err != nil {
		return err
	}
	if err := s.store.RemoveGroupMember(c.Request().Context(), g.ID, uid); err != nil {
		return notFoundIf(err, "user %d is not a member of group %d", uid, g.ID)
	}
	s.keys.forget()
	return c.NoContent(http.StatusNoContent)
}

// grantDataSource answers POST /api/groups/<id>/data_sources
// {"data_source_id", "view_only"} and POST
// /api/groups/<id>/data_sources/<data_source_id> {"view_only"} (admins):
// the group's members get the data source, view-only or in full.
func (s *Server) grantDataSource(c *echo.Context) error {
	g, err := s.loadGroup(c)
	if err != nil {
		return err
	}
	var b struct {
		DataSourceID int64 `json:"data_source_id"`
		ViewOnly     bool  `json:"view_only"`
	}
	if err := decodeBody(c, &b, c.Param("data_source_id") != ""); err != nil {
		return err
	}
	if c.Param("data_source_id") != "" {
		if b.DataSourceID, err = idParam(c, "data_source_id"); err != nil {
			return err
		}
	}
	if b.DataSourceID <= 0 {
		return badRequest("data_source_id is required: the id of the data source to grant")
	}
	ctx := c.Request().Context()
	ds, err := s.store.DataSource(ctx, b.DataSourceID)
	if err != nil {
		return notFoundIf(err, "data source %d not found", b.DataSourceID)
	}
	if err := s.store.GrantDataSource(ctx, g.ID, ds.ID, b.ViewOnly); err != nil {
		return notFoundIf(err, "group %d or data source %d not found", g.ID, ds.ID)
	}
	s.keys.forget()
	return c.JSON(http.StatusOK, groupDataSourceJSON{ID: ds.ID, Name: ds.Name, Type: ds.Type, ViewOnly: b.ViewOnly})
}

// revokeDataSource answers DELETE
// /api/groups/<id>/data_sources/<data_source_id> (admins) with 204.
func (s *Server) revokeDataSource(c *echo.Context) error {
	g, err := s.loadGroup(c)
	if err != nil {
		return err
	}
	dsID, err := idParam(c, "data_source_id")
	if err != nil {
		return err
	}
	if err := s.store.RevokeDataSource(c.Request().Context(), g.ID, dsID); err != nil {
		return notFoundIf(err, "group %d is not granted data source %d", g.ID, dsID)
	}
	s.keys.forget()
	return c.NoContent(http.StatusNoContent)
}
