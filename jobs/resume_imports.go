package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"portalwerk/store"
)

// TypeResumeImports gives every unfinished import its task again. The enqueuer commits an
// import before it enqueues the task, and Redis may lose its queues (a restart without
// persistence): either way an import would wait forever. Task ids make this harmless
// while the task still exists, pending, running, retrying or retained after it ran.
const TypeResumeImports = "imports:resume"

// ResumeImports is enqueued by the scheduler once per slot.
type ResumeImports struct {
	Slot string `json:"slot"`
}

func (ResumeImports) TaskType() string { return TypeResumeImports }
func (ResumeImports) Queue() string    { return QueuePeriodic }
func (p ResumeImports) TaskID() string { return TypeResumeImports + "@" + p.Slot }

func (h *Handlers) resumeImports(ctx context.Context, p ResumeImports) error {
	pending, err := store.UnfinishedImports(ctx, h.DB)
	if err != nil {
		return err
	}
	resumed := 0
	for _, im := range pending {
		var added bool
		if im.Status == store.ImportApplying {
			added, err = Enqueue(ctx, h.Queue, ImportApply{ImportID: im.ID, TenantID: im.TenantID})
		} else {
			added, err = Enqueue(ctx, h.Queue, ImportPreview{ImportID: im.ID, TenantID: im.TenantID})
		}
		if err != nil {
			return fmt.Errorf("resume import %s: %w", im.ID, err)
		}
		if added {
			resumed++
			h.Log.WarnContext(ctx, "import had no task; enqueued it again", slog.String("import_id", im.ID),
				slog.Int64("tenant", im.TenantID), slog.String("status", string(im.Status)))
		}
	}
	h.Log.InfoContext(ctx, "checked unfinished imports", slog.String("slot", p.Slot),
		slog.Int("unfinished", len(pending)), slog.Int("resumed", resumed))
	return nil
}
