// Package cache owns result identity (the query hash), freshness by max_age,
// and result files: streaming writers, readers and their storage.
//
// A result is stored under a key as three files: key+".csv" (the CSV
// download), key+".json" (Redash's data object, one row per line) and
// key+".idx" (the byte offset of every 1000th row in the JSON file, so a page
// is read without reading the rows before it).
package cache
