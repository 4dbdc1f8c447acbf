package main

import (
	"net/http"

	"portalwerk/enqueuer/api"
	"portalwerk/enqueuer/ops"
	"portalwerk/enqueuer/portal"
)

// routes mounts every area on one mux: the operations endpoints, the staff API and the
// customer portal; every request is counted, timed and logged once.
func routes(opsSrv *ops.Server, apiSrv *api.Server, portalSrv *portal.Server) http.Handler {
	mux := http.NewServeMux()
	opsSrv.Mount(mux)
	apiSrv.Mount(mux)
	portalSrv.Mount(mux)
	return opsSrv.Instrument(mux)
}
