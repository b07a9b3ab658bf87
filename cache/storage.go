package cache

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// buckets
	_ "gocloud.dev/blob/memblob"  // mem:// buckets
	"gocloud.dev/gcerrors"
)

// Result file suffixes: a result at key is these three files.
const (
	extCSV  = ".csv"
	extJSON = ".json"
	extIdx  = ".idx"
)

// Storage holds result files in a gocloud.dev/blob bucket. It is safe for
// concurrent use.
type Storage struct {
	bucket *blob.Bucket
}

// OpenStorage opens the bucket at rawURL: "file:///abs/dir" (the directory is
// created if missing, no .attrs sidecar files are written, and temporary files
// live next to the results so the final rename never crosses file systems),
// "mem://", or any other scheme whose gocloud.dev driver the program imports.
// Query parameters given in a file URL win over those defaults.
//
// An error names the URL's scheme but never the URL's user info or query
// values, which may hold credentials.
func OpenStorage(ctx context.Context, rawURL string) (*Storage, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("open storage: invalid URL")
	}
	if u.Scheme == "" {
		return nil, errors.New(`open storage: URL has no scheme (want e.g. "file:///abs/dir" or "mem://")`)
	}
	secrets := urlSecrets(rawURL, u)
	if u.Scheme == "file" {
		q := u.Query()
		for k, v := range map[string]string{"create_dir": "true", "metadata": "skip", "no_tmp_dir": "true"} {
			if !q.Has(k) {
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("open storage %q: %s", u.Scheme, redact(err.Error(), u, secrets))
	}
	return &Storage{bucket: b}, nil
}

// urlSecrets lists the parts of a storage URL that may hold credentials: the
// whole URL, its user info and its query values.
func urlSecrets(rawURL string, u *url.URL) []string {
	secrets := []string{rawURL, u.RawQuery}
	if u.User != nil {
		secrets = append(secrets, u.User.String(), u.User.Username())
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
	}
	for _, vs := range u.Query() {
		secrets = append(secrets, vs...)
	}
	return secrets
}

// redact replaces in msg the URL u (as given or as re-encoded) with its
// scheme, host and path, and every secret of 3 bytes or more with REDACTED.
func redact(msg string, u *url.URL, secrets []string) string {
	safe := u.Scheme + "://" + u.Host + u.Path
	msg = strings.ReplaceAll(msg, u.String(), safe)
	if len(secrets) > 0 {
		msg = strings.ReplaceAll(msg, secrets[0], safe)
	}
	for _, s := range secrets[1:] {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "REDACTED")
		}
	}
	return msg
}

// Close releases the bucket.
func (s *Storage) Close() error {
	return s.bucket.Close()
}

// Ping returns nil if the bucket is reachable and exists, and an error saying
// why not otherwise.
func (s *Storage) Ping(ctx context.Context) error {
	ok, err := s.bucket.IsAccessible(ctx)
	if err != nil {
		return fmt.Errorf("ping storage: %w", err)
	}
	if !ok {
		return errors.New("ping storage: bucket not found")
	}
	return nil
}

// Delete removes every file of the result at key. Files that are already
// gone are not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	var errs []error
	for _, ext := range []string{extCSV, extJSON, extIdx} {
		if err := s.bucket.Delete(ctx, key+ext); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			errs = append(errs, fmt.Errorf("delete %s%s: %w", key, ext, err))
		}
	}
	return errors.Join(errs...)
}
