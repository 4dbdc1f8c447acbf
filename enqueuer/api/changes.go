package api

import (
	"errors"
	"net/http"
	"slices"

	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// statusInGerman names an import's status inside a German sentence.
var statusInGerman = map[store.ImportStatus]string{
	store.ImportQueued:     "noch nicht gelesen",
	store.ImportPreviewing: "noch in der Vorschau",
	store.ImportApplying:   "gerade in Arbeit",
	store.ImportFailed:     "fehlgeschlagen",
	store.ImportCancelled:  "abgebrochen",
}

// importChanges shows row by row what an import will change while previewed (derived
// from its staged rows) and what it changed once done (kept by the apply), paged by row.
func (s *Server) importChanges(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	im, err := s.loadImport(r, caller)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.ChangeFilter{Action: q.Get("action"), Limit: 100}
	if f.Action != "" && !slices.Contains(store.ChangeActions, f.Action) {
		return BadRequest("action muss create, update, restore, transfer_copy, transfer_move oder delete sein.")
	}
	if f.Limit, f.After, err = keysetPage(q, "eine Zeilennummer"); err != nil {
		return err
	}
	var list []store.Change
	if im.Status == store.ImportPreviewed {
		list, err = importer.PreviewChanges(r.Context(), s.db, im, f)
		if errors.Is(err, importer.ErrNoPreview) { // applied or cancelled meanwhile, or purged
			if im, err = store.GetImport(r.Context(), s.db, caller.TenantID, im.ID); err != nil {
				return err
			}
			if im.Status == store.ImportPreviewed {
				return Conflict("Die Vorschau dieses Imports ist nicht mehr vorhanden. Bitte laden Sie die Datei erneut hoch.")
			}
		}
	}
	switch {
	case err != nil:
		return err
	case im.Status == store.ImportDone:
		if list, err = store.ImportChanges(r.Context(), s.db, im.ID, f); err != nil {
			return err
		}
	case im.Status != store.ImportPreviewed:
		return Conflict("Was ein Import ändert, zeigt sich nach der Vorschau und bleibt nach dem Übernehmen sichtbar; dieser Import ist " + statusInGerman[im.Status] + ".")
	}
	var next *int64
	if len(list) == f.Limit {
		next = &list[len(list)-1].Pos
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": list, "next_after": next})
	return nil
}
