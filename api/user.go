package api

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

// userJSON is a user as the API shows it. APIKey is set only in the answer
// that creates the key: it is never stored in clear, so never shown again.
type userJSON struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	Email      string  `json:"email"`
	IsAdmin    bool    `json:"is_admin"`
	Groups     []int64 `json:"groups"`
	IsDisabled bool    `json:"is_disabled"`
	DisabledAt *string `json:"disabled_at"`
	CreatedAt  string  `json:"created_at"`
	APIKey     string  `json:"api_key,omitempty"`
}

// userRef is the short form of a user nested in other objects.
type userRef struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

func (s *Server) newUserJSON(ctx context.Context, u store.User) (userJSON, error) {
	groups, err := s.store.UserGroups(ctx, u.ID)
	if err != nil {
		return userJSON{}, err
	}
	out := userJSON{ID: u.ID, Name: u.Name, Email: u.Email, IsAdmin: u.IsAdmin, Groups: make([]int64, len(groups)),
		IsDisabled: u.DisabledAt != nil, CreatedAt: redashTime(u.CreatedAt)}
	for i, g := range groups {
		out.Groups[i] = g.ID
	}
	if u.DisabledAt != nil {
		t := redashTime(*u.DisabledAt)
		out.DisabledAt = &t
	}
	return out, nil
}

// writeUser answers with u, and key when it was just made.
func (s *Server) writeUser(c *echo.Context, u store.User, key string) error {
	out, err := s.newUserJSON(c.Request().Context(), u)
	if err != nil {
		return err
	}
	out.APIKey = key
	return c.JSON(http.StatusOK, out)
}

// userBody is the body of create and update; absent fields are unchanged.
type userBody struct {
	Name    *string `json:"name"`
	Email   *string `json:"email"`
	IsAdmin *bool   `json:"is_admin"`
}

// apply copies b onto u and checks it.
func (b userBody) apply(u *store.User) error {
	if b.Name != nil {
		u.Name = strings.TrimSpace(*b.Name)
	}
	if b.Email != nil {
		u.Email = strings.TrimSpace(*b.Email)
	}
	if b.IsAdmin != nil {
		u.IsAdmin = *b.IsAdmin
	}
	if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email {
		return badRequest("email %q is not an e-mail address", u.Email)
	}
	if len(u.Name) > 255 {
		return badRequest("name is longer than 255 characters")
	}
	return nil
}

// listUsers answers GET /api/users: every user, by name.
func (s *Server) listUsers(c *echo.Context) error {
	users, err := s.store.Users(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]userJSON, len(users))
	for i, u := range users {
		if out[i], err = s.newUserJSON(c.Request().Context(), u); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, out)
}

// createUser answers POST /api/users (admins) with the new user and its API
// key, shown this once.
func (s *Server) createUser(c *echo.Context) error {
	var b userBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	var u store.User
	if b.Email == nil {
		return badRequest("email is required")
	}
	if err := b.apply(&u); err != nil {
		return err
	}
	u, key, err := s.store.CreateUser(c.Request().Context(), u.Email, u.Name, u.IsAdmin)
	if errors.Is(err, store.ErrConflict) {
		return badRequest("Email %s is already taken.", *b.Email)
	}
	if err != nil {
		return err
	}
	return s.writeUser(c, u, key)
}

// loadUser returns the user named by the id path parameter.
func (s *Server) loadUser(c *echo.Context) (store.User, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return store.User{}, err
	}
	u, err := s.store.User(c.Request().Context(), id)
	if err != nil {
		return store.User{}, notFoundIf(err, "user %d not found", id)
	}
	return u, nil
}

// selfOrAdmin checks the caller is user id or an admin.
func selfOrAdmin(c *echo.Context, id int64) error {
	if u := currentUser(c); u.IsAdmin || u.ID == id {
		return nil
	}
	return forbidden("Only admins may change other users.")
}

// getUser answers GET /api/users/<id>.
func (s *Server) getUser(c *echo.Context) error {
	u, err := s.loadUser(c)
	if err != nil {
		return err
	}
	return s.writeUser(c, u, "")
}

// updateUser answers POST /api/users/<id>: users change their own name and
// email; admins anyone's, and who is an admin.
func (s *Server) updateUser(c *echo.Context) error {
	u, err := s.loadUser(c)
	if err != nil {
		return err
	}
	if err := selfOrAdmin(c, u.ID); err != nil {
		return err
	}
	var b userBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	me := currentUser(c)
	if b.IsAdmin != nil && *b.IsAdmin != u.IsAdmin {
		if !me.IsAdmin {
			return forbidden("Only admins may make or unmake admins.")
		}
		if u.ID == me.ID {
			return badRequest("You cannot change whether you are an admin yourself: ask another admin.")
		}
	}
	if err := b.apply(&u); err != nil {
		return err
	}
	u, err = s.store.UpdateUser(c.Request().Context(), u)
	if errors.Is(err, store.ErrConflict) {
		return badRequest("Email %s is already taken.", *b.Email)
	}
	if err != nil {
		return err
	}
	s.keys.forget()
	return s.writeUser(c, u, "")
}

// disableUser answers POST /api/users/<id>/disable (admins): the user's API
// keys stop working. DELETE on the same path enables the user again.
func (s *Server) disableUser(c *echo.Context) error {
	u, err := s.loadUser(c)
	if err != nil {
		return err
	}
	disable := c.Request().Method == http.MethodPost
	if disable && u.ID == currentUser(c).ID {
		return badRequest("You cannot disable yourself: ask another admin.")
	}
	u, err = s.store.SetUserDisabled(c.Request().Context(), u.ID, disable)
	if err != nil {
		return notFoundIf(err, "user %d not found", u.ID)
	}
	s.keys.forget()
	return s.writeUser(c, u, "")
}

// regenerateUserAPIKey answers POST /api/users/<id>/regenerate_api_key (the
// user or an admin): every key of the user is replaced by a new one, shown
// this once.
func (s *Server) regenerateUserAPIKey(c *echo.Context) error {
	u, err := s.loadUser(c)
	if err != nil {
		return err
	}
	if err := selfOrAdmin(c, u.ID); err != nil {
		return err
	}
	key, err := s.store.RegenerateAPIKey(c.Request().Context(), u.ID)
	if err != nil {
		return notFoundIf(err, "user %d not found", u.ID)
	}
	s.keys.forget()
	return s.writeUser(c, u, key)
}

// getSession answers GET /api/session: who the caller is, their groups and
// the data sources those grant; for a query or dashboard key, what it reads.
func (s *Server) getSession(c *echo.Context) error {
	k := currentCaller(c)
	if k.isKey() {
		key := map[string]any{"kind": "query", "query_id": k.queryID}
		if k.dashboardID != 0 {
			key = map[string]any{"kind": "dashboard", "dashboard_id": k.dashboardID}
		}
		return c.JSON(http.StatusOK, map[string]any{"user": nil, "api_key": key})
	}
	u, err := s.newUserJSON(c.Request().Context(), k.user)
	if err != nil {
		return err
	}
	access := make(map[int64]string, len(k.access))
	for id, a := range k.access {
		access[id] = map[store.Access]string{store.ViewOnly: "view_only", store.FullAccess: "full"}[a]
	}
	return c.JSON(http.StatusOK, map[string]any{"user": u, "data_sources": access})
}
