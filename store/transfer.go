package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// TransferMode says whether a transfer copies a customer into the target account (the
// source stays as it was) or moves it (the same customer, and portal id, changes owner).
type TransferMode string

// Transfer modes.
const (
	TransferCopy TransferMode = "copy"
	TransferMove TransferMode = "move"
)

// TransferBatch is the transaction's temporary table of customers to transfer:
// source_id → to_account. The import's apply fills it set-based from its staging table,
// the manual transfer with one row; TransferCustomers then does the work for all of them.
const TransferBatch = "transfer_batch"

// StartTransferBatch creates (or empties) the transaction's transfer batch.
func StartTransferBatch(ctx context.Context, tx *sqlx.Tx) error {
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS `+TransferBatch+` (
			source_id    bigint PRIMARY KEY,
			to_account   bigint NOT NULL,
			from_account bigint,
			new_id       bigint
		) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("start transfer batch: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `TRUNCATE `+TransferBatch); err != nil {
		return fmt.Errorf("start transfer batch: %w", err)
	}
	return nil
}

// TransferCustomers copies or moves every customer of the transfer batch into its target
// account, with its appointments, visit reports and visit blocks when related is set,
// and returns how many it transferred. A copy is a new live customer without the
// source's login ID (logins stay unique in the tenant), password and invitation; a move
// keeps everything and takes a trashed customer out of the trash. Without related data,
// a move leaves the appointments, visit reports and visit blocks in the source account's
// history. After it, the batch's new_id names each transferred customer in its target
// account (for a move, the source id).
//
// The caller makes sure no live customer of a target account already has the key.
func TransferCustomers(ctx context.Context, tx *sqlx.Tx, mode TransferMode, related bool) (int64, error) {
	return TransferCustomersWith(ctx, tx, mode, related, nil)
}

// MoveValues are the customers an import moves and the values it writes into them, in
// the same UPDATE that changes their owner, so that each moved customer gets one new row
// version instead of two. From is a query without parameters whose rows (aliased s) name
// the customers to move by match_id, at most one row per customer; To is the account
// they move to; Set are assignments over the customer c and its row s, none of
// account_id, deleted_at and updated_at; Args are the parameters ($1 …) that Set uses.
type MoveValues struct {
	From string
	To   int64
	Set  []string
	Args []any
}

// TransferCustomersWith is TransferCustomers; a move given values moves the customers of
// values.From instead of the batch's and writes the values into them as it moves them.
func TransferCustomersWith(ctx context.Context, tx *sqlx.Tx, mode TransferMode, related bool, values *MoveValues) (int64, error) {
	if values != nil && mode != TransferMove {
		return 0, fmt.Errorf("transfer: values apply to a move only, not to %q", mode)
	}
	// batch is the relation of the customers to transfer, with their source_id.
	batch := TransferBatch
	var n int64
	if values == nil {
		// Rows the caller filled in and that still hold are not rewritten (rewriting
		// 100,000 rows of the temporary table took half a second).
		if _, err := tx.ExecContext(ctx, `UPDATE `+TransferBatch+` b SET from_account = c.account_id,
				new_id = CASE WHEN $1 = 'copy' THEN nextval(pg_get_serial_sequence('customers', 'id')) ELSE c.id END
			FROM customers c WHERE c.id = b.source_id AND (b.new_id IS NULL OR b.from_account IS DISTINCT FROM c.account_id)`, mode); err != nil {
			return 0, fmt.Errorf("transfer: prepare: %w", err)
		}
		if err := sqlx.GetContext(ctx, tx, &n, `SELECT count(*) FROM `+TransferBatch+` WHERE new_id IS NOT NULL`); err != nil {
			return 0, fmt.Errorf("transfer: prepare: %w", err)
		}
	} else {
		// The import's rows name the customers themselves: a batch of them cost a copy
		// of every row into the temporary table and a join more in the move.
		batch = `(SELECT match_id AS source_id FROM (` + values.From + `) v)`
		if err := sqlx.GetContext(ctx, tx, &n, `SELECT count(*) FROM `+batch+` b`); err != nil {
			return 0, fmt.Errorf("transfer: count: %w", err)
		}
	}
	var steps []sqlStep
	switch mode {
	case TransferCopy:
		steps = append(steps, sqlStep{rows: -1, what: "copy customers", sql: `INSERT INTO customers (id, tenant_id, account_id,
				external_id, salutation, first_name, last_name, company, street, zip, city, email, phone,
				must_change_password, tags, locale)
			SELECT b.new_id, c.tenant_id, b.to_account, c.external_id, c.salutation, c.first_name, c.last_name,
				c.company, c.street, c.zip, c.city, c.email, c.phone, false, c.tags, c.locale
			FROM customers c JOIN ` + TransferBatch + ` b ON b.source_id = c.id`})
		if related {
			// The copies are the new customer's, unpinned in the target account's history.
			for _, t := range relatedTables {
				steps = append(steps, sqlStep{rows: -1, what: "copy " + t.name, sql: `INSERT INTO ` + t.name + ` (customer_id, ` + t.cols + `)
					SELECT b.new_id, ` + t.cols + ` FROM ` + t.name + ` x
					JOIN ` + TransferBatch + ` b ON x.customer_id = b.source_id AND (x.account_id IS NULL OR x.account_id = b.from_account)`})
			}
		}
	case TransferMove:
		// The related data follow their customer (migration 0048): with them, only the rows
		// pinned to the source account (moved away and back) are unpinned, found in the
		// small index of pinned rows; without, the source account's history keeps the
		// unpinned rows, pinned to it. The source account is the customer's as it is now,
		// before it moves.
		for _, t := range relatedTables {
			st := sqlStep{rows: -1, what: "move " + t.name, sql: `UPDATE ` + t.name + ` x SET account_id = NULL
				FROM ` + batch + ` b JOIN customers c ON c.id = b.source_id
				WHERE x.customer_id = b.source_id AND x.account_id IS NOT NULL AND x.account_id = c.account_id`}
			if !related {
				st = sqlStep{rows: -1, what: "keep " + t.name, sql: `UPDATE ` + t.name + ` x SET account_id = c.account_id
				FROM ` + batch + ` b JOIN customers c ON c.id = b.source_id
				WHERE x.customer_id = b.source_id AND x.account_id IS NULL`}
			}
			steps = append(steps, st)
		}
		// Each customer is rewritten once, with the row's values if there are any.
		move := sqlStep{rows: -1, what: "move customers", sql: `UPDATE customers c
			SET account_id = b.to_account, deleted_at = NULL, updated_at = now()
			FROM ` + TransferBatch + ` b WHERE c.id = b.source_id`}
		if values != nil {
			move = sqlStep{rows: n, what: "move customers", args: append(append([]any{}, values.Args...), values.To),
				sql: `UPDATE customers c
				SET account_id = $` + strconv.Itoa(len(values.Args)+1) + `, deleted_at = NULL, updated_at = now(), ` + strings.Join(values.Set, ", ") + `
				FROM (` + values.From + `) s WHERE c.id = s.match_id`}
		}
		steps = append(steps, move)
	default:
		return 0, fmt.Errorf("transfer: unknown mode %q", mode)
	}
	for _, st := range steps {
		res, err := tx.ExecContext(ctx, st.sql, st.args...)
		if err != nil {
			return 0, fmt.Errorf("transfer: %s: %w", st.what, err)
		}
		if st.rows >= 0 {
			if got, _ := res.RowsAffected(); got != st.rows {
				return 0, fmt.Errorf("transfer: %s: changed %d rows, want %d", st.what, got, st.rows)
			}
		}
	}
	return n, nil
}

// relatedTables are the data that belong to a customer, with the columns a copy takes.
var relatedTables = []struct{ name, cols string }{
	{"appointments", "starts_at, subject"},
	{"visit_reports", "visited_on, text"},
	{"visit_blocks", "from_date, until_date, reason"},
}

// sqlStep is one statement of a multi-statement change, named for its error; rows, if
// not negative, is how many rows it must change.
type sqlStep struct {
	what, sql string
	args      []any
	rows      int64
}

// TransferCustomer transfers one customer of the tenant by hand (the seeds' manual
// alternative to the import's transfer) and returns it as it is in the target account.
// A live customer of the target account with the same external_id is ErrConflict.
func TransferCustomer(ctx context.Context, tx *sqlx.Tx, tenantID, portalID, toAccount int64, mode TransferMode, related bool) (Customer, error) {
	c, err := getOne[Customer](ctx, tx, "lock customer", `SELECT `+customerColumns+`
		FROM customers c JOIN accounts a ON a.id = c.account_id
		WHERE c.tenant_id = $1 AND c.id = $2 FOR UPDATE OF c`, tenantID, portalID)
	if err != nil {
		return Customer{}, err
	}
	if c.ExternalID != nil {
		var taken bool
		if err := sqlx.GetContext(ctx, tx, &taken, `SELECT EXISTS (SELECT 1 FROM customers
			WHERE account_id = $1 AND external_id = $2 AND deleted_at IS NULL AND id <> $3)`, toAccount, *c.ExternalID, c.PortalID); err != nil {
			return Customer{}, fmt.Errorf("transfer customer %d: %w", portalID, err)
		}
		if taken {
			return Customer{}, fmt.Errorf("transfer customer %d: external id taken in the target account: %w", portalID, ErrConflict)
		}
	}
	if err := StartTransferBatch(ctx, tx); err != nil {
		return Customer{}, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+TransferBatch+` (source_id, to_account) VALUES ($1, $2)`, portalID, toAccount); err != nil {
		return Customer{}, fmt.Errorf("transfer customer %d: %w", portalID, err)
	}
	if _, err := TransferCustomers(ctx, tx, mode, related); err != nil {
		return Customer{}, err
	}
	var newID int64
	if err := sqlx.GetContext(ctx, tx, &newID, `SELECT new_id FROM `+TransferBatch+` WHERE source_id = $1`, portalID); err != nil {
		return Customer{}, fmt.Errorf("transfer customer %d: %w", portalID, err)
	}
	return GetCustomer(ctx, tx, tenantID, newID)
}

// PurgeTrash deletes the tenant's customers that have been in the trash since before
// the cutoff. Their appointments and visit reports stay (without a customer), pinned to
// the account whose history they are part of, in the same statement; their visit blocks
// go with them.
func PurgeTrash(ctx context.Context, db sqlx.ExecerContext, tenantID int64, before time.Time) (int64, error) {
	res, err := db.ExecContext(ctx, `WITH gone AS (
			SELECT id, account_id FROM customers WHERE tenant_id = $1 AND deleted_at < $2 FOR UPDATE),
		appointments_kept AS (UPDATE appointments x SET account_id = g.account_id FROM gone g
			WHERE x.customer_id = g.id AND x.account_id IS NULL),
		reports_kept AS (UPDATE visit_reports x SET account_id = g.account_id FROM gone g
			WHERE x.customer_id = g.id AND x.account_id IS NULL)
		DELETE FROM customers c USING gone g WHERE c.id = g.id`, tenantID, before)
	if err != nil {
		return 0, fmt.Errorf("purge trash of tenant %d: %w", tenantID, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
