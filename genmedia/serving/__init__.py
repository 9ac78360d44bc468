"""The Ray Serve application: built from the config (app.py), the HTTP API and its ingress deployment (ingress.py),
request and response bodies (schemas.py) and model servers (models.py). What callers may submit (API keys, input
URIs, upload names) is decided in :mod:`genmedia.security`, which the job runner shares."""
