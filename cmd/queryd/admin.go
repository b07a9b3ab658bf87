package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/queryd/queryd/store"
)

func usersCreate(ctx context.Context, a *app, args []string, stdout io.Writer) error {
	fs := newFlags("users create")
	email := fs.String("email", "", "the user's email")
	name := fs.String("name", "", "the user's name (default: the email's local part)")
	admin := fs.Bool("admin", false, "make the user an admin")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("users create: %w", err)
	}
	if !strings.Contains(*email, "@") {
		return errors.New("users create: --email must be an email address")
	}
	u, key, err := a.store.CreateUser(ctx, *email, *name, *admin)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("users create: a user with email %s exists (use 'queryd users key --email %s' for a new key)", *email, *email)
	}
	if err != nil {
		return fmt.Errorf("users create: %w", err)
	}
	fmt.Fprintf(stdout, "created user %d (%s, admin=%t); API key:\n%s\n", u.ID, u.Email, u.IsAdmin, key)
	a.auditCLI(ctx, "queryd users create", "user", u.ID, map[string]any{"email": u.Email, "is_admin": u.IsAdmin})
	return nil
}

func usersKey(ctx context.Context, a *app, args []string, stdout io.Writer) error {
	fs := newFlags("users key")
	email := fs.String("email", "", "the user's email")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("users key: %w", err)
	}
	u, key, err := a.store.CreateAPIKey(ctx, *email)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("users key: no user with email %q", *email)
	}
	if err != nil {
		return fmt.Errorf("users key: %w", err)
	}
	fmt.Fprintf(stdout, "new API key for user %d (%s):\n%s\n", u.ID, u.Email, key)
	a.auditCLI(ctx, "queryd users key", "user", u.ID, nil)
	return nil
}

func dataSourcesCreate(ctx context.Context, a *app, args []string, stdout io.Writer) error {
	fs := newFlags("datasources create")
	name := fs.String("name", "", "the data source's name")
	typ := fs.String("type", "", "its type: "+strings.Join(a.registry.Types(), ", "))
	options := fs.String("options", "{}", "its options, a JSON object")
	orUpdate := fs.Bool("or-update", false, "update the data source if one has this name")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("datasources create: %w", err)
	}
	if *name == "" {
		return errors.New("datasources create: --name is required")
	}
	opts := json.RawMessage(*options)
	if err := a.registry.ValidateOptions(*typ, opts); err != nil {
		return fmt.Errorf("datasources create: %w", err)
	}
	ds, err := a.store.CreateDataSource(ctx, *name, *typ, opts)
	updated := false
	if errors.Is(err, store.ErrConflict) && *orUpdate {
		ds, err = updateDataSourceByName(ctx, a, *name, *typ, opts)
		updated = true
	}
	if err != nil {
		return fmt.Errorf("datasources create: %w", err)
	}
	fmt.Fprintf(stdout, "data source %q (%s) has id:\n%d\n", ds.Name, ds.Type, ds.ID)
	a.auditCLI(ctx, "queryd datasources create", "data_source", ds.ID,
		map[string]any{"name": ds.Name, "type": ds.Type, "updated": updated})
	return nil
}

func updateDataSourceByName(ctx context.Context, a *app, name, typ string, opts json.RawMessage) (store.DataSource, error) {
	all, err := a.store.DataSources(ctx)
	if err != nil {
		return store.DataSource{}, err
	}
	for _, ds := range all {
		if ds.Name == name {
			ds.Type, ds.Options = typ, opts
			return a.store.UpdateDataSource(ctx, ds)
		}
	}
	return store.DataSource{}, store.ErrNotFound
}

// auditCLI records in the audit log that an operator's command changed
// object id of objectType; details must hold no secret (never a key, a
// password or data source options). The change is made and reported by
// then, so a failure to record it is logged at error level, not returned.
func (a *app) auditCLI(ctx context.Context, action, objectType string, id int64, details map[string]any) {
	e := store.AuditEntry{ActorKind: store.ActorCLI, Action: action, ObjectType: objectType,
		ObjectID: strconv.FormatInt(id, 10), Outcome: "succeeded"}
	if objectType == "data_source" {
		e.DataSourceID = &id
	}
	if details != nil {
		e.Details, _ = json.Marshal(details)
	}
	if err := a.store.RecordAudit(ctx, e); err != nil {
		a.log.Error("record audit entry", "error", err, "action", action)
	}
}
