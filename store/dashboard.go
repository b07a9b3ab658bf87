package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Dashboard lays out widgets (see Widget).
type Dashboard struct {
	ID int64
	// Slug is derived from Name (see CreateDashboard) and follows renames.
	Slug   string
	Name   string
	UserID int64
	// User is the owner, as every read returns it.
	User User
	// Layout is JSON, the client's; empty stores []. Options is a JSON
	// object, the client's; empty stores {}. Both come back as PostgreSQL's
	// jsonb writes them.
	Layout                  json.RawMessage
	Options                 json.RawMessage
	DashboardFiltersEnabled bool
	Tags                    []string
	// IsArchived dashboards are hidden from lists and their key stops working.
	IsArchived bool
	IsDraft    bool
	// Version counts saved edits, for optimistic locking of updates.
	Version int
	// APIKey reads this dashboard and runs its widgets' safe queries; "" while
	// the dashboard is not shared.
	APIKey string
	// RefreshSchedule is the refresh schedule as JSON, nil for none.
	RefreshSchedule json.RawMessage
	// RefreshFailures counts scheduled refreshes that failed in a row.
	RefreshFailures int
	// LastRefreshRunAt is when the dashboard's last scheduled refresh
	// started, as every read returns it; zero if none did. Writes ignore it.
	LastRefreshRunAt time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// DashboardFilter selects the dashboards Dashboards returns: those not
// archived whose name contains Search (case-insensitively) and that have
// every tag of Tags, newest first, page Page (from 1) of PageSize.
type DashboardFilter struct {
	Search   string
	Tags     []string
	Page     int // < 1 is 1
	PageSize int // < 1: all on one page
}

const dashboardColumns = `dashboards.id, dashboards.slug, dashboards.name, dashboards.user_id, dashboards.layout,
	dashboards.options, dashboards.dashboard_filters_enabled, dashboards.tags, dashboards.is_archived,
	dashboards.is_draft, dashboards.version, dashboards.api_key_sealed, dashboards.refresh_schedule,
	dashboards.refresh_failures, dashboards.created_at, dashboards.updated_at,
	(SELECT started_at FROM schedule_runs WHERE kind = 'dashboard' AND object_id = dashboards.id
		ORDER BY started_at DESC LIMIT 1), ` + userColumns

// dashboardFrom joins each dashboard to its owner; name a CTE "dashboards"
// to read rows an UPDATE returns the same way.
const dashboardFrom = ` dashboards JOIN users ON users.id = dashboards.user_id`

func (s *Store) scanDashboard(row pgx.Row) (Dashboard, error) {
	var d Dashboard
	var sealedKey []byte
	var lastRun *time.Time
	u := &d.User
	err := row.Scan(&d.ID, &d.Slug, &d.Name, &d.UserID, &d.Layout, &d.Options, &d.DashboardFiltersEnabled,
		&d.Tags, &d.IsArchived, &d.IsDraft, &d.Version, &sealedKey, &d.RefreshSchedule, &d.RefreshFailures,
		&d.CreatedAt, &d.UpdatedAt, &lastRun, &u.ID, &u.Email, &u.Name, &u.IsAdmin, &u.DisabledAt, &u.CreatedAt)
	if lastRun != nil {
		d.LastRefreshRunAt = *lastRun
	}
	if err != nil || sealedKey == nil {
		return d, err
	}
	key, err := s.sealer.open(sealedKey)
	if err != nil {
		return Dashboard{}, fmt.Errorf("api key of dashboard %d: %w", d.ID, err)
	}
	d.APIKey = string(key)
	return d, nil
}

// dashboardJSON returns d's layout and options as the text to store,
// checking that they are JSON.
func dashboardJSON(d Dashboard) (layout, options string, err error) {
	layout = "[]"
	if len(d.Layout) > 0 {
		if !json.Valid(d.Layout) {
			return "", "", errors.New("layout is not JSON")
		}
		layout = string(d.Layout)
	}
	options, err = jsonObject(d.Options, "options")
	if err != nil {
		return "", "", err
	}
	if len(d.RefreshSchedule) > 0 && !json.Valid(d.RefreshSchedule) {
		return "", "", errors.New("refresh schedule is not JSON")
	}
	return layout, options, nil
}

// nullJSON is raw as a jsonb parameter: nil (SQL NULL) when empty or null.
func nullJSON(raw json.RawMessage) *string {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	s := string(raw)
	return &s
}

// Slugify is the slug of a dashboard named name: its letters a-z (lower-cased)
// and digits 0-9, with every run of anything else between them turned into
// one "-"; "dashboard" if that leaves nothing.
func Slugify(name string) string {
	var b strings.Builder
	gap := false
	for _, r := range strings.ToLower(name) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			if gap && b.Len() > 0 {
				b.WriteByte('-')
			}
			gap = false
			b.WriteRune(r)
			continue
		}
		gap = true
	}
	if b.Len() == 0 {
		return "dashboard"
	}
	return b.String()
}

// claimSlug returns the slug dashboard id gets for name inside tx: Slugify's,
// or, while another dashboard (archived or not) has it, that with "-<id>"
// appended. Claims of one slug wait for each other until tx ends.
func claimSlug(ctx context.Context, tx pgx.Tx, name string, id int64) (string, error) {
	slug := Slugify(name)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('queryd dashboard slug ' || $1))`, slug); err != nil {
		return "", err
	}
	for {
		var taken bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dashboards WHERE slug = $1 AND id <> $2)`, slug, id).Scan(&taken)
		if err != nil || !taken {
			return slug, err
		}
		slug += "-" + strconv.FormatInt(id, 10)
	}
}

// CreateDashboard records d, a draft unless told otherwise, with a slug
// made from its name (see claimSlug). Its ID, Slug, Version, APIKey,
// RefreshFailures, IsArchived, User and timestamps are ignored. A missing
// user gives ErrNotFound.
func (s *Store) CreateDashboard(ctx context.Context, d Dashboard) (Dashboard, error) {
	layout, options, err := dashboardJSON(d)
	if err != nil {
		return Dashboard{}, fmt.Errorf("create dashboard: %w", err)
	}
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	var created Dashboard
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('dashboards', 'id'))`).Scan(&id); err != nil {
			return err
		}
		slug, err := claimSlug(ctx, tx, d.Name, id)
		if err != nil {
			return err
		}
		created, err = s.scanDashboard(tx.QueryRow(ctx, `
			WITH dashboards AS (
				INSERT INTO dashboards (id, slug, name, user_id, layout, options, dashboard_filters_enabled, tags,
					is_draft, refresh_schedule)
				VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10::jsonb)
				RETURNING *)
			SELECT `+dashboardColumns+` FROM`+dashboardFrom,
			id, slug, d.Name, d.UserID, layout, options, d.DashboardFiltersEnabled, tags, d.IsDraft,
			nullJSON(d.RefreshSchedule)))
		return err
	})
	if pgCode(err) == foreignKeyViolation {
		return Dashboard{}, fmt.Errorf("create dashboard: no user %d: %w", d.UserID, ErrNotFound)
	}
	if err != nil {
		return Dashboard{}, fmt.Errorf("create dashboard: %w", err)
	}
	return created, nil
}

// Dashboard returns the dashboard with id, archived or not. Missing gives
// ErrNotFound.
func (s *Store) Dashboard(ctx context.Context, id int64) (Dashboard, error) {
	d, err := s.scanDashboard(s.pool.QueryRow(ctx,
		`SELECT `+dashboardColumns+` FROM`+dashboardFrom+` WHERE dashboards.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Dashboard{}, fmt.Errorf("dashboard %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard %d: %w", id, err)
	}
	return d, nil
}

// DashboardBySlug returns the dashboard with slug: of several, one not
// archived before archived ones, and then the newest. Missing gives
// ErrNotFound.
func (s *Store) DashboardBySlug(ctx context.Context, slug string) (Dashboard, error) {
	d, err := s.scanDashboard(s.pool.QueryRow(ctx, `
		SELECT `+dashboardColumns+` FROM`+dashboardFrom+` WHERE dashboards.slug = $1
		ORDER BY dashboards.is_archived, dashboards.created_at DESC, dashboards.id DESC
		LIMIT 1`, slug))
	if errors.Is(err, pgx.ErrNoRows) {
		return Dashboard{}, fmt.Errorf("dashboard %q: %w", slug, ErrNotFound)
	}
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard %q: %w", slug, err)
	}
	return d, nil
}

// Dashboards returns the page of dashboards f selects and how many it
// selects in all.
func (s *Store) Dashboards(ctx context.Context, f DashboardFilter) ([]Dashboard, int, error) {
	where := ` WHERE NOT dashboards.is_archived
		AND ($1 = '' OR dashboards.name ILIKE '%' || $1 || '%')
		AND dashboards.tags @> $2::text[]`
	search := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Search)
	tags := f.Tags
	if tags == nil {
		tags = []string{}
	}
	var count int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dashboards`+where, search, tags).Scan(&count); err != nil {
		return nil, 0, fmt.Errorf("count dashboards: %w", err)
	}
	limit, offset := "ALL", 0
	if f.PageSize > 0 {
		limit = strconv.Itoa(f.PageSize)
		offset = math.MaxInt // pages past any count: none
		if page := max(f.Page, 1); page-1 <= math.MaxInt/f.PageSize {
			offset = (page - 1) * f.PageSize
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT `+dashboardColumns+` FROM`+dashboardFrom+where+`
		ORDER BY dashboards.created_at DESC, dashboards.id DESC
		LIMIT `+limit+` OFFSET $3`, search, tags, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("dashboards: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Dashboard, error) { return s.scanDashboard(row) })
	if err != nil {
		return nil, 0, fmt.Errorf("dashboards: %w", err)
	}
	return all, count, nil
}

// UpdateDashboard sets the name (moving the slug with it, see
// claimSlug), layout, options, dashboard_filters_enabled, tags, is_draft,
// is_archived and refresh_schedule of dashboard d.ID, provided its version is
// still d.Version, and bumps its version and updated_at. A changed refresh
// schedule starts its failure count over. A stale d.Version gives
// ErrConflict; a missing dashboard ErrNotFound.
func (s *Store) UpdateDashboard(ctx context.Context, d Dashboard) (Dashboard, error) {
	layout, options, err := dashboardJSON(d)
	if err != nil {
		return Dashboard{}, fmt.Errorf("update dashboard %d: %w", d.ID, err)
	}
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	var updated Dashboard
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var name, slug string
		var version int
		err := tx.QueryRow(ctx, `SELECT name, slug, version FROM dashboards WHERE id = $1 FOR UPDATE`, d.ID).
			Scan(&name, &slug, &version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		case version != d.Version:
			return fmt.Errorf("version %d is stale, the dashboard is at %d: %w", d.Version, version, ErrConflict)
		}
		if d.Name != name {
			if slug, err = claimSlug(ctx, tx, d.Name, d.ID); err != nil {
				return err
			}
		}
		updated, err = s.scanDashboard(tx.QueryRow(ctx, `
			WITH dashboards AS (
				UPDATE dashboards SET name = $2, slug = $3, layout = $4::jsonb, options = $5::jsonb,
					dashboard_filters_enabled = $6, tags = $7, is_draft = $8, is_archived = $9,
					refresh_failures = CASE WHEN refresh_schedule IS NOT DISTINCT FROM $10::jsonb
						THEN refresh_failures ELSE 0 END,
					refresh_schedule = $10::jsonb,
					version = version + 1, updated_at = now()
				WHERE id = $1
				RETURNING *)
			SELECT `+dashboardColumns+` FROM`+dashboardFrom,
			d.ID, d.Name, slug, layout, options, d.DashboardFiltersEnabled, tags, d.IsDraft, d.IsArchived,
			nullJSON(d.RefreshSchedule)))
		return err
	})
	if err != nil {
		return Dashboard{}, fmt.Errorf("update dashboard %d: %w", d.ID, err)
	}
	return updated, nil
}

// ArchiveDashboard archives dashboard id: it leaves lists, its key stops
// working and its refresh schedule is cleared. Missing gives ErrNotFound.
func (s *Store) ArchiveDashboard(ctx context.Context, id int64) (Dashboard, error) {
	d, err := s.scanDashboard(s.pool.QueryRow(ctx, `
		WITH dashboards AS (
			UPDATE dashboards SET is_archived = true, refresh_schedule = NULL, updated_at = now()
			WHERE id = $1
			RETURNING *)
		SELECT `+dashboardColumns+` FROM`+dashboardFrom, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Dashboard{}, fmt.Errorf("archive dashboard %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Dashboard{}, fmt.Errorf("archive dashboard %d: %w", id, err)
	}
	return d, nil
}

// ShareDashboard returns the API key of dashboard id, making one if it has
// none: sharing a shared dashboard again keeps its key. Missing gives
// ErrNotFound.
func (s *Store) ShareDashboard(ctx context.Context, id int64) (string, error) {
	key := newAPIKey()
	var sealed []byte
	err := s.pool.QueryRow(ctx, `
		UPDATE dashboards SET api_key_hash = coalesce(api_key_hash, $2),
			api_key_sealed = coalesce(api_key_sealed, $3), updated_at = now()
		WHERE id = $1
		RETURNING api_key_sealed`, id, hashAPIKey(key), s.sealer.seal([]byte(key))).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("share dashboard %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("share dashboard %d: %w", id, err)
	}
	opened, err := s.sealer.open(sealed)
	if err != nil {
		return "", fmt.Errorf("share dashboard %d: %w", id, err)
	}
	return string(opened), nil
}

// UnshareDashboard drops the API key of dashboard id; it stops working.
// Missing gives ErrNotFound.
func (s *Store) UnshareDashboard(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE dashboards SET api_key_hash = NULL, api_key_sealed = NULL, updated_at = now() WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("unshare dashboard %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("unshare dashboard %d: %w", id, ErrNotFound)
	}
	return nil
}

// DashboardByAPIKey returns the dashboard, not archived, whose API key is
// key. Any other key gives ErrNotFound.
func (s *Store) DashboardByAPIKey(ctx context.Context, key string) (Dashboard, error) {
	d, err := s.scanDashboard(s.pool.QueryRow(ctx, `
		SELECT `+dashboardColumns+` FROM`+dashboardFrom+`
		WHERE dashboards.api_key_hash = $1 AND NOT dashboards.is_archived`, hashAPIKey(key)))
	if errors.Is(err, pgx.ErrNoRows) {
		return Dashboard{}, fmt.Errorf("dashboard by api key: %w", ErrNotFound)
	}
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard by api key: %w", err)
	}
	return d, nil
}

// DashboardQueryIDs returns the distinct queries the visualization widgets
// of dashboard id show, in increasing order. A missing dashboard has none.
func (s *Store) DashboardQueryIDs(ctx context.Context, id int64) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT v.query_id FROM widgets JOIN visualizations v ON v.id = widgets.visualization_id
		WHERE widgets.dashboard_id = $1
		ORDER BY 1`, id)
	if err != nil {
		return nil, fmt.Errorf("queries of dashboard %d: %w", id, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("queries of dashboard %d: %w", id, err)
	}
	return ids, nil
}
