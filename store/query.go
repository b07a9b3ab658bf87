package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Query is a saved query.
type Query struct {
	ID                int64
	Name              string
	Description       string
	Query             string
	QueryHash         string // computed by the caller (package cache) and stored
	DataSourceID      *int64 // nil once its data source is deleted
	UserID            int64
	LatestQueryDataID *int64 // newest result of (DataSourceID, QueryHash), if any
	// Options is a JSON object, Redash's query options: {"parameters": […],
	// …}. The store checks only that it is JSON; empty stores
	// DefaultQueryOptions. It comes back as PostgreSQL's jsonb writes it.
	Options json.RawMessage
	Tags    []string
	// IsArchived queries are hidden from lists and never scheduled.
	IsArchived bool
	IsDraft    bool
	// Version counts saved edits, for optimistic locking of updates.
	Version int
	// APIKey reads this query and its results only; "" until one is made.
	APIKey           string
	LastModifiedByID *int64
	// Schedule is the refresh schedule as JSON, nil for none. Writes store
	// it as ParseQuerySchedule and MarshalJSON normalise it.
	Schedule         json.RawMessage
	ScheduleFailures int
	// LastScheduleRunAt is when the query's last scheduled run started, as
	// every read returns it; zero if none did. Writes ignore it.
	LastScheduleRunAt time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time

	// User is the owner (UserID) and LastModifiedBy the user who saved the
	// last edit (LastModifiedByID, nil if none), as every read returns them;
	// writes ignore both.
	User           QueryUser
	LastModifiedBy *QueryUser
}

// QueryUser is a user as a query names them: its owner or last editor.
type QueryUser struct {
	ID    int64
	Name  string
	Email string
}

// DefaultQueryOptions are the options of a query saved without any, as
// PostgreSQL's jsonb writes them.
var DefaultQueryOptions = json.RawMessage(`{"parameters": []}`)

const queryColumns = `queries.id, queries.name, queries.description, queries.query, queries.query_hash,
	queries.data_source_id, queries.user_id, queries.latest_query_data_id, queries.options, queries.tags,
	queries.is_archived, queries.is_draft, queries.version, queries.api_key_sealed, queries.last_modified_by_id,
	queries.schedule, queries.schedule_failures, queries.created_at, queries.updated_at,
	owner.name, owner.email, editor.name, editor.email,
	(SELECT started_at FROM schedule_runs WHERE kind = 'query' AND object_id = queries.id
		ORDER BY started_at DESC LIMIT 1)`

// queryFrom is the FROM clause queryColumns need: rel (the queries table, or
// a CTE of rows an INSERT or UPDATE returned) named queries, with the owner
// and the last editor of each row.
func queryFrom(rel string) string {
	return ` FROM ` + rel + ` AS queries JOIN users owner ON owner.id = queries.user_id
		LEFT JOIN users editor ON editor.id = queries.last_modified_by_id`
}

// queryScan holds what a row of queryColumns has beyond a Query's fields.
type queryScan struct {
	sealedKey               []byte
	editorName, editorEmail *string
	lastRunAt               *time.Time
}

// queryFields are the scan targets of queryColumns; extra receives what
// finish turns into q's API key and last editor.
func queryFields(q *Query, extra *queryScan) []any {
	return []any{&q.ID, &q.Name, &q.Description, &q.Query, &q.QueryHash, &q.DataSourceID, &q.UserID,
		&q.LatestQueryDataID, &q.Options, &q.Tags, &q.IsArchived, &q.IsDraft, &q.Version, &extra.sealedKey,
		&q.LastModifiedByID, &q.Schedule, &q.ScheduleFailures, &q.CreatedAt, &q.UpdatedAt,
		&q.User.Name, &q.User.Email, &extra.editorName, &extra.editorEmail, &extra.lastRunAt}
}

// finishQuery unseals q's API key and fills in its users and last run.
func (s *Store) finishQuery(q *Query, extra queryScan) error {
	q.User.ID = q.UserID
	if extra.lastRunAt != nil {
		q.LastScheduleRunAt = *extra.lastRunAt
	}
	if q.LastModifiedByID != nil && extra.editorName != nil && extra.editorEmail != nil {
		q.LastModifiedBy = &QueryUser{ID: *q.LastModifiedByID, Name: *extra.editorName, Email: *extra.editorEmail}
	}
	if extra.sealedKey == nil {
		return nil
	}
	key, err := s.sealer.open(extra.sealedKey)
	if err != nil {
		return fmt.Errorf("api key of query %d: %w", q.ID, err)
	}
	q.APIKey = string(key)
	return nil
}

func (s *Store) scanQuery(row pgx.Row) (Query, error) {
	var q Query
	var extra queryScan
	if err := row.Scan(queryFields(&q, &extra)...); err != nil {
		return Query{}, err
	}
	return q, s.finishQuery(&q, extra)
}

// queryValues returns what q stores as options, tags and schedule: options
// checked to be JSON (empty: DefaultQueryOptions), tags never NULL, and the
// schedule as ParseQuerySchedule and MarshalJSON normalise it (nil: none).
// An invalid schedule gives ParseQuerySchedule's error.
func queryValues(q Query) (options string, tags []string, schedule *string, err error) {
	options = string(DefaultQueryOptions)
	if len(q.Options) > 0 {
		if !json.Valid(q.Options) {
			return "", nil, nil, errors.New("options are not JSON")
		}
		options = string(q.Options)
	}
	tags = q.Tags
	if tags == nil {
		tags = []string{}
	}
	sched, err := ParseQuerySchedule(q.Schedule)
	if err != nil {
		return "", nil, nil, err
	}
	if sched != nil {
		b, err := sched.MarshalJSON()
		if err != nil {
			return "", nil, nil, fmt.Errorf("schedule: %w", err)
		}
		str := string(b)
		schedule = &str
	}
	return options, tags, schedule, nil
}

// latestResultID is a subquery for the newest result of (data source $ds,
// hash $hash), NULL if none; it takes the placeholders to use.
func latestResultID(ds, hash string) string {
	return `(SELECT id FROM query_results WHERE data_source_id = ` + ds + ` AND query_hash = ` + hash + `
		ORDER BY retrieved_at DESC LIMIT 1)`
}

// CreateQuery records q — its name, description, text, hash, data source,
// owner, options, tags, IsDraft and schedule — with a new API key, its
// owner as its last editor, version 1, and a link to the newest existing
// result of its data source and hash, if any; q's other fields are ignored.
// A missing data source or user gives ErrNotFound.
func (s *Store) CreateQuery(ctx context.Context, q Query) (Query, error) {
	options, tags, schedule, err := queryValues(q)
	if err != nil {
		return Query{}, fmt.Errorf("create query: %w", err)
	}
	key := newAPIKey()
	created, err := s.scanQuery(s.pool.QueryRow(ctx, `
		WITH created AS (
			INSERT INTO queries (name, description, query, query_hash, data_source_id, user_id, options,
				tags, is_draft, schedule, api_key_hash, api_key_sealed, last_modified_by_id, latest_query_data_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10::jsonb, $11, $12, $6, `+latestResultID("$5", "$4")+`)
			RETURNING *
		)
		SELECT `+queryColumns+queryFrom("created"),
		q.Name, q.Description, q.Query, q.QueryHash, q.DataSourceID, q.UserID, options,
		tags, q.IsDraft, schedule, hashAPIKey(key), s.sealer.seal([]byte(key))))
	if pgCode(err) == foreignKeyViolation {
		return Query{}, fmt.Errorf("create query: no such data source or user: %w", ErrNotFound)
	}
	if err != nil {
		return Query{}, fmt.Errorf("create query: %w", err)
	}
	return created, nil
}

// Query returns the saved query with id, archived or not. Missing gives
// ErrNotFound.
func (s *Store) Query(ctx context.Context, id int64) (Query, error) {
	q, err := s.scanQuery(s.pool.QueryRow(ctx, `SELECT `+queryColumns+queryFrom("queries")+` WHERE queries.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Query{}, fmt.Errorf("query %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Query{}, fmt.Errorf("query %d: %w", id, err)
	}
	return q, nil
}

// QueryFilter selects the saved queries Queries lists.
type QueryFilter struct {
	// Search, unless empty, must occur in the name, the description or the
	// text, ignoring case; % and _ are plain characters.
	Search string
	// Tags must all be among a query's tags.
	Tags []string
	// AllDataSources lists queries whatever their data source, and those
	// without one: what admins see. Otherwise only queries on DataSources
	// are listed, plus OwnerID's own queries without a data source.
	AllDataSources bool
	DataSources    []int64
	OwnerID        int64
	// IncludeArchived lists archived queries too.
	IncludeArchived bool
	// Page, from 1, of PageSize queries; PageSize 0 means all of them, and a
	// Page below 1 means 1.
	Page, PageSize int
}

// Queries returns one page of the saved queries f selects, newest first
// (created_at, then id), and how many f selects in all.
func (s *Store) Queries(ctx context.Context, f QueryFilter) ([]Query, int, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !f.IncludeArchived {
		where = append(where, "NOT queries.is_archived")
	}
	if !f.AllDataSources {
		ds := f.DataSources
		if ds == nil {
			ds = []int64{}
		}
		where = append(where, "(queries.data_source_id = ANY("+arg(ds)+"::bigint[]) OR "+
			"(queries.data_source_id IS NULL AND queries.user_id = "+arg(f.OwnerID)+"))")
	}
	if f.Search != "" {
		p := arg("%" + likeEscaper.Replace(f.Search) + "%")
		where = append(where, "(queries.name ILIKE "+p+" OR queries.description ILIKE "+p+" OR queries.query ILIKE "+p+")")
	}
	if len(f.Tags) > 0 {
		where = append(where, "queries.tags @> "+arg(f.Tags)+"::text[]")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var limit *int64
	var offset int64
	if f.PageSize > 0 {
		limit = new(int64)
		*limit = int64(f.PageSize)
		offset = int64(max(f.Page, 1)-1) * int64(f.PageSize)
	}
	pageArgs := append(slices.Clip(args), limit, offset)

	// Both statements go in one round trip.
	b := &pgx.Batch{}
	b.Queue(`SELECT count(*) FROM queries`+cond, args...)
	b.Queue(`SELECT `+queryColumns+queryFrom("queries")+cond+`
		ORDER BY queries.created_at DESC, queries.id DESC
		LIMIT $`+strconv.Itoa(len(args)+1)+`::bigint OFFSET $`+strconv.Itoa(len(args)+2)+`::bigint`, pageArgs...)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	var count int
	if err := br.QueryRow().Scan(&count); err != nil {
		return nil, 0, fmt.Errorf("count queries: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, 0, fmt.Errorf("queries: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Query, error) { return s.scanQuery(row) })
	if err != nil {
		return nil, 0, fmt.Errorf("queries: %w", err)
	}
	return list, count, nil
}

// likeEscaper makes a string match itself in LIKE and ILIKE patterns, whose
// escape character is the backslash.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// UpdateQuery saves an edit of query q.ID made on its version: the name,
// description, text, hash, data source, options, tags, IsDraft and schedule
// become q's; the version goes up by one; LastModifiedByID, when set,
// records who saved it; updated_at is now. A changed schedule (compared as
// JSON, after normalising as CreateQuery does) resets ScheduleFailures to 0.
// If the data source or hash changes, LatestQueryDataID moves to the newest
// result of the new pair (nil if none), so it never points at another text's
// result. Archiving is ArchiveQuery's, and the other fields are ignored.
//
// version 0 saves over whatever is stored (last write wins). Any other
// version must be the stored one, else UpdateQuery gives ErrConflict: the
// query was changed since. A missing query, data source or user gives
// ErrNotFound; an invalid schedule ParseQuerySchedule's error.
func (s *Store) UpdateQuery(ctx context.Context, q Query, version int) (Query, error) {
	options, tags, schedule, err := queryValues(q)
	if err != nil {
		return Query{}, fmt.Errorf("update query %d: %w", q.ID, err)
	}
	updated, err := s.scanQuery(s.pool.QueryRow(ctx, `
		WITH updated AS (
			UPDATE queries SET name = $2, description = $3, query = $4, query_hash = $5, data_source_id = $6,
				options = $7::jsonb, tags = $8, is_draft = $9, schedule = $10::jsonb,
				schedule_failures = CASE WHEN schedule IS NOT DISTINCT FROM $10::jsonb THEN schedule_failures ELSE 0 END,
				last_modified_by_id = COALESCE($11, last_modified_by_id),
				latest_query_data_id = CASE
					WHEN query_hash = $5 AND data_source_id IS NOT DISTINCT FROM $6 THEN latest_query_data_id
					ELSE `+latestResultID("$6", "$5")+`
				END,
				version = version + 1,
				updated_at = now()
			WHERE id = $1 AND ($12::int = 0 OR version = $12::int)
			RETURNING *
		)
		SELECT `+queryColumns+queryFrom("updated"),
		q.ID, q.Name, q.Description, q.Query, q.QueryHash, q.DataSourceID, options,
		tags, q.IsDraft, schedule, q.LastModifiedByID, version))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Query{}, s.missingOrStale(ctx, q.ID, version)
	case pgCode(err) == foreignKeyViolation:
		return Query{}, fmt.Errorf("update query %d: no such data source or user: %w", q.ID, ErrNotFound)
	case err != nil:
		return Query{}, fmt.Errorf("update query %d: %w", q.ID, err)
	}
	return updated, nil
}

// missingOrStale tells why a guarded update of query id at version matched
// no row: ErrNotFound if the query does not exist, else ErrConflict.
func (s *Store) missingOrStale(ctx context.Context, id int64, version int) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM queries WHERE id = $1)`, id).Scan(&exists); err != nil {
		return fmt.Errorf("update query %d: %w", id, err)
	}
	if !exists {
		return fmt.Errorf("update query %d: %w", id, ErrNotFound)
	}
	return fmt.Errorf("update query %d: version %d is not the latest: %w", id, version, ErrConflict)
}

// ArchiveQuery archives query id: lists hide it, its API key stops working,
// it can no longer run, the widgets showing it leave their dashboards, and
// its schedule is dropped (failures reset); the
// version goes up by one. Archiving an archived query drops nothing more.
// A missing query gives ErrNotFound.
func (s *Store) ArchiveQuery(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `
		WITH w AS (
			DELETE FROM widgets WHERE visualization_id IN (SELECT id FROM visualizations WHERE query_id = $1)
		)
		UPDATE queries SET is_archived = true, schedule = NULL, schedule_failures = 0,
			version = version + 1, updated_at = now()
		WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("archive query %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("archive query %d: %w", id, ErrNotFound)
	}
	return nil
}

// ForkQuery records a copy of query id owned by userID, named "Copy of
// (#<id>) <name>", with the same description, text, hash, data source,
// options and tags; the copy is a draft, not archived, without schedule,
// at version 1, with a new API key, and linked to the newest result of its
// data source and hash as CreateQuery links. A missing query or user gives
// ErrNotFound.
func (s *Store) ForkQuery(ctx context.Context, id, userID int64) (Query, error) {
	key := newAPIKey()
	forked, err := s.scanQuery(s.pool.QueryRow(ctx, `
		WITH forked AS (
			INSERT INTO queries (name, description, query, query_hash, data_source_id, user_id, options,
				tags, is_draft, api_key_hash, api_key_sealed, last_modified_by_id, latest_query_data_id)
			SELECT 'Copy of (#' || src.id || ') ' || src.name, src.description, src.query, src.query_hash,
				src.data_source_id, $2, src.options, src.tags, true, $3, $4, $2,
				`+latestResultID("src.data_source_id", "src.query_hash")+`
			FROM queries src WHERE src.id = $1
			RETURNING *
		)
		SELECT `+queryColumns+queryFrom("forked"), id, userID, hashAPIKey(key), s.sealer.seal([]byte(key))))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Query{}, fmt.Errorf("fork query %d: %w", id, ErrNotFound)
	case pgCode(err) == foreignKeyViolation:
		return Query{}, fmt.Errorf("fork query %d: no such user: %w", id, ErrNotFound)
	case err != nil:
		return Query{}, fmt.Errorf("fork query %d: %w", id, err)
	}
	return forked, nil
}

// QueryWithLatestResult returns the saved query with id and, in the same
// round trip, the newest result of its stored text — (DataSourceID,
// QueryHash) — retrieved within maxAge of now (maxAge < 0: any age), or nil
// if none qualifies. It serves cache hits of saved queries without
// parameters, so it reads only what running a query needs: the Query comes
// without its API key, its users' names and its last scheduled run. Missing
// gives ErrNotFound.
func (s *Store) QueryWithLatestResult(ctx context.Context, id int64, maxAge time.Duration) (Query, *QueryResult, error) {
	window := maxAge.Microseconds()
	if maxAge < 0 {
		window = -1 // any age, even for windows under a microsecond
	}
	row := s.pool.QueryRow(ctx, `
		SELECT q.id, q.name, q.description, q.query, q.query_hash, q.data_source_id, q.user_id,
			q.latest_query_data_id, q.options, q.tags, q.is_archived, q.is_draft, q.version,
			q.last_modified_by_id, q.schedule, q.schedule_failures, q.created_at, q.updated_at,
			r.id, r.data_source_id, r.query_hash, r.query, r.columns, r.row_count, r.bytes, r.runtime,
			r.retrieved_at, r.storage_key, r.checksum
		FROM queries q LEFT JOIN LATERAL (
			SELECT * FROM query_results r
			WHERE r.data_source_id = q.data_source_id AND r.query_hash = q.query_hash
				AND ($2::bigint < 0 OR r.retrieved_at >= now() - $2::bigint * interval '1 microsecond')
			ORDER BY r.retrieved_at DESC LIMIT 1
		) r ON true
		WHERE q.id = $1`, id, window)
	var q Query
	var r struct {
		id, ds, rows, bytes *int64
		hash, query, key    *string
		checksum            *string
		cols                []byte
		runtime             *float64
		retrievedAt         *time.Time
	}
	err := row.Scan(&q.ID, &q.Name, &q.Description, &q.Query, &q.QueryHash, &q.DataSourceID, &q.UserID,
		&q.LatestQueryDataID, &q.Options, &q.Tags, &q.IsArchived, &q.IsDraft, &q.Version,
		&q.LastModifiedByID, &q.Schedule, &q.ScheduleFailures, &q.CreatedAt, &q.UpdatedAt,
		&r.id, &r.ds, &r.hash, &r.query, &r.cols, &r.rows, &r.bytes, &r.runtime, &r.retrievedAt, &r.key, &r.checksum)
	q.User.ID = q.UserID
	if errors.Is(err, pgx.ErrNoRows) {
		return Query{}, nil, fmt.Errorf("query %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Query{}, nil, fmt.Errorf("query %d: %w", id, err)
	}
	if r.id == nil {
		return q, nil, nil
	}
	cols, err := unmarshalColumns(r.cols)
	if err != nil {
		return Query{}, nil, fmt.Errorf("query result %d: %w", *r.id, err)
	}
	return q, &QueryResult{
		ID: *r.id, DataSourceID: *r.ds, QueryHash: *r.hash, Query: *r.query, Columns: cols, RowCount: *r.rows,
		Bytes: *r.bytes, Runtime: *r.runtime, RetrievedAt: *r.retrievedAt, StorageKey: *r.key, Checksum: *r.checksum,
	}, nil
}

// QueryByAPIKey returns the query, not archived, whose own API key is key.
// Any other key gives ErrNotFound.
func (s *Store) QueryByAPIKey(ctx context.Context, key string) (Query, error) {
	q, err := s.scanQuery(s.pool.QueryRow(ctx, `
		SELECT `+queryColumns+queryFrom("queries")+`
		WHERE queries.api_key_hash = $1 AND NOT queries.is_archived`, hashAPIKey(key)))
	if errors.Is(err, pgx.ErrNoRows) {
		return Query{}, fmt.Errorf("query by api key: %w", ErrNotFound)
	}
	if err != nil {
		return Query{}, fmt.Errorf("query by api key: %w", err)
	}
	return q, nil
}

// RegenerateQueryAPIKey gives query id a new API key; the old one stops
// working. A missing query gives ErrNotFound.
func (s *Store) RegenerateQueryAPIKey(ctx context.Context, id int64) (Query, error) {
	key := newAPIKey()
	q, err := s.scanQuery(s.pool.QueryRow(ctx, `
		WITH updated AS (
			UPDATE queries SET api_key_hash = $2, api_key_sealed = $3, updated_at = now() WHERE id = $1
			RETURNING *
		)
		SELECT `+queryColumns+queryFrom("updated"), id, hashAPIKey(key), s.sealer.seal([]byte(key))))
	if errors.Is(err, pgx.ErrNoRows) {
		return Query{}, fmt.Errorf("regenerate api key of query %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Query{}, fmt.Errorf("regenerate api key of query %d: %w", id, err)
	}
	return q, nil
}
