package api

import (
	"net/url"
	"strconv"
)

// keysetPage reads a keyset page's `limit` (1 to 1000, default 100) and `after` (the
// last id or row number of the previous page; afterWhat names it in the refusal).
func keysetPage(q url.Values, afterWhat string) (limit int, after int64, err error) {
	limit = 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, 0, BadRequest("limit muss eine Zahl von 1 bis 1000 sein.")
		}
		limit = n
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, BadRequest("after muss " + afterWhat + " sein (next_after der vorigen Seite).")
		}
		after = n
	}
	return limit, after, nil
}
