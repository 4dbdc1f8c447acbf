package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"portalwerk/jobs"
)

func TestInvitationsAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	post := func(key, body string) response {
		return b.do("POST", "/v1/invitations", "Bearer "+key, strings.NewReader(body), "application/json")
	}
	res := post(b.key, `{"customers":["00000000001200100123","K-1"]}`)
	var run struct{ ID, Status string }
	if res.code != http.StatusAccepted || json.Unmarshal([]byte(res.body), &run) != nil || run.Status != "queued" || run.ID == "" {
		t.Fatalf("POST: %d %s", res.code, res.body)
	}
	insp := asynq.NewInspector(b.redis)
	defer insp.Close()
	if info, err := insp.GetTaskInfo(jobs.QueueMail, "invitations:"+run.ID); err != nil || info.Type != jobs.TypeInvitationsSend {
		t.Errorf("task: %v %v", info, err)
	}
	res = b.do("GET", "/v1/invitations/"+run.ID, "Bearer "+b.key, nil, "")
	if res.code != 200 || !strings.Contains(res.body, `"status":"queued"`) || !strings.Contains(res.body, `"skipped_no_email":0`) {
		t.Errorf("GET: %d %s", res.code, res.body)
	}
	// The member of the tenant sees only its own account's batches; another tenant none.
	if res := b.do("GET", "/v1/invitations/"+run.ID, "Bearer "+b.member, nil, ""); res.code != http.StatusNotFound {
		t.Errorf("member GET of the admin's batch: %d", res.code)
	}
	if res := b.do("GET", "/v1/invitations/"+run.ID, "Bearer "+b.other, nil, ""); res.code != http.StatusNotFound {
		t.Errorf("another tenant's GET: %d", res.code)
	}
	if res := post(b.member, `{"all_uninvited":true}`); res.code != http.StatusForbidden {
		t.Errorf("member POST: %d", res.code)
	}
	for body, want := range map[string]int{
		``:                 400,
		`{}`:               400,
		`{"customers":[]}`: 400,
		`{"customers":["a"],"all_uninvited":true}`:              400,
		`{"all_uninvited":false}`:                               400,
		`{"all_uninvited":"ja"}`:                                400,
		`{"customers":["a\u0007"]}`:                             400,
		`{"bogus":1}`:                                           400,
		`{"import_id":"0b6f9a54-0000-4000-8000-000000000000"}`:  404,
		`{"all_uninvited":true,"account":"gibt-es-nicht"}`:      404,
		`{"customers":["` + strings.Repeat("x", 70<<10) + `"]}`: 413,
	} {
		if res := post(b.key, body); res.code != want || res.errorMessage() == "" {
			t.Errorf("POST %.60s: %d %s, want %d", body, res.code, res.body, want)
		}
	}
	// An import that is not done yet cannot be invited from.
	im := b.queuedImport()
	if res := post(b.key, `{"import_id":"`+im.ID+`"}`); res.code != http.StatusConflict {
		t.Errorf("import not done: %d %s", res.code, res.body)
	}
}
