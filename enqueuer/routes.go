package main

import (
	"net/http"

	"portalwerk/enqueuer/api"
	"portalwerk/enqueuer/ops"
)

// routes mounts every area on one mux: the operations endpoints and the staff API;
// every request is counted, timed and logged once.
func routes(opsSrv *ops.Server, apiSrv *api.Server) http.Handler {
	mux := http.NewServeMux()
	opsSrv.Mount(mux)
	apiSrv.Mount(mux)
	return opsSrv.Instrument(mux)
}
