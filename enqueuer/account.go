package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"portalwerk/jobs/config"
	"portalwerk/store"
)

// account implements `account create` and `account update`; stdout carries only the
// JSON object, so scripts can read the key from it.
func account(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "update") {
		return errors.New("usage: enqueuer account create|update --tenant SLUG --name NAME …")
	}
	sub := args[0]
	fs := flag.NewFlagSet("account "+sub, flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant slug")
	name := fs.String("name", "", "account name")
	role := fs.String("role", "", "admin or member")
	var canTransfer optionalBool
	fs.Var(&canTransfer, "can-transfer", "may run transfer imports")
	newKey := fs.Bool("new-key", false, "replace the API key (update only)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *tenant == "" || *name == "" {
		return errors.New("--tenant and --name are required")
	}
	if *role != "" && *role != store.RoleAdmin && *role != store.RoleMember {
		return fmt.Errorf("--role must be admin or member, not %q", *role)
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()

	var key string
	var acc store.Account
	switch sub {
	case "create":
		if *role == "" {
			*role = store.RoleMember
		}
		var hash []byte
		key, hash = store.NewAPIKey()
		acc, err = store.CreateAccount(ctx, db, *tenant, *name, *role, canTransfer.set && canTransfer.v, hash)
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
	}
	if err != nil {
		return err
	}
	out := map[string]any{"tenant": acc.Tenant, "account": acc.Name, "role": acc.Role, "can_transfer": acc.CanTransfer}
	if key != "" {
		out["api_key"] = key
	}
	return json.NewEncoder(stdout).Encode(out)
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
