"""Operating the service: health (/healthz, `sync_status`), Prometheus metrics (/metrics), structured logs."""
