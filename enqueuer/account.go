package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"portalwerk/jobs/config"
	"portalwerk/store"
)

const accountUsage = `usage: enqueuer account create --tenant SLUG --name NAME [--role admin|member] [--can-transfer]
       enqueuer account update --tenant SLUG --name NAME [--role admin|member] [--can-transfer=true|false] [--new-key]
       enqueuer account list --tenant SLUG

create prints {"tenant":…,"account":…,"role":…,"can_transfer":…,"api_key":…} on stdout
(nothing else: logs go to stderr); update prints the same, with api_key only for
--new-key; list prints one such object per account, without a key.`

// slugPattern is what a tenant slug may hold: it appears in URLs and logs.
var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// account implements `account create|update|list`; stdout carries only JSON, so
// scripts can read the key from it.
func account(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(accountUsage)
	}
	sub := args[0]
	switch sub {
	case "create", "update", "list":
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, accountUsage)
		return nil
	default:
		return fmt.Errorf("unknown account command %q\n%s", sub, accountUsage)
	}
	fs := newFlagSet("account "+sub, accountUsage, stdout)
	tenant := fs.String("tenant", "", "tenant slug: a-z, 0-9 and - (e.g. hv-mueller)")
	var name, role *string
	var canTransfer optionalBool
	var newKey *bool
	if sub != "list" {
		name = fs.String("name", "", "account name (e.g. huber)")
		role = fs.String("role", "", "admin or member (create: default member)")
		fs.Var(&canTransfer, "can-transfer", "may run transfer imports (true or false)")
	}
	if sub == "update" {
		newKey = fs.Bool("new-key", false, "replace the API key and print the new one")
	}
	if done, err := parseFlags(fs, args[1:]); done || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("account %s: unexpected argument %q (see enqueuer account %s --help)", sub, fs.Arg(0), sub)
	}
	if *tenant == "" || name != nil && *name == "" {
		return fmt.Errorf("account %s: --tenant%s required (see enqueuer account %s --help)", sub, map[bool]string{true: " and --name are", false: " is"}[name != nil], sub)
	}
	if !slugPattern.MatchString(*tenant) {
		return fmt.Errorf("account %s: --tenant %q: a tenant slug holds only lower-case letters a-z, digits and \"-\" (not at the ends), at most 63 characters, e.g. hv-mueller", sub, *tenant)
	}
	if role != nil && *role != "" && *role != store.RoleAdmin && *role != store.RoleMember {
		return fmt.Errorf("account %s: --role must be admin or member, not %q", sub, *role)
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()

	enc := json.NewEncoder(stdout)
	var key string
	var acc store.Account
	switch sub {
	case "list":
		list, err := store.ListAccounts(ctx, db, *tenant)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("account list: there is no tenant %q", *tenant)
		}
		if err != nil {
			return err
		}
		for _, a := range list {
			if err := enc.Encode(accountJSON(a, "")); err != nil {
				return err
			}
		}
		return nil
	case "create":
		if *role == "" {
			*role = store.RoleMember
		}
		var hash []byte
		key, hash = store.NewAPIKey()
		acc, err = store.CreateAccount(ctx, db, *tenant, *name, *role, canTransfer.set && canTransfer.v, hash)
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("account create: %s/%s exists already (enqueuer account update … --new-key gives it a new key)", *tenant, *name)
		}
	case "update":
		var u store.AccountUpdate
		if *role != "" {
			u.Role = role
		}
		if canTransfer.set {
			u.CanTransfer = &canTransfer.v
		}
		if *newKey {
			key, u.KeyHash = store.NewAPIKey()
		}
		acc, err = store.UpdateAccount(ctx, db, *tenant, *name, u)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("account update: there is no account %s/%s", *tenant, *name)
		}
	}
	if err != nil {
		return err
	}
	return enc.Encode(accountJSON(acc, key))
}

func accountJSON(a store.Account, key string) map[string]any {
	out := map[string]any{"tenant": a.Tenant, "account": a.Name, "role": a.Role, "can_transfer": a.CanTransfer}
	if key != "" {
		out["api_key"] = key
	}
	return out
}

// optionalBool is a boolean flag that knows whether it was given (--can-transfer,
// --can-transfer=false).
type optionalBool struct{ set, v bool }

func (b *optionalBool) String() string   { return strconv.FormatBool(b.v) }
func (b *optionalBool) IsBoolFlag() bool { return true }
func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.set, b.v = true, v
	return nil
}
