"""The operator's dashboard: login, the pages' contents and their charts (routes in
`api.routes.dashboard`, templates and static files beside the `api` package)."""
