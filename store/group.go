package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Access is what a user may do with a data source, through their groups.
type Access int8

const (
	// NoAccess: the data source, its queries, results and jobs do not exist
	// for the user.
	NoAccess Access = iota
	// ViewOnly: may read results and run saved queries that are safe (no
	// text parameter); may not run ad hoc SQL or edit queries.
	ViewOnly
	// FullAccess: may run anything on it.
	FullAccess
)

// Group grants its members access to data sources. The builtin group
// "default" holds every new user and is granted every new data source in
// full; it cannot be renamed or deleted.
type Group struct {
	ID        int64
	Name      string
	Builtin   bool
	CreatedAt time.Time
}

// GroupDataSource is a data source granted to a group.
type GroupDataSource struct {
	DataSourceID int64
	Name         string
	Type         string
	ViewOnly     bool
}

const groupColumns = `groups.id, groups.name, groups.builtin, groups.created_at`

func scanGroup(row pgx.Row) (Group, error) {
	var g Group
	err := row.Scan(&g.ID, &g.Name, &g.Builtin, &g.CreatedAt)
	return g, err
}

func collectGroups(rows pgx.Rows, err error) ([]Group, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Group, error) { return scanGroup(row) })
}

// CreateGroup records a group. A name already taken, compared
// case-insensitively, gives ErrConflict.
func (s *Store) CreateGroup(ctx context.Context, name string) (Group, error) {
	g, err := scanGroup(s.pool.QueryRow(ctx, `INSERT INTO groups (name) VALUES ($1) RETURNING `+groupColumns, name))
	if pgCode(err) == uniqueViolation {
		return Group{}, fmt.Errorf("create group: name %q is already taken: %w", name, ErrConflict)
	}
	if err != nil {
		return Group{}, fmt.Errorf("create group %q: %w", name, err)
	}
	return g, nil
}

// Group returns the group with id. Missing gives ErrNotFound.
func (s *Store) Group(ctx context.Context, id int64) (Group, error) {
	g, err := scanGroup(s.pool.QueryRow(ctx, `SELECT `+groupColumns+` FROM groups WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Group{}, fmt.Errorf("group %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Group{}, fmt.Errorf("group %d: %w", id, err)
	}
	return g, nil
}

// Groups returns every group, the builtin one first, then by name.
func (s *Store) Groups(ctx context.Context) ([]Group, error) {
	gs, err := collectGroups(s.pool.Query(ctx, `SELECT `+groupColumns+` FROM groups ORDER BY builtin DESC, lower(name), id`))
	if err != nil {
		return nil, fmt.Errorf("groups: %w", err)
	}
	return gs, nil
}

// UserGroups returns the groups user id belongs to, ordered as Groups.
func (s *Store) UserGroups(ctx context.Context, userID int64) ([]Group, error) {
	gs, err := collectGroups(s.pool.Query(ctx, `
		SELECT `+groupColumns+` FROM groups JOIN group_members m ON m.group_id = groups.id
		WHERE m.user_id = $1 ORDER BY groups.builtin DESC, lower(groups.name), groups.id`, userID))
	if err != nil {
		return nil, fmt.Errorf("groups of user %d: %w", userID, err)
	}
	return gs, nil
}

// RenameGroup renames group id. A builtin group gives ErrConflict, a name
// already taken ErrConflict, a missing group ErrNotFound.
func (s *Store) RenameGroup(ctx context.Context, id int64, name string) (Group, error) {
	g, err := scanGroup(s.pool.QueryRow(ctx, `
		UPDATE groups SET name = $2 WHERE id = $1 AND NOT builtin RETURNING `+groupColumns, id, name))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Group{}, s.groupMissingOrBuiltin(ctx, id, "rename")
	case pgCode(err) == uniqueViolation:
		return Group{}, fmt.Errorf("rename group %d: name %q is already taken: %w", id, name, ErrConflict)
	case err != nil:
		return Group{}, fmt.Errorf("rename group %d: %w", id, err)
	}
	return g, nil
}

// DeleteGroup deletes group id; its members and data sources lose what it
// granted. A builtin group gives ErrConflict, a missing one ErrNotFound.
func (s *Store) DeleteGroup(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM groups WHERE id = $1 AND NOT builtin`, id)
	if err != nil {
		return fmt.Errorf("delete group %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return s.groupMissingOrBuiltin(ctx, id, "delete")
	}
	return nil
}

// groupMissingOrBuiltin explains why a guarded change of group id touched
// nothing.
func (s *Store) groupMissingOrBuiltin(ctx context.Context, id int64, verb string) error {
	g, err := s.Group(ctx, id)
	if err != nil {
		return fmt.Errorf("%s group: %w", verb, err)
	}
	return fmt.Errorf("%s group %d: %q is builtin: %w", verb, id, g.Name, ErrConflict)
}

// AddGroupMember puts user userID in group groupID; adding a member twice
// does nothing. A missing group or user gives ErrNotFound.
func (s *Store) AddGroupMember(ctx context.Context, groupID, userID int64) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		groupID, userID)
	if pgCode(err) == foreignKeyViolation {
		return fmt.Errorf("add user %d to group %d: %w", userID, groupID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("add user %d to group %d: %w", userID, groupID, err)
	}
	return nil
}

// RemoveGroupMember takes user userID out of group groupID. A user not in
// the group gives ErrNotFound.
func (s *Store) RemoveGroupMember(ctx context.Context, groupID, userID int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM group_members WHERE group_id = $1 AND user_id = $2`, groupID, userID)
	if err != nil {
		return fmt.Errorf("remove user %d from group %d: %w", userID, groupID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("remove user %d from group %d: %w", userID, groupID, ErrNotFound)
	}
	return nil
}

// GroupMembers returns the members of group id, by name.
func (s *Store) GroupMembers(ctx context.Context, id int64) ([]User, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+userColumns+` FROM users JOIN group_members m ON m.user_id = users.id
		WHERE m.group_id = $1 ORDER BY lower(users.name), users.id`, id)
	if err != nil {
		return nil, fmt.Errorf("members of group %d: %w", id, err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (User, error) { return scanUser(row) })
	if err != nil {
		return nil, fmt.Errorf("members of group %d: %w", id, err)
	}
	return users, nil
}

// GrantDataSource gives group groupID access to data source dsID, view-only
// or full, replacing what it had. A missing group or data source gives
// ErrNotFound.
func (s *Store) GrantDataSource(ctx context.Context, groupID, dsID int64, viewOnly bool) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO data_source_groups (data_source_id, group_id, view_only) VALUES ($1, $2, $3)
		ON CONFLICT (data_source_id, group_id) DO UPDATE SET view_only = EXCLUDED.view_only`, dsID, groupID, viewOnly)
	if pgCode(err) == foreignKeyViolation {
		return fmt.Errorf("grant data source %d to group %d: %w", dsID, groupID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("grant data source %d to group %d: %w", dsID, groupID, err)
	}
	return nil
}

// RevokeDataSource takes data source dsID from group groupID. A grant that
// does not exist gives ErrNotFound.
func (s *Store) RevokeDataSource(ctx context.Context, groupID, dsID int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM data_source_groups WHERE data_source_id = $1 AND group_id = $2`, dsID, groupID)
	if err != nil {
		return fmt.Errorf("revoke data source %d from group %d: %w", dsID, groupID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke data source %d from group %d: %w", dsID, groupID, ErrNotFound)
	}
	return nil
}

// GroupDataSources returns the data sources granted to group id, by name.
func (s *Store) GroupDataSources(ctx context.Context, id int64) ([]GroupDataSource, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT d.id, d.name, d.type, g.view_only FROM data_source_groups g JOIN data_sources d ON d.id = g.data_source_id
		WHERE g.group_id = $1 ORDER BY lower(d.name), d.id`, id)
	if err != nil {
		return nil, fmt.Errorf("data sources of group %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (GroupDataSource, error) {
		var d GroupDataSource
		err := row.Scan(&d.DataSourceID, &d.Name, &d.Type, &d.ViewOnly)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("data sources of group %d: %w", id, err)
	}
	return out, nil
}

// DataSourceGroups returns the groups granted data source id: group id →
// view_only, Redash's "groups" of a data source.
func (s *Store) DataSourceGroups(ctx context.Context, id int64) (map[int64]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT group_id, view_only FROM data_source_groups WHERE data_source_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("groups of data source %d: %w", id, err)
	}
	out := make(map[int64]bool)
	var gid int64
	var viewOnly bool
	_, err = pgx.ForEachRow(rows, []any{&gid, &viewOnly}, func() error { out[gid] = viewOnly; return nil })
	if err != nil {
		return nil, fmt.Errorf("groups of data source %d: %w", id, err)
	}
	return out, nil
}

// DataSourceAccess returns, for each data source user userID's groups grant,
// the best access among them: full if any group grants it in full. Data
// sources absent from the map are NoAccess. It does not look at is_admin.
func (s *Store) DataSourceAccess(ctx context.Context, userID int64) (map[int64]Access, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT g.data_source_id, bool_and(g.view_only)
		FROM data_source_groups g JOIN group_members m ON m.group_id = g.group_id
		WHERE m.user_id = $1 GROUP BY g.data_source_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("data source access of user %d: %w", userID, err)
	}
	out := make(map[int64]Access)
	var dsID int64
	var viewOnly bool
	_, err = pgx.ForEachRow(rows, []any{&dsID, &viewOnly}, func() error {
		out[dsID] = FullAccess
		if viewOnly {
			out[dsID] = ViewOnly
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("data source access of user %d: %w", userID, err)
	}
	return out, nil
}
