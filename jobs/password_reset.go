package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/login"
	"portalwerk/jobs/mail"
	"portalwerk/store"
	"portalwerk/templates"
)

// TypePasswordReset mails a fresh link to set a password to an address the portal's
// "forgot password" form was given, if a customer carries it. The portal enqueues it
// whatever the address, so its answer tells nobody whether the address is known.
const TypePasswordReset = "portal:password-reset"

// PasswordReset names the address and a random request id.
type PasswordReset struct {
	Email     string `json:"email"`
	RequestID string `json:"request_id"`
}

func (PasswordReset) TaskType() string { return TypePasswordReset }
func (PasswordReset) Queue() string    { return QueueMail }
func (a PasswordReset) TaskID() string { return "password-reset:" + a.RequestID }
func (PasswordReset) Tenant() int64    { return 0 }

// resetTTL is how long a forgotten-password link stays valid.
const resetTTL = 24 * time.Hour

// PasswordResetWorker mails the links.
type PasswordResetWorker struct {
	DB      *sqlx.DB
	Mail    mail.Sender
	Keys    *login.Keys
	BaseURL string
	Now     func() time.Time
}

func (w *PasswordResetWorker) Work(ctx context.Context, t *Task[PasswordReset]) (any, error) {
	if w.Keys == nil || w.Mail == nil {
		t.Log.ErrorContext(ctx, "password reset not configured: LOGIN_KEYS or MAIL_URL missing")
		return map[string]int{"sent": 0}, nil
	}
	tmpl, err := newInvitationMail("password-reset")
	if err != nil {
		return nil, err
	}
	found, err := store.CustomersByEmail(ctx, w.DB, t.Args.Email)
	if err != nil {
		return nil, err
	}
	expires := w.Now().Add(resetTTL).Truncate(time.Second)
	var msgs []mail.Message
	for _, f := range found {
		identity, err := store.EnsureCustomerIdentity(ctx, w.DB, f.TenantID, f.CustomerID)
		if err != nil {
			return nil, err
		}
		customers, err := store.IdentityCustomers(ctx, w.DB, f.TenantID, identity)
		if err != nil {
			return nil, err
		}
		tenant, err := store.GetTenantMailInfo(ctx, w.DB, f.TenantID)
		if err != nil {
			return nil, err
		}
		locale := tenant.Locale
		if len(customers) > 0 && customers[0].Locale != nil {
			locale = *customers[0].Locale
		}
		c := login.Claims{Tenant: f.TenantID, Identity: identity, Customer: f.CustomerID, Purpose: login.PurposeInvite,
			Expires: expires, TokenID: login.NewTokenID()}
		tok, err := w.Keys.Seal(c)
		if err != nil {
			return nil, err
		}
		if err := store.CreateLoginTokens(ctx, w.DB, []store.NewLoginToken{{ID: c.TokenID, TenantID: f.TenantID,
			IdentityID: identity, CustomerID: f.CustomerID, Purpose: string(c.Purpose), ExpiresAt: expires}}); err != nil {
			return nil, err
		}
		lang := templates.Lang(locale)
		m, err := tmpl.newMessage(lang, tenant.Name, w.BaseURL+"/portal/l/"+tok, "password-reset:"+t.Args.RequestID,
			t.Args.Email, greeting(lang, store.Recipient{}), expires)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		t.Log.InfoContext(ctx, "password reset for an unknown address: nothing sent")
		return map[string]int{"sent": 0}, nil
	}
	results, err := w.Mail.Send(ctx, msgs)
	if err != nil {
		return nil, err
	}
	sent := 0
	for _, r := range results {
		if r == nil {
			sent++
		} else {
			t.Log.WarnContext(ctx, "password reset mail not sent", slog.Any("err", r))
		}
	}
	if sent == 0 {
		return nil, fmt.Errorf("password reset: %w", results[0])
	}
	return map[string]int{"sent": sent}, nil
}
