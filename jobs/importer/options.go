// Package importer is the import engine: it reads an uploaded sheet once, validates every
// row, stages the rows in PostgreSQL with COPY, forecasts the counts with set-based
// queries and applies a confirmed import in one transaction.
package importer

import (
	"fmt"
	"slices"
	"strings"

	"portalwerk/store"
)

// Profiles.
const (
	ProfileEmails    = "emails"
	ProfileCustomers = "customers"
	ProfileContracts = "contracts"
)

// OptionError is a bad upload option, with a message naming the field.
type OptionError struct {
	Field   string
	Message string
}

func (e *OptionError) Error() string { return e.Message }

// option describes one form field: its allowed values (nil = free text) and default.
type option struct {
	name    string
	allowed []string
	def     string
}

var commonOptions = []option{
	{name: "sheet"},
	{name: "delimiter", allowed: []string{"auto", ";", ",", "tab", "|"}, def: "auto"},
	{name: "encoding", allowed: []string{"auto", "utf-8", "utf-16", "windows-1252"}, def: "auto"},
	{name: "header", allowed: []string{"true", "false"}, def: "true"},
	{name: "columns"},
	{name: "auto_confirm", allowed: []string{"true", "false"}, def: "false"},
}

var profileOptions = map[string][]option{
	ProfileEmails: {
		{name: "email_mode", allowed: []string{"fill_empty", "overwrite"}, def: "fill_empty"},
	},
	ProfileCustomers: {
		{name: "mode", allowed: []string{"create", "update", "sync"}, def: "create"},
		{name: "keys", allowed: []string{"external_id", "portal_id", "external_id,portal_id", "email", "login_id"}, def: "external_id"},
		{name: "transfer", allowed: []string{"none", "copy", "move"}, def: "none"},
		{name: "transfer_related", allowed: []string{"true", "false"}, def: "false"},
		{name: "tag"},
		{name: "must_change_password", allowed: []string{"true", "false"}, def: "false"},
	},
	ProfileContracts: contractsOptions,
}

// Options checks an upload's profile and options and returns them with every default
// filled in, so the import shows the options it really runs with.
func Options(profile string, given map[string]string) (store.Options, error) {
	specific, ok := profileOptions[profile]
	if !ok {
		return nil, &OptionError{Field: "profile", Message: fmt.Sprintf("Unbekanntes Profil „%s“ im Feld „profile“: erlaubt sind emails, customers, contracts.", profile)}
	}
	all := append(slices.Clone(commonOptions), specific...)
	out := store.Options{}
	for name, v := range given {
		i := slices.IndexFunc(all, func(o option) bool { return o.name == name })
		if i < 0 {
			return nil, &OptionError{Field: name, Message: fmt.Sprintf("Unbekannte Option „%s“ für das Profil %s.", name, profile)}
		}
		v = strings.TrimSpace(v)
		if name == "keys" {
			v = strings.ReplaceAll(v, " ", "")
		}
		if o := all[i]; o.allowed != nil && !slices.Contains(o.allowed, v) {
			return nil, &OptionError{Field: name, Message: fmt.Sprintf("Ungültiger Wert „%s“ für „%s“: erlaubt sind %s.", v, name, strings.Join(o.allowed, ", "))}
		}
		out[name] = v
	}
	for _, o := range all {
		if _, ok := out[o.name]; !ok && o.def != "" {
			out[o.name] = o.def
		}
	}
	if out["columns"] != "" && out["header"] != "false" {
		return nil, &OptionError{Field: "columns", Message: "„columns“ gilt nur zusammen mit header=false."}
	}
	if out["header"] == "false" {
		if out["columns"] == "" {
			return nil, &OptionError{Field: "columns", Message: "Mit header=false braucht es „columns“: die Spalten in der Reihenfolge der Datei, „-“ überspringt eine."}
		}
		if _, err := columnsByPosition(profile, out["columns"]); err != nil {
			return nil, err
		}
	}
	if out["transfer"] != "" && out["transfer"] != "none" {
		if out["mode"] == "create" {
			return nil, &OptionError{Field: "transfer", Message: "Ein Transfer ist nur mit mode=update oder mode=sync möglich."}
		}
		if out["keys"] != "external_id" && out["keys"] != "portal_id" && out["keys"] != "external_id,portal_id" {
			return nil, &OptionError{Field: "transfer", Message: "Ein Transfer sucht Kunden über external_id oder portal_id; wählen Sie diese Schlüssel."}
		}
	}
	return out, nil
}

// IsOption says whether name is an option of some profile, so that an upload can refuse
// a field nobody knows as it arrives, before the profile is known; Options then checks
// it against the profile.
func IsOption(name string) bool {
	known := func(o option) bool { return o.name == name }
	if slices.ContainsFunc(commonOptions, known) {
		return true
	}
	for _, opts := range profileOptions {
		if slices.ContainsFunc(opts, known) {
			return true
		}
	}
	return false
}
